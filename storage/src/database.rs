//! `Database`: the engine's public door (a cheap `Clone` of one engine). It opens,
//! hands out read and write transactions, and answers questions about the
//! engine's state; the work happens in `engine.rs` and the files it composes.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aedb_btree::{Tree, TreeRoot};
use aedb_pager::Pager;
use aedb_pager::vfs::{RealFs, Vfs};

use crate::catalog::{ROOT_DIR_OWNER, TreeEntry, tree_entries};
use crate::engine::Engine;
use crate::error::{Result, StorageError};
use crate::notify::{CommitHeads, CommitSubscription};
use crate::options::{DurabilityMode, StorageOptions};
use crate::read::ReadTransaction;
use crate::snapshot::{CommitResult, Consistency, Finality, RecoveryReport};
use crate::stats::{EngineStats, Stats};
use crate::txn::WriteTransaction;

/// An open database: the engine's public door.
#[derive(Clone)]
pub struct Database {
    pub(crate) engine: Arc<Engine>,
}

impl Database {
    /// Opens (creating if needed) the database in `dir` on the real file system.
    pub fn open(dir: impl AsRef<Path>, options: StorageOptions) -> Result<Database> {
        Database::open_with(Arc::new(RealFs), dir.as_ref(), options)
    }

    /// Opens through any file system (the simulation, in tests).
    pub fn open_with(vfs: Arc<dyn Vfs>, dir: &Path, options: StorageOptions) -> Result<Database> {
        let opening = std::time::Instant::now();
        let engine = Arc::new(Engine::open(vfs, dir, options)?);
        if engine.report.replayed > 0 {
            engine.settle_recovery()?;
        } else if engine.pager.meta().generation <= 2 {
            engine.anchor()?;
        }
        if let DurabilityMode::Batch { interval_ms } | DurabilityMode::OsBuffered { interval_ms } =
            engine.options.durability
        {
            spawn_flusher(
                Arc::downgrade(&engine),
                Duration::from_millis(interval_ms.max(1)),
            );
        }
        let took = u64::try_from(opening.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Stats::add(&engine.stats.open_nanos, took);
        let r = &engine.report;
        tracing::info!(
            dir = %dir.display(),
            checkpoint_seq = r.checkpoint_seq,
            replayed = r.replayed,
            head_seq = r.head_seq,
            truncated = r.truncated.is_some(),
            micros = took / 1_000,
            "aedb opened"
        );
        Ok(Database { engine })
    }

    /// Starts a write transaction. It holds the writer lock until it commits or
    /// is dropped, so this waits while another is open; it fails once the engine
    /// is poisoned.
    pub fn begin_write(&self) -> Result<WriteTransaction<'_>> {
        WriteTransaction::new(&self.engine)
    }

    /// Commits `f`'s edits, coalesced with other threads' submissions: the
    /// way for many threads that commit small transactions at once. Instead
    /// of each taking the writer lock in turn, the queued closures are run
    /// by one of the submitting threads, which takes the lock once and
    /// commits them one after another, each in a write transaction of its
    /// own on the state the one before left (DESIGN §6; ARCHITECTURE engine
    /// invariant 15): one lock handoff and one sync per batch.
    ///
    /// Returns `f`'s value and its commit (its own seq), made with
    /// `finality`. When `f` returns an error, nothing it did is kept and that
    /// error is returned; a panic in `f` is resumed on the caller's thread.
    /// `f` runs once, on whichever thread leads, so it must be `Send +
    /// 'static` (move what it needs into it). It runs with the writer lock
    /// held: it must not start another write on this database
    /// (`begin_write` or `submit`), which would wait for itself.
    ///
    /// ```no_run
    /// # use aedb_storage::{Database, Finality, StorageOptions, StorageError};
    /// # fn main() -> Result<(), StorageError> {
    /// let db = Database::open("/tmp/submit-demo", StorageOptions::default())?;
    /// let (previous, commit) = db.submit(Finality::Durable, |txn| {
    ///     txn.open_tree("counters")?.insert(b"visits", b"1")
    /// })?;
    /// assert!(previous.is_none() && commit.seq > 0);
    /// # Ok(()) }
    /// ```
    pub fn submit<R, E>(
        &self,
        finality: Finality,
        f: impl FnOnce(&mut WriteTransaction<'_>) -> Result<R, E> + Send + 'static,
    ) -> Result<(R, CommitResult), E>
    where
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let slot: Arc<Mutex<Option<Result<R, E>>>> = Arc::default();
        let out = slot.clone();
        let done = self.engine.submit(
            finality,
            Box::new(move |txn| {
                let r = f(txn);
                let ok = r.is_ok();
                *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                ok
            }),
        );
        let ran = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (done, ran) {
            (Some(Ok(commit)), Some(Ok(value))) => Ok((value, commit)),
            (Some(Err(e)), _) => Err(e.into()),
            (None, Some(Err(e))) => Err(e),
            // The leader answers with a commit only after the closure stored
            // `Ok`, and `None` only after it stored `Err`.
            _ => Err(
                StorageError::Task("a coalesced commit lost its closure's result".into()).into(),
            ),
        }
    }

    /// A read transaction at the newest published commit (`Consistency::Latest`),
    /// which may not be durable yet; it does not wait for the writer.
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        Ok(ReadTransaction::new(
            self.engine.clone(),
            self.engine.readers.register_latest(),
        ))
    }

    /// A read transaction at a chosen consistency; `AtSeq` outside the retention
    /// window is a [`StorageError::SnapshotUnavailable`](crate::StorageError::SnapshotUnavailable).
    pub fn begin_read_at(&self, at: Consistency) -> Result<ReadTransaction> {
        let readers = &self.engine.readers;
        let snapshot = match at {
            Consistency::Latest => readers.register_latest(),
            Consistency::AtCheckpoint => readers.register_at_checkpoint(),
            Consistency::AtSeq(seq) => readers.register_at_seq(seq)?,
        };
        Ok(ReadTransaction::new(self.engine.clone(), snapshot))
    }

    /// Writes a checkpoint of the latest state now and returns once it is
    /// durable. Fuzzy: the writer lock is held only to choose the state, so
    /// commits and reads go on beside its syncs. A checkpoint already in flight
    /// finishes first; while a backup is copying the files
    /// ([`Database::pin_for_backup`]) it waits for the copy to finish.
    pub fn checkpoint_now(&self) -> Result<()> {
        loop {
            let gate = self.engine.checkpoint_gate();
            let st = self.engine.writer()?;
            if !self.engine.backups.pinned() {
                return self.engine.checkpoint_fuzzy(gate, st);
            }
            drop(st);
            drop(gate);
            self.engine.backups.wait_released();
        }
    }

    /// Waits until every commit so far is durable.
    pub fn sync(&self) -> Result<()> {
        let seq = self.engine.sync.lock().appended;
        self.engine.sync.wait_durable(seq, true)
    }

    /// What this open's recovery found and did (commits replayed, tails cut,
    /// frames dropped); it does not change while the database stays open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.engine.report
    }

    /// Highest seq visible to new readers.
    pub fn visible_seq(&self) -> u64 {
        self.engine.readers.latest_seq()
    }

    /// Highest seq known durable.
    pub fn durable_seq(&self) -> u64 {
        self.engine.sync.lock().durable
    }

    /// Seq of the current checkpoint (the newest meta).
    pub fn checkpoint_seq(&self) -> u64 {
        self.engine.pager.meta().checkpoint_seq
    }

    /// A subscription to commit notifications from now on: every later
    /// `Visible(seq)` and `Durable(seq)` in order, and checkpoints (see
    /// [`CommitSubscription`]). Costs the writer nothing, however slowly it is read.
    pub fn subscribe(&self) -> CommitSubscription {
        let heads = self.engine.notifier.heads();
        CommitSubscription::new(self.engine.notifier.clone(), heads)
    }

    /// The visible, durable and checkpoint heads as last published.
    pub fn commit_heads(&self) -> CommitHeads {
        self.engine.notifier.heads()
    }

    /// Whether an earlier failure poisoned the engine.
    pub fn is_poisoned(&self) -> bool {
        self.engine.sync.poisoned().is_some()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.engine.dir
    }

    /// The pager, for checks and tools.
    pub fn pager(&self) -> &Pager {
        &self.engine.pager
    }

    /// Every tree of the latest snapshot with its owner id and root (for checks).
    pub fn tree_roots(&self) -> Result<Vec<(String, u64, Option<TreeRoot>)>> {
        let snap = self.engine.readers.latest();
        let dir = Tree::new(&snap.view, snap.root_dir, ROOT_DIR_OWNER);
        let mut out = Vec::new();
        for (k, v) in tree_entries(&dir)? {
            let entry = TreeEntry::decode(&k, &v)?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                entry.id,
                entry.root,
            ));
        }
        Ok(out)
    }

    /// The engine's counters now: commits, WAL appends and syncs, durable
    /// waits, checkpoints (counts and summed times since open), what the next
    /// checkpoint would write, and the page file's size. Lock-free atomics
    /// plus the pager's page counts: cheap enough to poll every second.
    pub fn stats(&self) -> EngineStats {
        let mut s = self.engine.stats.snapshot();
        s.page_size = self.engine.pager.page_size();
        s.page_count = self.engine.pager.page_count();
        s.free_pages = self.engine.pager.free_page_count();
        s.pending_pages = self.engine.pager.pending_page_count();
        (s.oldest_reader_seq, s.readers) = self.engine.readers.oldest();
        s.queued_submissions = self.engine.queued_submissions();
        s.staged_pages = self.engine.pager.staged_page_count();
        s.pages_flushed = self.engine.pager.flushed_page_count();
        s
    }

    /// The root directory's root in the latest snapshot.
    pub fn root_directory(&self) -> Option<TreeRoot> {
        self.engine.readers.latest().root_dir
    }
}

fn spawn_flusher(engine: Weak<Engine>, every: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let seq = engine.sync.lock().appended;
            if engine.sync.wait_durable(seq, true).is_err() {
                return;
            }
        }
    });
}
