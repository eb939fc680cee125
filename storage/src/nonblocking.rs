//! The async (tokio) door: write transactions and syncs run on tokio's blocking
//! pool, so a runtime's worker threads never wait on the writer lock or an
//! `fdatasync`. Reads need no such door: a read transaction never blocks.
#![forbid(unsafe_code)]

use crate::database::Database;
use crate::error::{Result, StorageError};
use crate::snapshot::{CommitResult, Finality};
use crate::txn::WriteTransaction;

impl Database {
    /// Runs `f` in a write transaction and commits it with `finality`, off the
    /// runtime's worker threads. An error from `f` aborts the transaction.
    pub async fn write_async<R, F>(&self, finality: Finality, f: F) -> Result<(R, CommitResult)>
    where
        F: FnOnce(&mut WriteTransaction<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write()?;
            let out = f(&mut txn)?;
            let receipt = txn.commit(finality)?;
            Ok((out, receipt))
        })
        .await
        .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// Waits, off the worker threads, until every commit so far is durable.
    pub async fn sync_async(&self) -> Result<()> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.sync())
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }

    /// Checkpoints now, off the worker threads.
    pub async fn checkpoint_async(&self) -> Result<()> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.checkpoint_now())
            .await
            .map_err(|e| StorageError::Task(e.to_string()))?
    }
}
