//! Event streams: an outbox of events written in the same commit as the
//! mutation that emits them (tree `_events`, key = commit seq ‖ position),
//! read in pages by commit seq; and processor checkpoints (tree
//! `_processor_checkpoints`), the seq up to which a processor has handled
//! the stream. FORMAT "Events".
//!
//! Invariants:
//! 1. An event is visible exactly when the commit that emitted it is: it is a
//!    record of that commit, never a side channel.
//! 2. A page holds whole commits, so a reader that continues from a page's
//!    `next_commit_seq` never skips an event of a commit it half read.
//! 3. A checkpoint only moves forward.

pub(crate) mod checkpoint;
pub(crate) mod outbox;
pub(crate) mod registry;

pub use registry::ReactiveProcessorOptions;

use serde::{Deserialize, Serialize};

/// One emitted event (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventOutboxRecord {
    /// The commit that emitted it.
    pub commit_seq: u64,
    pub ts_micros: u64,
    pub project_id: String,
    pub scope_id: String,
    pub topic: String,
    pub event_key: String,
    /// A JSON document (checked when emitted).
    pub payload_json: String,
}

/// One page of `read_event_stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamPage {
    pub events: Vec<EventOutboxRecord>,
    /// The last commit this page covers: read on from it (exclusive). `None`
    /// when no commit after the requested seq holds events.
    pub next_commit_seq: Option<u64>,
    pub snapshot_seq: u64,
}

/// How far a processor's checkpoint trails the head (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorLag {
    pub processor_name: String,
    pub checkpoint_seq: u64,
    pub head_seq: u64,
    pub lag_commits: u64,
}

/// A processor runtime's counters (0.1.9's shape; in memory, since the run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReactiveProcessorRuntimeStatus {
    pub processor_name: String,
    pub running: bool,
    pub runs_total: u64,
    pub processed_events_total: u64,
    pub failures_total: u64,
    pub retries_total: u64,
    pub dead_lettered_total: u64,
    /// The last commit whose events the handler took.
    pub last_processed_seq: u64,
    pub last_error: Option<String>,
    pub last_run_started_micros: Option<u64>,
    pub last_run_completed_micros: Option<u64>,
    pub last_success_micros: Option<u64>,
    pub last_failure_micros: Option<u64>,
    pub last_retry_micros: Option<u64>,
    pub last_sleep_ms: u64,
    pub last_batch_events: u64,
}

/// A processor's durable state and its runtime's counters (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorHealth {
    pub processor_name: String,
    pub enabled: bool,
    pub running: bool,
    pub checkpoint_seq: u64,
    pub head_seq: u64,
    pub lag_commits: u64,
    pub runs_total: u64,
    pub processed_events_total: u64,
    pub failures_total: u64,
    pub retries_total: u64,
    pub dead_lettered_total: u64,
    pub last_processed_seq: u64,
    pub last_error: Option<String>,
    pub last_run_started_micros: Option<u64>,
    pub last_run_completed_micros: Option<u64>,
    pub last_success_micros: Option<u64>,
    pub last_failure_micros: Option<u64>,
    pub last_retry_micros: Option<u64>,
    pub last_sleep_ms: u64,
    pub last_batch_events: u64,
}

/// A registered processor (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorInfo {
    pub processor_name: String,
    pub options: ReactiveProcessorOptions,
    pub enabled: bool,
    pub running: bool,
    pub updated_at_micros: u64,
}

/// A processor's SLO checks (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorSloStatus {
    pub processor_name: String,
    pub breached: bool,
    pub enabled: bool,
    pub running: bool,
    pub lag_commits: u64,
    pub max_allowed_lag_commits: Option<u64>,
    /// How long events have waited since the last successful run.
    pub stall_ms: Option<u64>,
    pub max_allowed_stall_ms: Option<u64>,
    pub reasons: Vec<String>,
}
