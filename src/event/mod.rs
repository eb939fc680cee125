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
