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
    /// When the emitting commit ran, in microseconds since the Unix epoch.
    pub ts_micros: u64,
    /// The project of the scope that emitted it.
    pub project_id: String,
    /// The scope that emitted it.
    pub scope_id: String,
    /// The event's topic (1 to 1,024 bytes); readers and processors filter on it.
    pub topic: String,
    /// The emitter's key for the event (at most 1,024 bytes; may be empty).
    pub event_key: String,
    /// A JSON document (checked when emitted).
    pub payload_json: String,
}

/// One page of `read_event_stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamPage {
    /// The events, oldest first, in whole commits.
    pub events: Vec<EventOutboxRecord>,
    /// The last commit this page covers: read on from it (exclusive). `None`
    /// when no commit after the requested seq holds events.
    pub next_commit_seq: Option<u64>,
    /// The snapshot the page was read at.
    pub snapshot_seq: u64,
}

/// How far a processor's checkpoint trails the head (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorLag {
    /// The processor's registered name.
    pub processor_name: String,
    /// The durable checkpoint: every commit up to this seq is handled (0 before the first).
    pub checkpoint_seq: u64,
    /// The snapshot's seq.
    pub head_seq: u64,
    /// Commits between the checkpoint and the head (`head_seq - checkpoint_seq`).
    pub lag_commits: u64,
}

/// A processor runtime's counters (0.1.9's shape; in memory, since the run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReactiveProcessorRuntimeStatus {
    /// The processor's registered name.
    pub processor_name: String,
    /// True while its runtime loop runs in this process.
    pub running: bool,
    /// Handler calls, counting each retry.
    pub runs_total: u64,
    /// Events in the batches the handler completed.
    pub processed_events_total: u64,
    /// Failed handler runs and failed reads, checkpoints or dead-letter writes.
    pub failures_total: u64,
    /// Retries of a failed batch.
    pub retries_total: u64,
    /// Events written to the dead-letter table after their retries ran out.
    pub dead_lettered_total: u64,
    /// The last commit whose events the handler took.
    pub last_processed_seq: u64,
    /// The most recent failure's message; `None` if none yet.
    pub last_error: Option<String>,
    /// When the last handler run started (Unix epoch microseconds).
    pub last_run_started_micros: Option<u64>,
    /// When the last handler run ended, successful or not (Unix epoch microseconds).
    pub last_run_completed_micros: Option<u64>,
    /// When the handler last succeeded (Unix epoch microseconds).
    pub last_success_micros: Option<u64>,
    /// When the last failure happened (Unix epoch microseconds).
    pub last_failure_micros: Option<u64>,
    /// When the last retry was scheduled (Unix epoch microseconds).
    pub last_retry_micros: Option<u64>,
    /// The timeout of the last wait for a new commit, in milliseconds.
    pub last_sleep_ms: u64,
    /// Events in the last batch handed to the handler.
    pub last_batch_events: u64,
}

/// A processor's durable state and its runtime's counters (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorHealth {
    /// The processor's registered name.
    pub processor_name: String,
    /// Whether the registry has it enabled (a restart resumes it).
    pub enabled: bool,
    /// True while its runtime loop runs in this process.
    pub running: bool,
    /// The durable checkpoint (0 before the first).
    pub checkpoint_seq: u64,
    /// The snapshot's seq.
    pub head_seq: u64,
    /// Commits between the checkpoint and the head.
    pub lag_commits: u64,
    /// Handler calls, counting each retry.
    pub runs_total: u64,
    /// Events in the batches the handler completed.
    pub processed_events_total: u64,
    /// Failed handler runs and failed reads, checkpoints or dead-letter writes.
    pub failures_total: u64,
    /// Retries of a failed batch.
    pub retries_total: u64,
    /// Events written to the dead-letter table.
    pub dead_lettered_total: u64,
    /// The last commit whose events the runtime handled (may be ahead of `checkpoint_seq`).
    pub last_processed_seq: u64,
    /// The most recent failure's message; `None` if none yet.
    pub last_error: Option<String>,
    /// When the last handler run started (Unix epoch microseconds).
    pub last_run_started_micros: Option<u64>,
    /// When the last handler run ended (Unix epoch microseconds).
    pub last_run_completed_micros: Option<u64>,
    /// When the handler last succeeded (Unix epoch microseconds).
    pub last_success_micros: Option<u64>,
    /// When the last failure happened (Unix epoch microseconds).
    pub last_failure_micros: Option<u64>,
    /// When the last retry was scheduled (Unix epoch microseconds).
    pub last_retry_micros: Option<u64>,
    /// The timeout of the last wait for a new commit, in milliseconds.
    pub last_sleep_ms: u64,
    /// Events in the last batch handed to the handler.
    pub last_batch_events: u64,
}

/// A registered processor (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorInfo {
    /// The processor's registered name.
    pub processor_name: String,
    /// The options it was started with (stored in the registry).
    pub options: ReactiveProcessorOptions,
    /// Whether it is enabled (a restart resumes it).
    pub enabled: bool,
    /// True while its runtime loop runs in this process.
    pub running: bool,
    /// When it was last started, enabled or disabled (Unix epoch microseconds).
    pub updated_at_micros: u64,
}

/// A processor's SLO checks (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactiveProcessorSloStatus {
    /// The processor's registered name.
    pub processor_name: String,
    /// True when it is enabled and `reasons` is not empty.
    pub breached: bool,
    /// Whether it is enabled in the registry.
    pub enabled: bool,
    /// True while its runtime loop runs in this process.
    pub running: bool,
    /// Commits between the durable checkpoint and the head.
    pub lag_commits: u64,
    /// The lag limit from its options; `None`: not checked.
    pub max_allowed_lag_commits: Option<u64>,
    /// How long events have waited since the last successful run.
    pub stall_ms: Option<u64>,
    /// The stall limit from its options, in milliseconds; `None`: not checked.
    pub max_allowed_stall_ms: Option<u64>,
    /// One line per breached check; empty when all pass.
    pub reasons: Vec<String>,
}
