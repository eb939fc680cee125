//! The processor registry: each started processor's options and whether it is
//! enabled, in tree `_processor_registry` (name → MessagePack record), so a
//! restarted process resumes the enabled ones when it registers their
//! handlers again.

use serde::{Deserialize, Serialize};

use crate::error::AedbError;
use crate::storage::{ReadTransaction, StorageError, WriteTransaction};

pub(crate) const REGISTRY_TREE: &str = "_processor_registry";

/// How a reactive processor runs (0.1.9's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactiveProcessorOptions {
    /// The processor's identity for its reads, checkpoints and dead letters
    /// (required by production and secure instances).
    pub caller_id: Option<String>,
    /// Only events of this topic.
    pub topic_filter: Option<String>,
    /// Call the handler every `run_interval_ms` even without new events.
    pub run_on_interval: bool,
    /// SLO: the most commits the checkpoint may trail the head.
    pub max_allowed_lag_commits: Option<u64>,
    /// SLO: the longest time without a successful run while events wait.
    pub max_allowed_stall_ms: Option<u64>,
    /// Most events handed to one run (whole commits are kept: a commit with more
    /// is handed over whole).
    pub max_events_per_run: usize,
    /// Whole commits are kept together; a commit alone larger than this is
    /// handed over whole.
    pub max_bytes_per_run: usize,
    /// A run longer than this counts as a failure (and is retried).
    pub max_run_duration_ms: u64,
    /// How often, in milliseconds, `run_on_interval` calls the handler.
    pub run_interval_ms: u64,
    /// The longest wait for a commit before looking again.
    pub idle_backoff_ms: u64,
    /// The checkpoint is persisted every this many commits of progress.
    pub checkpoint_watermark_commits: u64,
    /// Retries of a failed batch before it is dead-lettered.
    pub max_retries: u32,
    /// The first retry's wait; each next one doubles it.
    pub retry_backoff_ms: u64,
}

impl Default for ReactiveProcessorOptions {
    fn default() -> Self {
        ReactiveProcessorOptions {
            caller_id: None,
            topic_filter: None,
            run_on_interval: false,
            max_allowed_lag_commits: None,
            max_allowed_stall_ms: None,
            max_events_per_run: 256,
            max_bytes_per_run: 2 << 20,
            max_run_duration_ms: 1_000,
            run_interval_ms: 100,
            idle_backoff_ms: 100,
            checkpoint_watermark_commits: 64,
            max_retries: 3,
            retry_backoff_ms: 100,
        }
    }
}

/// A registry entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProcessorRecord {
    pub options: ReactiveProcessorOptions,
    pub enabled: bool,
    pub updated_at_micros: u64,
}

fn decode(name: &[u8], b: &[u8]) -> Result<ProcessorRecord, AedbError> {
    rmp_serde::from_slice(b).map_err(|e| AedbError::IntegrityError {
        message: format!(
            "{REGISTRY_TREE}: the record of {:?}: {e}",
            String::from_utf8_lossy(name)
        ),
    })
}

pub(crate) fn put(
    txn: &mut WriteTransaction<'_>,
    name: &str,
    record: &ProcessorRecord,
) -> Result<(), AedbError> {
    let bytes = rmp_serde::to_vec_named(record)
        .map_err(|e| AedbError::Encode(format!("processor record: {e}")))?;
    txn.open_tree(REGISTRY_TREE)?
        .insert(name.as_bytes(), &bytes)?;
    Ok(())
}

/// Every registered processor on a snapshot, by name.
pub(crate) fn list(txn: &ReadTransaction) -> Result<Vec<(String, ProcessorRecord)>, AedbError> {
    let h = match txn.tree_handle(REGISTRY_TREE) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for item in txn.tree(h)?.iter()? {
        let (k, v) = item?;
        out.push((String::from_utf8_lossy(&k).into_owned(), decode(&k, &v)?));
    }
    Ok(out)
}

pub(crate) fn get(txn: &ReadTransaction, name: &str) -> Result<Option<ProcessorRecord>, AedbError> {
    let h = match txn.tree_handle(REGISTRY_TREE) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match txn.tree(h)?.get(name.as_bytes())? {
        Some(b) => Ok(Some(decode(name.as_bytes(), &b)?)),
        None => Ok(None),
    }
}

/// The caller id processor `name` was started with, in a write transaction.
pub(crate) fn caller_of(
    txn: &mut WriteTransaction<'_>,
    name: &str,
) -> Result<Option<String>, AedbError> {
    let Some(mut tree) = txn.existing_tree(REGISTRY_TREE)? else {
        return Ok(None);
    };
    match tree.get(name.as_bytes())? {
        Some(b) => Ok(decode(name.as_bytes(), &b)?.options.caller_id),
        None => Ok(None),
    }
}
