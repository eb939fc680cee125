//! The storage engine's error type; lower layers convert in with `From`.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use aedb_btree::BtreeError;
use aedb_pager::PagerError;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Pager(#[from] PagerError),

    #[error(transparent)]
    Btree(BtreeError),

    /// The WAL breaks a FORMAT.md rule where recovery may not guess.
    #[error("WAL corruption in {segment} at offset {offset} (seq {seq}): rule {rule}: {detail}")]
    WalCorruption {
        segment: PathBuf,
        offset: u64,
        seq: u64,
        rule: &'static str,
        detail: String,
    },

    /// A database that has been checkpointed has no WAL reaching its checkpoint
    /// (FORMAT rule W11): `wal/` or its segments are gone, so commits after the
    /// checkpoint may be lost. Strict open refuses; permissive open reports it.
    #[error("WAL missing in {wal_dir} (checkpoint seq {checkpoint_seq}): {detail}")]
    WalMissing {
        wal_dir: PathBuf,
        checkpoint_seq: u64,
        detail: String,
    },

    /// An earlier failure may have lost acknowledged bytes; reopen the database.
    #[error("storage engine is poisoned by an earlier failure ({0}); reopen the database")]
    Poisoned(String),

    /// The disk filled up during a write the engine cannot take back, so it stopped
    /// like [`StorageError::Poisoned`]: free space, then reopen the database.
    #[error("storage engine stopped: out of space ({0}); free space, then reopen the database")]
    OutOfSpace(String),

    #[error("tree {0:?} does not exist")]
    TreeNotFound(String),

    #[error("invalid tree name {0:?}: names are 1..=255 bytes and do not start with a NUL byte")]
    InvalidTreeName(String),

    /// A step of this write transaction failed after its edit was made (a
    /// spill's page write); the caller was told then, and it can only be
    /// aborted.
    #[error("write transaction cannot commit: {0}; abort it")]
    TransactionFailed(String),

    /// A write transaction crossed a configured bound on its memory
    /// (`max_txn_effect_bytes`, `max_txn_dirty_bytes`); it can only be aborted.
    #[error(
        "write transaction too large: {what} would reach {bytes} bytes (limit {limit}); split the work into smaller transactions"
    )]
    TransactionTooLarge {
        what: &'static str,
        bytes: u64,
        limit: u64,
    },

    /// `AtSeq` asked for a seq outside the retention window.
    #[error("snapshot at seq {seq} is not retained (retained: {oldest}..={newest})")]
    SnapshotUnavailable { seq: u64, oldest: u64, newest: u64 },

    /// A blocking task of the async API panicked or was cancelled.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl From<BtreeError> for StorageError {
    fn from(e: BtreeError) -> Self {
        match e {
            BtreeError::Pager(p) => StorageError::Pager(p),
            other => StorageError::Btree(other),
        }
    }
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Pager(PagerError::io(op, path, source))
    }

    /// Whether the engine refused this call because an earlier failure stopped it
    /// (`Poisoned` or `OutOfSpace`); only a reopen clears that.
    pub fn is_poisoned(&self) -> bool {
        matches!(
            self,
            StorageError::Poisoned(_)
                | StorageError::OutOfSpace(_)
                | StorageError::Pager(PagerError::Poisoned { .. })
        )
    }

    /// Whether this error reports damaged bytes.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::WalCorruption { .. } | StorageError::WalMissing { .. }
        ) || matches!(self, StorageError::Pager(p) if p.as_corruption().is_some())
    }
}
