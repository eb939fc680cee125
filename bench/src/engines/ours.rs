//! This workspace's engine (`aedb::storage`).

use std::ops::Bound;
use std::path::{Path, PathBuf};

use aedb::storage::{CommitSubscription, Database, Finality, StorageOptions};

use super::Engine;
use crate::workload::{Key, Res};

const TREE: &str = "kv";

pub struct Ours {
    dir: PathBuf,
    db: Option<Database>,
    /// `aedb+sub`: a commit subscriber that is never read, held for the whole
    /// run, to show that notifications cost the writer nothing.
    idle_subscriber: Option<Option<CommitSubscription>>,
}

impl Ours {
    pub fn create(dir: &Path) -> Res<Ours> {
        let mut e = Ours {
            dir: dir.to_path_buf(),
            db: None,
            idle_subscriber: None,
        };
        e.open()?;
        Ok(e)
    }

    /// Like `create`, with an idle commit subscriber (engine `aedb+sub`).
    pub fn with_idle_subscriber(dir: &Path) -> Res<Ours> {
        let mut e = Ours {
            dir: dir.to_path_buf(),
            db: None,
            idle_subscriber: Some(None),
        };
        e.open()?;
        Ok(e)
    }

    fn db(&self) -> Res<&Database> {
        self.db
            .as_ref()
            .ok_or_else(|| "aedb: database is closed".into())
    }
}

impl Engine for Ours {
    fn insert_txn(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        let mut txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_tree(TREE)?;
            for k in keys {
                t.insert(k, value)?;
            }
        }
        txn.commit(Finality::Durable)?;
        Ok(())
    }

    fn insert_concurrent(&self, key: &Key, value: &[u8]) -> Res<()> {
        // Many threads committing small transactions: `submit` coalesces
        // them into shared commits (one lock handoff, frame and sync each).
        let (key, value) = (key.to_vec(), value.to_vec());
        self.db()?.submit(Finality::Durable, move |txn| {
            txn.open_tree(TREE)?.insert(&key, &value)
        })?;
        Ok(())
    }

    fn get_all(&self, keys: &[Key]) -> Res<usize> {
        let r = self.db()?.begin_read()?;
        let t = r.open_tree(TREE)?;
        let mut found = 0;
        for k in keys {
            if t.get(k)?.is_some() {
                found += 1;
            }
        }
        Ok(found)
    }

    fn range_all(&self, starts: &[Key], len: usize) -> Res<usize> {
        let r = self.db()?.begin_read()?;
        let t = r.open_tree(TREE)?;
        let mut seen = 0;
        for s in starts {
            for entry in t
                .range(&(Bound::Included(&s[..]), Bound::Unbounded))?
                .take(len)
            {
                let (k, v) = entry?;
                seen += usize::from(!k.is_empty() && !v.is_empty());
            }
        }
        Ok(seen)
    }

    fn remove_txn(&self, keys: &[Key]) -> Res<()> {
        let mut txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_tree(TREE)?;
            for k in keys {
                t.remove(k)?;
            }
        }
        txn.commit(Finality::Durable)?;
        Ok(())
    }

    fn checkpoint(&self) -> Res<bool> {
        self.db()?.checkpoint_now()?;
        Ok(true)
    }

    fn compact(&mut self) -> Res<Option<&'static str>> {
        self.db()?.compact()?;
        Ok(Some(
            "aedb: after compact() (trees rebuilt at full fill, relocation rounds, checkpoints that cut the tail)",
        ))
    }

    fn close(&mut self) -> Res<()> {
        // Dropping the last handle checkpoints, so the reopen replays nothing.
        self.db = None;
        Ok(())
    }

    fn open(&mut self) -> Res<()> {
        let db = Database::open(&self.dir, StorageOptions::default())?;
        if let Some(sub) = &mut self.idle_subscriber {
            *sub = Some(db.subscribe());
        }
        self.db = Some(db);
        Ok(())
    }
}
