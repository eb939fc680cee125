//! Engine configuration.
#![forbid(unsafe_code)]

use aedb_btree::TreeConfig;
use aedb_pager::Key;

/// When a commit reaches stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DurabilityMode {
    /// Every `Durable` commit is acknowledged after the sync of its group.
    #[default]
    Full,
    /// The WAL is synced every `interval_ms` by a background flusher; `Durable`
    /// waiters wake at that sync (one sync per interval, however many commits).
    Batch {
        /// Milliseconds between the flusher's syncs (0 runs as 1).
        interval_ms: u64,
    },
    /// No sync on commit; a background flusher syncs every `interval_ms`, and
    /// `Durable` waiters wake when a sync or checkpoint covers them.
    OsBuffered {
        /// Milliseconds between the flusher's syncs (0 runs as 1).
        interval_ms: u64,
    },
}

/// How recovery treats a damaged WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Refuse to open on a bad frame followed by valid ones or a broken chain.
    #[default]
    Strict,
    /// Open at the last good frame and report what was dropped.
    Permissive,
}

/// Options of [`crate::Database::open`].
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Page size for a new database (power of two, 4 KiB–64 KiB).
    pub page_size: Option<u32>,
    /// HMAC key: meta pages and WAL frames are authenticated with it. Never
    /// printed by `Debug`, zeroized when the last clone drops.
    pub key: Option<Key>,
    /// When a `Durable` commit returns; default `Full` (after its group's
    /// sync).
    pub durability: DurabilityMode,
    /// What open does with a damaged or missing WAL; default `Strict`
    /// (refuse to open with `WalCorruption` or `WalMissing`).
    pub recovery: RecoveryMode,
    /// A WAL segment is rotated once it passes this size.
    pub wal_segment_bytes: u64,
    /// Checkpoint when this many WAL bytes were written since the last one.
    pub checkpoint_wal_bytes: u64,
    /// Checkpoint when commits produced this many page bytes since the last
    /// one: the memory their staged pages hold until the checkpoint writes
    /// them (pager invariant 10) stays under it.
    pub checkpoint_dirty_bytes: u64,
    /// Checkpoint when this much time passed since the last one (checked at commit).
    pub checkpoint_interval_ms: Option<u64>,
    /// `AtSeq` reads can reach the last this-many commits...
    pub snapshot_retention_count: usize,
    /// ...published within this many milliseconds. Retained snapshots keep their
    /// pages from reuse, so the window bounds the space they hold.
    pub snapshot_retention_ms: u64,
    /// Checkpoint when the database is dropped, so the next open replays nothing.
    pub checkpoint_on_close: bool,
    /// A write transaction whose effects (the WAL payload) would pass this many
    /// bytes stops logging them and commits as a **large commit**: its pages
    /// are made durable by two metas at its seq and its WAL frame only names
    /// its root (engine invariant 14; LMDB's commit). At most the WAL frame
    /// limit (256 MiB), which also applies when it is larger. `None`: never;
    /// a transaction then keeps its effects (`WriteTransaction::effects`) and is
    /// refused at `max_txn_effect_bytes` instead.
    pub large_commit_bytes: Option<usize>,
    /// Most bytes of effects one write transaction may collect while it logs
    /// them; the write that would cross it fails with
    /// [`StorageError::TransactionTooLarge`](crate::StorageError::TransactionTooLarge).
    /// A transaction that turned large first logs nothing and is not limited
    /// by it. At most the WAL frame limit (256 MiB).
    pub max_txn_effect_bytes: usize,
    /// A write transaction whose copied tree pages pass this many bytes writes
    /// them (all but each tree's root) to their fresh pages in the page file
    /// and lets them go from memory (spill); an edit that reaches one again
    /// reads it back. Bounds a transaction's memory at any size; a spilled
    /// page an edit reaches again costs a read and a second write, so a
    /// random load past the bound runs slower (2.5× at 10M keys and 256 MiB:
    /// docs/BENCHMARKS.md). Default 512 MiB, LMDB's dirty limit at 4 KiB pages.
    pub spill_dirty_bytes: u64,
    /// Most bytes of copied tree pages one write transaction may hold in memory
    /// after spilling; the write that crosses it fails the same way.
    pub max_txn_dirty_bytes: u64,
    /// Verify every page read from the map, not only its first read in this
    /// process (a crc32c per read; see "Limits" in docs/ARCHITECTURE.md).
    pub verify_every_read: bool,
    /// Key and value size limits for every named tree, applied on write and
    /// replay (the root directory keeps the defaults).
    pub tree: TreeConfig,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            page_size: None,
            key: None,
            durability: DurabilityMode::Full,
            recovery: RecoveryMode::Strict,
            wal_segment_bytes: 64 << 20,
            checkpoint_wal_bytes: 64 << 20,
            checkpoint_dirty_bytes: 64 << 20,
            checkpoint_interval_ms: Some(60_000),
            checkpoint_on_close: true,
            large_commit_bytes: Some(16 << 20),
            max_txn_effect_bytes: crate::wal::frame::MAX_PAYLOAD,
            spill_dirty_bytes: 512 << 20,
            max_txn_dirty_bytes: 1 << 30,
            verify_every_read: false,
            snapshot_retention_count: 8,
            snapshot_retention_ms: 60_000,
            tree: TreeConfig::default(),
        }
    }
}
