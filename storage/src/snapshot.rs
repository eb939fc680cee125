//! The vocabulary of the engine's door: which state a read sees (`Consistency`),
//! how far a commit goes (`Finality`), its receipt (`CommitResult`), what open
//! found (`RecoveryReport`) and an immutable state (`Snapshot`). Plain data, at
//! the bottom of the engine's module order.
#![forbid(unsafe_code)]

use crate::catalog::TreeEntry;

use std::path::PathBuf;

use aedb_btree::TreeRoot;
use aedb_pager::ReadView;

use crate::wal::frame::ChainHash;

/// Which state a read transaction sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// The newest published commit (may not be durable yet).
    Latest,
    /// The commit with this seq, if it is inside the retention window
    /// (`snapshot_retention_count` / `snapshot_retention_ms`).
    AtSeq(u64),
    /// The state of the last durable checkpoint.
    AtCheckpoint,
}

/// How far a commit must get before `commit` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// Published to new readers; survives a crash only once a later sync covers it.
    Visible,
    /// On stable storage (under `DurabilityMode::Full`: after its group's sync).
    Durable,
}

/// The receipt of a commit: its seq and the WAL chain hash after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitResult {
    /// The seq this commit was given: one above the commit before it.
    pub seq: u64,
    /// The WAL chain hash after this commit's frame (FORMAT.md, "Hash
    /// chain"); a reader of this seq sees the same hash.
    pub chain_hash: ChainHash,
}

/// What open found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Seq of the checkpoint open started from.
    pub checkpoint_seq: u64,
    /// Commits replayed from the WAL.
    pub replayed: u64,
    /// Highest recovered seq.
    pub head_seq: u64,
    /// A torn WAL tail that was cut off: (segment, offset, bytes).
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// The cut tail began with a complete WAL frame that failed its checks and
    /// that no later frame vouches for (FORMAT W10): it may have been an
    /// acknowledged Durable commit damaged at rest; nothing proves it was synced.
    pub unvouched_tail_truncated: bool,
    /// Permissive recovery: what was dropped.
    pub dropped: Vec<String>,
    /// Permissive recovery: the WAL did not reach the checkpoint (FORMAT W11), so
    /// commits after it may be lost; strict open refuses with `WalMissing`.
    pub wal_missing: Option<String>,
    /// A meta slot that failed validation and was ignored.
    pub ignored_meta: Option<String>,
}

/// An immutable state: root directory and seq, plus the mapping to read it.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) view: ReadView,
    pub(crate) root_dir: Option<TreeRoot>,
    pub seq: u64,
    pub chain_hash: ChainHash,
    /// Directory entries already looked up in this snapshot (it never
    /// changes, so neither do they): readers of one snapshot search the root
    /// directory once per tree, not once per read.
    pub(crate) entries: TreeEntries,
}

/// Tree name → directory entry, filled as readers resolve trees (bounded).
#[derive(Debug, Default)]
pub(crate) struct TreeEntries(std::sync::Mutex<std::collections::HashMap<Box<str>, TreeEntry>>);

/// Entries cached per snapshot, at most.
const MAX_CACHED_ENTRIES: usize = 1024;

impl TreeEntries {
    pub(crate) fn get(&self, name: &str) -> Option<TreeEntry> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }

    pub(crate) fn remember(&self, name: &str, entry: TreeEntry) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() < MAX_CACHED_ENTRIES {
            map.insert(name.into(), entry);
        }
    }
}
