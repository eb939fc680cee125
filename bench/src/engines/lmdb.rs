//! LMDB through heed 0.22.1; `RwTxn::commit` is durable by default (no
//! NO_SYNC/NO_META_SYNC flags are set).

use std::ops::Bound;
use std::path::{Path, PathBuf};

use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions};

use super::Engine;
use crate::workload::{Key, Res};

const MAP_SIZE: usize = 64 << 30;

pub struct Lmdb {
    dir: PathBuf,
    env: Option<(Env, Database<Bytes, Bytes>)>,
    created: bool,
}

impl Lmdb {
    pub fn create(dir: &Path) -> Res<Lmdb> {
        let mut e = Lmdb {
            dir: dir.to_path_buf(),
            env: None,
            created: false,
        };
        e.open()?;
        Ok(e)
    }

    fn env(&self) -> Res<&(Env, Database<Bytes, Bytes>)> {
        self.env
            .as_ref()
            .ok_or_else(|| "lmdb: environment is closed".into())
    }
}

impl Engine for Lmdb {
    fn insert_txn(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        let (env, db) = self.env()?;
        let mut wtxn = env.write_txn()?;
        for k in keys {
            db.put(&mut wtxn, &k[..], value)?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn insert_concurrent(&self, key: &Key, value: &[u8]) -> Res<()> {
        // LMDB has one writer at a time: write_txn blocks on the writer mutex.
        self.insert_txn(std::slice::from_ref(key), value)
    }

    fn get_all(&self, keys: &[Key]) -> Res<usize> {
        let (env, db) = self.env()?;
        let rtxn = env.read_txn()?;
        let mut found = 0;
        for k in keys {
            if db.get(&rtxn, &k[..])?.is_some() {
                found += 1;
            }
        }
        Ok(found)
    }

    fn range_all(&self, starts: &[Key], len: usize) -> Res<usize> {
        let (env, db) = self.env()?;
        let rtxn = env.read_txn()?;
        let mut seen = 0;
        for s in starts {
            let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(&s[..]), Bound::Unbounded);
            for entry in db.range(&rtxn, &bounds)?.take(len) {
                let (k, v) = entry?;
                seen += usize::from(!k.is_empty() && !v.is_empty());
            }
        }
        Ok(seen)
    }

    fn remove_txn(&self, keys: &[Key]) -> Res<()> {
        let (env, db) = self.env()?;
        let mut wtxn = env.write_txn()?;
        for k in keys {
            db.delete(&mut wtxn, &k[..])?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn compact(&mut self) -> Res<Option<&'static str>> {
        // LMDB reuses freed pages but never shrinks data.mdb in place; its only
        // compaction is a copy to another file (mdb_env_copy2), not comparable.
        Ok(Some(
            "lmdb: no in-place compaction; size after removals only",
        ))
    }

    fn close(&mut self) -> Res<()> {
        if let Some((env, _)) = self.env.take() {
            // Wait until the environment is really closed so the reopen is a
            // fresh mdb_env_open, not heed's cached handle.
            env.prepare_for_closing().wait();
        }
        Ok(())
    }

    fn open(&mut self) -> Res<()> {
        let mut opts = EnvOpenOptions::new();
        opts.map_size(MAP_SIZE).max_dbs(4);
        // SAFETY: heed requires that the environment's files are not opened
        // twice in one process nor modified by others; this directory is a
        // fresh tempdir private to this child process, opened once at a time.
        let env = unsafe { opts.open(&self.dir)? };
        // Creating the named database needs a (synced) write transaction; the
        // reopen of row (12) only looks it up, so it does not time a commit.
        let db: Database<Bytes, Bytes> = if self.created {
            let rtxn = env.read_txn()?;
            let db = env
                .open_database(&rtxn, Some("kv"))?
                .ok_or("lmdb: database \"kv\" missing after reopen")?;
            rtxn.commit()?;
            db
        } else {
            let mut wtxn = env.write_txn()?;
            let db = env.create_database(&mut wtxn, Some("kv"))?;
            wtxn.commit()?;
            self.created = true;
            db
        };
        self.env = Some((env, db));
        Ok(())
    }
}
