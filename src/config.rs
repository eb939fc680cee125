//! `AedbConfig`: the facade's settings and named profiles, mapped onto the
//! storage engine's [`StorageOptions`](crate::storage::StorageOptions).
#![forbid(unsafe_code)]

use crate::error::AedbError;
use crate::storage::{self, StorageOptions};

/// When a commit reaches stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityMode {
    /// `Durable` commits return after their group's WAL fdatasync.
    Full,
    /// The WAL is synced every `batch_interval_ms`; `Durable` commits wait for it.
    Batch,
    /// The WAL is left to the OS and synced by a background flusher every
    /// `batch_interval_ms`; a crash may lose the last interval's commits.
    OsBuffered,
}

/// What opening does with a damaged WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Refuse to open, naming the segment, offset and seq.
    Strict,
    /// Open at the last good commit; set the rest aside as `*.dropped` and report it.
    Permissive,
}

#[derive(Debug, Clone)]
pub struct AedbConfig {
    pub durability_mode: DurabilityMode,
    /// Sync interval of `Batch` and `OsBuffered`.
    pub batch_interval_ms: u64,
    pub recovery_mode: RecoveryMode,
    /// Authenticates meta pages and WAL frames with HMAC-SHA256; a database made
    /// with a key opens only with it.
    pub hmac_key: Option<[u8; 32]>,
    /// Kept for aedb 0.1.9 compatibility: the WAL here is always hash-chained.
    pub hash_chain_required: bool,
    /// A WAL segment is rotated past this size.
    pub max_segment_bytes: u64,
    /// Bound on rows a query reads (see `QueryOptions::allow_full_scan`), and the
    /// page size of a query without a limit.
    pub max_scan_rows: usize,
    /// Most rows in one batch mutation.
    pub max_batch_rows: usize,
    pub max_kv_key_bytes: usize,
    pub max_kv_value_bytes: usize,
    /// Largest encoded table row.
    pub max_table_value_bytes: usize,
    /// `AtSeq` reads reach the last this-many commits...
    pub snapshot_retention_commits: usize,
    /// ...made within this many milliseconds.
    pub max_snapshot_age_ms: u64,
    /// Page size of a new database (4 KiB–64 KiB, power of two); `None`: 4 KiB.
    pub page_size: Option<u32>,
    /// Checkpoint at least this often (checked at commit).
    pub checkpoint_interval_ms: u64,
    /// Most commits running at once (each holds a blocking-pool thread while it
    /// waits for the writer or its sync); more callers wait asynchronously.
    pub max_inflight_commits: usize,
    /// Most bytes of effects (WAL payload) one commit may write; a commit that
    /// crosses it fails with a validation error the moment it does. At most 256 MiB.
    pub max_transaction_bytes: usize,
    /// Most bytes of copied tree pages one commit may hold in memory.
    pub max_transaction_dirty_bytes: u64,
}

impl Default for AedbConfig {
    fn default() -> Self {
        AedbConfig {
            durability_mode: DurabilityMode::Full,
            batch_interval_ms: 10,
            recovery_mode: RecoveryMode::Strict,
            hmac_key: None,
            hash_chain_required: true,
            max_segment_bytes: 64 << 20,
            max_scan_rows: 10_000,
            max_batch_rows: 10_000,
            max_kv_key_bytes: 1024,
            max_kv_value_bytes: 1 << 20,
            max_table_value_bytes: 1 << 20,
            snapshot_retention_commits: 64,
            max_snapshot_age_ms: 30_000,
            page_size: None,
            checkpoint_interval_ms: 60_000,
            max_inflight_commits: 256,
            max_transaction_bytes: 256 << 20,
            max_transaction_dirty_bytes: 1 << 30,
        }
    }
}

impl AedbConfig {
    /// Full durability, strict recovery, HMAC-authenticated metas and WAL.
    pub fn production(hmac_key: [u8; 32]) -> Self {
        AedbConfig { hmac_key: Some(hmac_key), recovery_mode: RecoveryMode::Strict, durability_mode: DurabilityMode::Full, ..Self::default() }
    }

    /// Fast and forgiving: OS-buffered WAL, permissive recovery, no key.
    pub fn development() -> Self {
        AedbConfig { recovery_mode: RecoveryMode::Permissive, durability_mode: DurabilityMode::OsBuffered, hash_chain_required: false, ..Self::default() }
    }

    /// For user-facing acknowledgements: `Visible` commits return at once and a
    /// 2 ms batch sync makes them durable; strict recovery with HMAC.
    pub fn low_latency(hmac_key: [u8; 32]) -> Self {
        AedbConfig { hmac_key: Some(hmac_key), recovery_mode: RecoveryMode::Strict, durability_mode: DurabilityMode::Batch, batch_interval_ms: 2, ..Self::default() }
    }

    pub(crate) fn validate(&self) -> Result<(), AedbError> {
        let bad = |message: String| Err(AedbError::InvalidConfig { message });
        if self.max_scan_rows == 0 {
            return bad("max_scan_rows must be at least 1".into());
        }
        if self.max_inflight_commits == 0 || self.max_inflight_commits > tokio::sync::Semaphore::MAX_PERMITS {
            return bad("max_inflight_commits must be at least 1".into());
        }
        if self.max_transaction_bytes == 0 || self.max_transaction_dirty_bytes == 0 {
            return bad("max_transaction_bytes and max_transaction_dirty_bytes must be at least 1".into());
        }
        if self.max_batch_rows == 0 {
            return bad("max_batch_rows must be at least 1".into());
        }
        if self.max_kv_key_bytes == 0 || self.max_kv_key_bytes > crate::btree::TreeConfig::default().key_limit {
            return bad(format!("max_kv_key_bytes must be 1..={}", crate::btree::TreeConfig::default().key_limit));
        }
        if self.batch_interval_ms == 0 && self.durability_mode != DurabilityMode::Full {
            return bad("batch_interval_ms must be at least 1 for Batch and OsBuffered".into());
        }
        if let Some(p) = self.page_size
            && (!p.is_power_of_two() || !(4096..=65536).contains(&p))
        {
            return bad(format!("page_size {p} is not a power of two in 4096..=65536"));
        }
        Ok(())
    }

    pub(crate) fn storage_options(&self) -> StorageOptions {
        let durability = match self.durability_mode {
            DurabilityMode::Full => storage::DurabilityMode::Full,
            DurabilityMode::Batch => storage::DurabilityMode::Batch { interval_ms: self.batch_interval_ms },
            DurabilityMode::OsBuffered => storage::DurabilityMode::OsBuffered { interval_ms: self.batch_interval_ms },
        };
        let recovery = match self.recovery_mode {
            RecoveryMode::Strict => storage::RecoveryMode::Strict,
            RecoveryMode::Permissive => storage::RecoveryMode::Permissive,
        };
        StorageOptions {
            page_size: self.page_size,
            key: self.hmac_key.map(|k| k.to_vec()),
            durability,
            recovery,
            wal_segment_bytes: self.max_segment_bytes,
            checkpoint_interval_ms: Some(self.checkpoint_interval_ms),
            snapshot_retention_count: self.snapshot_retention_commits,
            snapshot_retention_ms: self.max_snapshot_age_ms,
            max_txn_effect_bytes: self.max_transaction_bytes,
            max_txn_dirty_bytes: self.max_transaction_dirty_bytes,
            ..StorageOptions::default()
        }
    }
}
