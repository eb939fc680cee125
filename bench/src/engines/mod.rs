//! One adapter per engine behind a common trait; `workload::drive` runs the
//! rows against it. Every commit an adapter makes is durable (synced before
//! it returns), the engine's own default for "committed".

use std::path::Path;

use crate::workload::{Key, Res, Workload, drive};

pub mod aedb019;
pub mod lmdb;
pub mod ours;
pub mod redb;
pub mod sqlite;

/// `aedb+sub` is `aedb` holding a commit subscriber it never reads (not in the
/// default set; ask for it with `--engines aedb,aedb+sub`).
pub const ENGINES: [&str; 5] = ["aedb", "redb", "lmdb", "sqlite", "aedb019"];
pub const EXTRA_ENGINES: [&str; 1] = ["aedb+sub"];

/// The operations the KV suite needs. Everything the rows time takes `&self`
/// so the threaded rows can share one open database.
pub trait Engine: Sync {
    /// Row (1): all keys in as few transactions as the engine allows
    /// (one, unless the engine caps a transaction's size).
    fn bulk_load(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        self.insert_txn(keys, value)
    }
    /// One durable transaction inserting `keys`.
    fn insert_txn(&self, keys: &[Key], value: &[u8]) -> Res<()>;
    /// Set-up before row (4), outside its timing (e.g. per-thread connections).
    fn prepare_threads(&self, _threads: usize) -> Res<()> {
        Ok(())
    }
    /// Row (4): one durable commit of one key; called from many threads at once.
    fn insert_concurrent(&self, key: &Key, value: &[u8]) -> Res<()>;
    /// Rows (5)/(6): point reads from one read transaction; returns keys found.
    fn get_all(&self, keys: &[Key]) -> Res<usize>;
    /// Row (7): for each start, the first `len` entries at or after it; returns
    /// the entries seen.
    fn range_all(&self, starts: &[Key], len: usize) -> Res<usize>;
    /// Row (8): one durable transaction removing `keys`.
    fn remove_txn(&self, keys: &[Key]) -> Res<()>;
    /// Row (14): one checkpoint now, callable beside commits from another
    /// thread; false when the engine has no such call (the default).
    fn checkpoint(&self) -> Res<bool> {
        Ok(false)
    }
    /// Before row (10): checkpoint/compaction where the engine has one; returns
    /// a footnote when it has none or does something else.
    fn compact(&mut self) -> Res<Option<&'static str>>;
    /// Clean shutdown.
    fn close(&mut self) -> Res<()>;
    /// Row (12): reopen after `close`.
    fn open(&mut self) -> Res<()>;
}

/// Runs the suite for `engine` in database directory `dir` (the child process).
pub fn run(engine: &str, n: usize, dir: &Path) -> Res<()> {
    let w = Workload::new(n);
    let mut e: Box<dyn Engine> = match engine {
        "aedb" => Box::new(ours::Ours::create(dir)?),
        "aedb+sub" => Box::new(ours::Ours::with_idle_subscriber(dir)?),
        "redb" => Box::new(redb::Redb::create(dir)?),
        "lmdb" => Box::new(lmdb::Lmdb::create(dir)?),
        "sqlite" => Box::new(sqlite::Sqlite::create(dir)?),
        "aedb019" => Box::new(aedb019::Aedb019::create(dir)?),
        other => {
            return Err(format!("unknown engine {other:?} (known: {})", ENGINES.join(",")).into());
        }
    };
    drive(e.as_mut(), &w, dir)
}
