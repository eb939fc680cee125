//! redb 3.1.3: one file, copy-on-write B-tree; `commit()` is durable by default.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition};

use super::Engine;
use crate::workload::{Key, Res};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

pub struct Redb {
    file: PathBuf,
    db: Option<Database>,
}

impl Redb {
    pub fn create(dir: &Path) -> Res<Redb> {
        let mut e = Redb {
            file: dir.join("bench.redb"),
            db: None,
        };
        e.open()?;
        Ok(e)
    }

    fn db(&self) -> Res<&Database> {
        self.db
            .as_ref()
            .ok_or_else(|| "redb: database is closed".into())
    }
}

impl Engine for Redb {
    fn insert_txn(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(TABLE)?;
            for k in keys {
                t.insert(&k[..], value)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn insert_concurrent(&self, key: &Key, value: &[u8]) -> Res<()> {
        // redb has one writer at a time: begin_write blocks until it is free.
        self.insert_txn(std::slice::from_ref(key), value)
    }

    fn get_all(&self, keys: &[Key]) -> Res<usize> {
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(TABLE)?;
        let mut found = 0;
        for k in keys {
            if t.get(&k[..])?.is_some() {
                found += 1;
            }
        }
        Ok(found)
    }

    fn range_all(&self, starts: &[Key], len: usize) -> Res<usize> {
        let txn = self.db()?.begin_read()?;
        let t = txn.open_table(TABLE)?;
        let mut seen = 0;
        for s in starts {
            for entry in t.range(&s[..]..)?.take(len) {
                let (k, v) = entry?;
                seen += usize::from(!k.value().is_empty() && !v.value().is_empty());
            }
        }
        Ok(seen)
    }

    fn remove_txn(&self, keys: &[Key]) -> Res<()> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(TABLE)?;
            for k in keys {
                t.remove(&k[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn compact(&mut self) -> Res<Option<&'static str>> {
        let db = self.db.as_mut().ok_or("redb: database is closed")?;
        db.compact()?;
        Ok(None)
    }

    fn close(&mut self) -> Res<()> {
        self.db = None;
        Ok(())
    }

    fn open(&mut self) -> Res<()> {
        self.db = Some(Database::create(&self.file)?);
        Ok(())
    }
}
