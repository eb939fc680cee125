//! SQLite (bundled) in WAL mode with `synchronous=FULL`, so every commit is
//! synced before it returns.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use super::Engine;
use crate::workload::{Key, Res};

pub struct Sqlite {
    file: PathBuf,
    /// Idle connections: a `Connection` is `Send` but not `Sync`, so each
    /// thread borrows one of its own for the duration of a call.
    pool: Mutex<Vec<Connection>>,
}

fn connect(file: &Path) -> Res<Connection> {
    let conn = Connection::open(file)?;
    // journal_mode returns a row, so it is read rather than executed.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("sqlite: journal_mode is {mode}, not wal").into());
    }
    conn.execute_batch("PRAGMA synchronous=FULL;")?;
    // Row (4): 64 writers queue on SQLite's single write lock.
    conn.busy_timeout(Duration::from_secs(600))?;
    Ok(conn)
}

impl Sqlite {
    pub fn create(dir: &Path) -> Res<Sqlite> {
        let e = Sqlite {
            file: dir.join("bench.sqlite"),
            pool: Mutex::new(Vec::new()),
        };
        let conn = connect(&e.file)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;",
        )?;
        e.pool()?.push(conn);
        Ok(e)
    }

    fn pool(&self) -> Res<MutexGuard<'_, Vec<Connection>>> {
        self.pool
            .lock()
            .map_err(|_| "sqlite: connection pool poisoned".into())
    }

    /// Runs `f` on an idle connection (opening one if none is idle).
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Res<T>) -> Res<T> {
        let taken = self.pool()?.pop();
        let mut conn = match taken {
            Some(c) => c,
            None => connect(&self.file)?,
        };
        let out = f(&mut conn);
        self.pool()?.push(conn);
        out
    }

    fn write(&self, keys: &[Key], value: Option<&[u8]>) -> Res<()> {
        self.with_conn(|conn| {
            // IMMEDIATE takes the write lock up front, so concurrent writers
            // wait in busy_timeout instead of failing a lock upgrade.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                match value {
                    Some(v) => {
                        let mut stmt =
                            tx.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?;
                        for k in keys {
                            stmt.execute(params![&k[..], v])?;
                        }
                    }
                    None => {
                        let mut stmt = tx.prepare_cached("DELETE FROM kv WHERE k = ?1")?;
                        for k in keys {
                            stmt.execute(params![&k[..]])?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

impl Engine for Sqlite {
    fn insert_txn(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        self.write(keys, Some(value))
    }

    fn prepare_threads(&self, threads: usize) -> Res<()> {
        // Open the per-thread connections before row (4) is timed.
        let mut fresh = Vec::new();
        let idle = self.pool()?.len();
        for _ in idle..threads {
            fresh.push(connect(&self.file)?);
        }
        self.pool()?.extend(fresh);
        Ok(())
    }

    fn insert_concurrent(&self, key: &Key, value: &[u8]) -> Res<()> {
        self.write(std::slice::from_ref(key), Some(value))
    }

    fn get_all(&self, keys: &[Key]) -> Res<usize> {
        self.with_conn(|conn| {
            // One read transaction for all reads, like the other engines.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut found = 0;
            {
                let mut stmt = tx.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
                for k in keys {
                    let mut rows = stmt.query(params![&k[..]])?;
                    if let Some(row) = rows.next()? {
                        found += usize::from(!row.get_ref(0)?.as_blob()?.is_empty());
                    }
                }
            }
            tx.commit()?;
            Ok(found)
        })
    }

    fn range_all(&self, starts: &[Key], len: usize) -> Res<usize> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let mut seen = 0;
            {
                let mut stmt =
                    tx.prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
                for s in starts {
                    let mut rows = stmt.query(params![&s[..], len as i64])?;
                    while let Some(row) = rows.next()? {
                        let k = row.get_ref(0)?.as_blob()?;
                        let v = row.get_ref(1)?.as_blob()?;
                        seen += usize::from(!k.is_empty() && !v.is_empty());
                    }
                }
            }
            tx.commit()?;
            Ok(seen)
        })
    }

    fn remove_txn(&self, keys: &[Key]) -> Res<()> {
        self.write(keys, None)
    }

    fn compact(&mut self) -> Res<Option<&'static str>> {
        self.with_conn(|conn| {
            // Returns (busy, wal pages, checkpointed pages).
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                return Err("sqlite: wal_checkpoint(TRUNCATE) was blocked".into());
            }
            Ok(())
        })?;
        Ok(Some(
            "sqlite: wal_checkpoint(TRUNCATE), no VACUUM (freed pages stay in the file)",
        ))
    }

    fn close(&mut self) -> Res<()> {
        let conns: Vec<Connection> = self.pool()?.drain(..).collect();
        for c in conns {
            c.close().map_err(|(_, e)| e)?;
        }
        Ok(())
    }

    fn open(&mut self) -> Res<()> {
        let conn = connect(&self.file)?;
        // Opening is lazy in SQLite: read the schema so the open has done its work.
        let _: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        self.pool()?.push(conn);
        Ok(())
    }
}
