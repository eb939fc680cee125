//! `AedbConfig`: the facade's settings and named profiles, mapped onto the
//! storage engine's [`StorageOptions`].
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::AedbError;
use crate::pager::Key;
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

/// The settings of an instance, given when it opens. `Default` is durable
/// and strict, without keys; `production`, `development` and `low_latency`
/// are named profiles.
#[derive(Clone)]
pub struct AedbConfig {
    /// When a commit reaches stable storage; default `Full` (a `Durable`
    /// commit returns after its group's WAL fdatasync).
    pub durability_mode: DurabilityMode,
    /// Sync interval of `Batch` and `OsBuffered`.
    pub batch_interval_ms: u64,
    /// What opening does with a damaged WAL; default `Strict` (refuse to open).
    pub recovery_mode: RecoveryMode,
    /// Authenticates meta pages and WAL frames with HMAC-SHA256; a database made
    /// with a key opens only with it (at least 16 bytes). Zeroized when the last
    /// clone drops, never printed by `Debug` (0.1.9's field and type).
    pub manifest_hmac_key: Option<Arc<Zeroizing<Vec<u8>>>>,
    /// Encrypts backup archives (`backup_full_to_file`; XChaCha20-Poly1305).
    /// The page file and the WAL are not encrypted (unlike 0.1.9's
    /// `checkpoint_encryption_key`, which this is not: see
    /// docs/SECURITY_OPERATIONS_RUNBOOK.md). Zeroized when the last clone drops,
    /// never printed by `Debug`.
    pub backup_encryption_key: Option<Arc<Zeroizing<[u8; 32]>>>,
    /// Kept for aedb 0.1.9 compatibility: the WAL here is always hash-chained.
    pub hash_chain_required: bool,
    /// A WAL segment is rotated past this size.
    pub max_segment_bytes: u64,
    /// Bound on rows a query reads (see `QueryOptions::allow_full_scan`), and the
    /// page size of a query without a limit.
    pub max_scan_rows: usize,
    /// Most rows in one batch mutation.
    pub max_batch_rows: usize,
    /// Longest KV key, in bytes: 1 to 1024, default 1024. An empty or longer
    /// key fails its commit with `Validation`.
    pub max_kv_key_bytes: usize,
    /// Longest KV value, in bytes, default 1 MiB. A write of a longer value
    /// (a numeric update's result included) fails with `Validation`.
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
    /// Most bytes of copied tree pages one commit may hold in memory. Past the
    /// engine's spill bound (512 MiB) a commit first writes its copied pages to
    /// the page file and lets them go, so this refuses only what spilling could
    /// not bound.
    pub max_transaction_dirty_bytes: u64,
    /// Verify every page read, not only its first read in this process: catches
    /// damage that appears while the database is open, for a crc32c per page read.
    pub verify_every_read: bool,
    /// Retention of the `_system` audit tables (`authz_audit`,
    /// `assertion_audit`): at most this many rows each (the oldest go first)...
    pub audit_max_rows: usize,
    /// ...and none older than this many seconds (0: no age bound).
    pub audit_max_age_secs: u64,
    /// An idempotency key is remembered (a repeat returns `Duplicate`) for
    /// this many seconds after its commit...
    pub idempotency_window_seconds: u64,
    /// ...and while fewer than this many commits followed it; past either
    /// window it is forgotten and the key may be used again (0: that window
    /// does not apply; at least one must).
    pub idempotency_window_commits: u64,
    /// The commit change feed (`subscribe_commits`): 0 (the default) leaves it
    /// off; n keeps the changes of at least the last n commits in the page
    /// file, written with each commit (one record per changed key, with its
    /// old and new value).
    pub change_feed_retain_commits: u64,
    /// Events older than this many commits are pruned from the outbox
    /// (`None`, the default: kept); reading from before them is
    /// `EventsExpired`.
    pub event_retention_commits: Option<u64>,
    /// ...and events older than this many seconds (`None`: kept).
    pub event_retention_secs: Option<u64>,
}

/// Every field but the key, which shows as `<redacted>` (review F23: configs end
/// up in logs).
impl std::fmt::Debug for AedbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AedbConfig")
            .field("durability_mode", &self.durability_mode)
            .field("batch_interval_ms", &self.batch_interval_ms)
            .field("recovery_mode", &self.recovery_mode)
            .field(
                "manifest_hmac_key",
                &self
                    .manifest_hmac_key
                    .as_ref()
                    .map(|k| format!("<redacted, {} bytes>", k.len())),
            )
            .field(
                "backup_encryption_key",
                &self
                    .backup_encryption_key
                    .as_ref()
                    .map(|_| "<redacted, 32 bytes>"),
            )
            .field("hash_chain_required", &self.hash_chain_required)
            .field("max_segment_bytes", &self.max_segment_bytes)
            .field("max_scan_rows", &self.max_scan_rows)
            .field("max_batch_rows", &self.max_batch_rows)
            .field("max_kv_key_bytes", &self.max_kv_key_bytes)
            .field("max_kv_value_bytes", &self.max_kv_value_bytes)
            .field("max_table_value_bytes", &self.max_table_value_bytes)
            .field(
                "snapshot_retention_commits",
                &self.snapshot_retention_commits,
            )
            .field("max_snapshot_age_ms", &self.max_snapshot_age_ms)
            .field("page_size", &self.page_size)
            .field("checkpoint_interval_ms", &self.checkpoint_interval_ms)
            .field("max_inflight_commits", &self.max_inflight_commits)
            .field("max_transaction_bytes", &self.max_transaction_bytes)
            .field(
                "max_transaction_dirty_bytes",
                &self.max_transaction_dirty_bytes,
            )
            .field("verify_every_read", &self.verify_every_read)
            .field("audit_max_rows", &self.audit_max_rows)
            .field("audit_max_age_secs", &self.audit_max_age_secs)
            .field(
                "idempotency_window_seconds",
                &self.idempotency_window_seconds,
            )
            .field(
                "idempotency_window_commits",
                &self.idempotency_window_commits,
            )
            .field(
                "change_feed_retain_commits",
                &self.change_feed_retain_commits,
            )
            .field("event_retention_commits", &self.event_retention_commits)
            .field("event_retention_secs", &self.event_retention_secs)
            .finish()
    }
}

impl Default for AedbConfig {
    fn default() -> Self {
        AedbConfig {
            durability_mode: DurabilityMode::Full,
            batch_interval_ms: 10,
            recovery_mode: RecoveryMode::Strict,
            manifest_hmac_key: None,
            backup_encryption_key: None,
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
            verify_every_read: false,
            audit_max_rows: 1_000_000,
            audit_max_age_secs: 90 * 24 * 3600,
            idempotency_window_seconds: 300,
            idempotency_window_commits: 100_000,
            change_feed_retain_commits: 0,
            event_retention_commits: None,
            event_retention_secs: None,
        }
    }
}

impl AedbConfig {
    /// Full durability, strict recovery, HMAC-authenticated metas and WAL.
    pub fn production(hmac_key: [u8; 32]) -> Self {
        AedbConfig {
            recovery_mode: RecoveryMode::Strict,
            durability_mode: DurabilityMode::Full,
            ..Self::default()
        }
        .with_hmac_key(hmac_key.to_vec())
    }

    /// Fast and forgiving: OS-buffered WAL, permissive recovery, no key.
    pub fn development() -> Self {
        AedbConfig {
            recovery_mode: RecoveryMode::Permissive,
            durability_mode: DurabilityMode::OsBuffered,
            hash_chain_required: false,
            ..Self::default()
        }
    }

    /// For user-facing acknowledgements: `Visible` commits return at once and a
    /// 2 ms batch sync makes them durable; strict recovery with HMAC.
    pub fn low_latency(hmac_key: [u8; 32]) -> Self {
        AedbConfig {
            recovery_mode: RecoveryMode::Strict,
            durability_mode: DurabilityMode::Batch,
            batch_interval_ms: 2,
            ..Self::default()
        }
        .with_hmac_key(hmac_key.to_vec())
    }

    /// The HMAC key, if any.
    pub fn hmac_key(&self) -> Option<&[u8]> {
        self.manifest_hmac_key.as_deref().map(|k| k.as_slice())
    }

    /// The backup archives' encryption key, if any.
    pub fn backup_key(&self) -> Option<&[u8; 32]> {
        self.backup_encryption_key.as_deref().map(|k| &**k)
    }

    /// This config with `key` encrypting its backup archives.
    pub fn with_backup_encryption_key(mut self, key: [u8; 32]) -> Self {
        self.backup_encryption_key = Some(Arc::new(Zeroizing::new(key)));
        self
    }

    /// This config with `key` as its HMAC key (taken, and zeroized when dropped).
    pub fn with_hmac_key(mut self, key: Vec<u8>) -> Self {
        self.manifest_hmac_key = Some(Arc::new(Zeroizing::new(key)));
        self
    }

    /// Whether recovery refuses a damaged WAL instead of setting it aside.
    pub fn strict_recovery(&self) -> bool {
        self.recovery_mode == RecoveryMode::Strict
    }

    fn key(&self) -> Result<Option<Key>, AedbError> {
        self.hmac_key()
            .map(|k| {
                Key::new(k.to_vec()).map_err(|e| AedbError::InvalidConfig {
                    message: format!("manifest_hmac_key: {e}"),
                })
            })
            .transpose()
    }

    /// Why this config is not hardened enough for `open_secure`, if it is not:
    /// `DurabilityMode::Full`, strict recovery, the hash-chained WAL, and an
    /// HMAC key of at least 32 bytes.
    pub(crate) fn secure_violation(&self) -> Option<String> {
        if self.durability_mode != DurabilityMode::Full {
            return Some(format!(
                "durability_mode is {:?}; open_secure needs DurabilityMode::Full",
                self.durability_mode
            ));
        }
        if !self.strict_recovery() {
            return Some(format!(
                "recovery_mode is {:?}; open_secure needs RecoveryMode::Strict",
                self.recovery_mode
            ));
        }
        if !self.hash_chain_required {
            return Some("hash_chain_required is false; open_secure needs true".into());
        }
        match self.hmac_key() {
            None => Some("manifest_hmac_key is not set; open_secure needs a 32-byte HMAC key (AedbConfig::production(key))".into()),
            Some(k) if k.len() < 32 => Some(format!(
                "manifest_hmac_key is {} bytes; open_secure needs at least 32",
                k.len()
            )),
            Some(_) => None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), AedbError> {
        let bad = |message: String| Err(AedbError::InvalidConfig { message });
        self.key()?;
        if self.max_scan_rows == 0 {
            return bad("max_scan_rows must be at least 1".into());
        }
        if self.max_inflight_commits == 0
            || self.max_inflight_commits > tokio::sync::Semaphore::MAX_PERMITS
        {
            return bad("max_inflight_commits must be at least 1".into());
        }
        if self.max_transaction_bytes == 0 || self.max_transaction_dirty_bytes == 0 {
            return bad(
                "max_transaction_bytes and max_transaction_dirty_bytes must be at least 1".into(),
            );
        }
        if self.max_batch_rows == 0 {
            return bad("max_batch_rows must be at least 1".into());
        }
        if self.audit_max_rows == 0 {
            return bad("audit_max_rows must be at least 1".into());
        }
        if self.idempotency_window_seconds == 0 && self.idempotency_window_commits == 0 {
            return bad(
                "idempotency_window_seconds and idempotency_window_commits are both 0: idempotency records would never expire"
                    .into(),
            );
        }
        if self.max_kv_key_bytes == 0
            || self.max_kv_key_bytes > crate::btree::TreeConfig::default().key_limit
        {
            return bad(format!(
                "max_kv_key_bytes must be 1..={}",
                crate::btree::TreeConfig::default().key_limit
            ));
        }
        if self.batch_interval_ms == 0 && self.durability_mode != DurabilityMode::Full {
            return bad("batch_interval_ms must be at least 1 for Batch and OsBuffered".into());
        }
        if let Some(p) = self.page_size
            && (!p.is_power_of_two() || !(4096..=65536).contains(&p))
        {
            return bad(format!(
                "page_size {p} is not a power of two in 4096..=65536"
            ));
        }
        Ok(())
    }

    pub(crate) fn storage_options(&self) -> Result<StorageOptions, AedbError> {
        let durability = match self.durability_mode {
            DurabilityMode::Full => storage::DurabilityMode::Full,
            DurabilityMode::Batch => storage::DurabilityMode::Batch {
                interval_ms: self.batch_interval_ms,
            },
            DurabilityMode::OsBuffered => storage::DurabilityMode::OsBuffered {
                interval_ms: self.batch_interval_ms,
            },
        };
        let recovery = match self.recovery_mode {
            RecoveryMode::Strict => storage::RecoveryMode::Strict,
            RecoveryMode::Permissive => storage::RecoveryMode::Permissive,
        };
        Ok(StorageOptions {
            page_size: self.page_size,
            key: self.key()?,
            durability,
            recovery,
            wal_segment_bytes: self.max_segment_bytes,
            checkpoint_interval_ms: Some(self.checkpoint_interval_ms),
            snapshot_retention_count: self.snapshot_retention_commits,
            snapshot_retention_ms: self.max_snapshot_age_ms,
            // The change feed reads each commit's effects, so facade
            // transactions keep them and are refused at their bound (0.1.9's
            // `max_transaction_bytes`) instead of turning large.
            large_commit_bytes: None,
            max_txn_effect_bytes: self.max_transaction_bytes,
            max_txn_dirty_bytes: self.max_transaction_dirty_bytes,
            verify_every_read: self.verify_every_read,
            ..StorageOptions::default()
        })
    }
}

/// The environment variable operator tools (`aedb`, `aedb-explorer`) read a
/// keyed database's HMAC key from, as hex, when they are given no key file.
pub const HMAC_KEY_ENV: &str = "AEDB_KEY_HEX";

/// The HMAC key of a keyed database, for an operator's tool: the hex in
/// `file` (surrounding whitespace ignored) when one is given, else
/// `AEDB_KEY_HEX` when set and not blank; `None` when neither. Never from the
/// command line: `ps` and shell history show a process's arguments to other
/// users.
pub fn hmac_key_from_file_or_env(file: Option<&Path>) -> Result<Option<Vec<u8>>, AedbError> {
    let invalid = |message: String| AedbError::InvalidConfig { message };
    if let Some(path) = file {
        let at = |e: String| invalid(format!("key file {}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
        return parse_hex_key(text.trim()).map(Some).map_err(at);
    }
    match std::env::var(HMAC_KEY_ENV) {
        Ok(hex) if !hex.trim().is_empty() => parse_hex_key(hex.trim())
            .map(Some)
            .map_err(|e| invalid(format!("{HMAC_KEY_ENV}: {e}"))),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(invalid(format!("{HMAC_KEY_ENV}: not hex (not even UTF-8)")))
        }
    }
}

/// `s` as bytes, two hex digits each; an error names the first character
/// that is not a hex digit (never a panic inside a multi-byte character).
fn parse_hex_key(s: &str) -> Result<Vec<u8>, String> {
    if let Some((at, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("the key is not hex: {c:?} at byte {at}"));
    }
    if s.len() % 2 != 0 {
        return Err("the key needs an even number of hex digits".into());
    }
    let digit = |b: u8| char::from(b).to_digit(16).unwrap_or(0) as u8;
    Ok(s.as_bytes()
        .chunks_exact(2)
        .map(|p| (digit(p[0]) << 4) | digit(p[1]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse_hex_key;

    /// F8: a multi-byte character in the key is an error, not a panic from slicing
    /// the string inside the character.
    #[test]
    fn f8_a_hex_key_with_non_ascii_is_an_error() {
        for bad in ["aé1", "é1", "0é", "00ä0", "zz", "abc"] {
            let got = parse_hex_key(bad);
            assert!(got.is_err(), "{bad:?} parsed as {got:?}");
        }
        let err = parse_hex_key("aé1").err().unwrap_or_default();
        assert!(err.contains("not hex"), "{err}");
        assert_eq!(parse_hex_key("00fFa1"), Ok(vec![0, 0xff, 0xa1]));
        assert_eq!(parse_hex_key(""), Ok(vec![]));
    }
}
