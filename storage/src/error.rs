//! The storage engine's error type; lower layers convert in with `From`.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use aedb_btree::BtreeError;
use aedb_pager::PagerError;

/// The engine's result type: the error is `StorageError` unless a call names another.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Why a storage engine call failed. `is_poisoned` says only a reopen helps;
/// `is_corruption` says bytes on disk are damaged.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A page-file failure passed up from the pager: I/O, a damaged page or meta,
    /// a key problem, a held LOCK file, or a poisoned pager.
    #[error(transparent)]
    Pager(#[from] PagerError),

    /// A tree refused the call: a key or value over the `TreeConfig` limits, unsorted
    /// bulk-load input, or an invalid tree configuration. Pager failures inside a
    /// tree arrive as `Pager` instead.
    #[error(transparent)]
    Btree(BtreeError),

    /// The WAL breaks a FORMAT.md rule where recovery may not guess.
    #[error("WAL corruption in {segment} at offset {offset} (seq {seq}): rule {rule}: {detail}")]
    WalCorruption {
        /// The segment file the fault is in; the `wal/` directory when it lies in no
        /// one file (a payload breaking E1–E3, a head seq with no successor).
        segment: PathBuf,
        /// Byte offset in `segment` of the bad frame or header field; 0 when the fault
        /// has no place in a file.
        offset: u64,
        /// The seq the frame should carry (`s` in FORMAT.md), or the seq the fault
        /// concerns; 0 when the check does not know one (a bad segment header in a backup).
        seq: u64,
        /// The FORMAT.md rule broken, by its id (`S2`, `W4`, `E1`, ...).
        rule: &'static str,
        /// What was expected and what was found.
        detail: String,
    },

    /// A database that has been checkpointed has no WAL reaching its checkpoint
    /// (FORMAT rule W11): `wal/` or its segments are gone, so commits after the
    /// checkpoint may be lost. Strict open refuses; permissive open reports it.
    #[error("WAL missing in {wal_dir} (checkpoint seq {checkpoint_seq}): {detail}")]
    WalMissing {
        /// The database's `wal/` directory.
        wal_dir: PathBuf,
        /// The newest meta's checkpoint seq, which the WAL has to reach.
        checkpoint_seq: u64,
        /// What is missing: any segment at all, or the seq at which the chain ends
        /// short of the checkpoint.
        detail: String,
    },

    /// An earlier failure may have lost acknowledged bytes; reopen the database.
    #[error("storage engine is poisoned by an earlier failure ({0}); reopen the database")]
    Poisoned(String),

    /// The disk filled up during a write the engine cannot take back, so it stopped
    /// like [`StorageError::Poisoned`]: free space, then reopen the database.
    #[error("storage engine stopped: out of space ({0}); free space, then reopen the database")]
    OutOfSpace(String),

    /// No tree has this name (the name given) in the snapshot or transaction;
    /// a write transaction's `open_tree` creates it.
    #[error("tree {0:?} does not exist")]
    TreeNotFound(String),

    /// A tree name breaks the naming rule (the name given): names are 1..=255
    /// bytes and NUL-led keys are reserved for the root directory's own entries.
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
        /// The bound crossed: `"effects"` (`max_txn_effect_bytes`, capped by the WAL
        /// frame limit) or `"copied pages"` (`max_txn_dirty_bytes`).
        what: &'static str,
        /// Bytes the transaction holds, or would hold, with the refused edit.
        bytes: u64,
        /// The bound in force, in bytes.
        limit: u64,
    },

    /// `AtSeq` asked for a seq outside the retention window.
    #[error("snapshot at seq {seq} is not retained (retained: {oldest}..={newest})")]
    SnapshotUnavailable {
        /// The seq asked for.
        seq: u64,
        /// The oldest seq still retained (the latest, when none older is).
        oldest: u64,
        /// The latest published seq.
        newest: u64,
    },

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
