//! `aedb::engine_interface`: the primitives an event-driven engine is built
//! from, composed of the instance's doors (0.1.9's signatures): effect
//! batches (preconditions, effects and events in one commit), keyed state
//! (tables with a one-column primary key, read and written by key, ranked
//! through an index), and processors that pull events and commit the state
//! they derive together with their checkpoint.
//!
//! The top room: it uses `instance` (the doors and their write plan) and
//! nothing imports it.
//!
//! Invariants:
//! 1. Exactly once: a processor's state and its checkpoint move in one
//!    commit, and that commit fails with `Conflict` if the checkpoint is no
//!    longer where the events were read from, so a crash, a retry or a second
//!    worker can neither apply an event twice nor skip one.
//! 2. A rejected effect batch writes nothing: its preconditions are checked
//!    inside the write transaction, before any effect.

mod effects;
mod keyed_state;
mod processor;

pub use processor::ProcessorContext;

use crate::commit::CommitResult;
use crate::event::EventOutboxRecord;
use crate::vocab::types::{Row, Value};

/// Effects and events committed together, if every precondition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectBatch {
    /// Conditions checked in the commit before any effect; if one fails, the
    /// batch is `Rejected` and nothing is written.
    pub preconditions: Vec<EffectPrecondition>,
    /// Accumulator and keyed-state changes, applied in this order.
    pub effects: Vec<EffectOperation>,
    /// Events written to the outbox in the same commit.
    pub events: Vec<EffectEvent>,
}

/// A condition on an accumulator of the batch's scope, checked in the commit.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectPrecondition {
    /// The accumulator's available amount (value minus exposure) is at least
    /// `min_amount`.
    RequireAvailable {
        /// The accumulator's name in the batch's scope.
        accumulator: String,
        /// The smallest available amount that passes.
        min_amount: i64,
    },
    /// The accumulator can take `amount` more exposure.
    RequireExposureOk {
        /// The accumulator's name in the batch's scope.
        accumulator: String,
        /// The exposure to test: passes if the available amount is at least this.
        amount: i64,
    },
}

/// One effect on the batch's scope.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectOperation {
    /// Adds `delta` to the accumulator exactly once (a repeat of `dedupe_id`
    /// within its window is a no-op).
    Accumulate {
        /// The accumulator's name in the batch's scope.
        accumulator: String,
        /// The signed amount to add.
        delta: i64,
        /// The delta's dedupe key (non-empty); reusing it with another delta or
        /// order key is an error.
        dedupe_id: String,
        /// Must be greater than the accumulator's latest order key.
        order_key: u64,
    },
    /// Reserves `amount` against the accumulator's available amount; fails
    /// with `ExposureRejected` when it does not cover it.
    Expose {
        /// The accumulator's name in the batch's scope.
        accumulator: String,
        /// The amount to reserve; must be positive.
        amount: i64,
        /// The exposure's id (non-empty); an id already open is an error.
        dedupe_id: String,
    },
    /// Releases an open exposure; a no-op if it was released already or expired.
    ReleaseExposure {
        /// The accumulator's name in the batch's scope.
        accumulator: String,
        /// The id the exposure was opened under.
        dedupe_id: String,
    },
    /// Writes (adds or replaces) the row of keyed state `keyed_state` under `key`.
    Write {
        /// The keyed-state table's name in the batch's scope.
        keyed_state: String,
        /// The row's primary key (the table's single key column).
        key: Value,
        /// The whole row to store.
        value: Row,
    },
    /// Deletes the row of keyed state `keyed_state` under `key` (no error if
    /// there is none).
    Delete {
        /// The keyed-state table's name in the batch's scope.
        keyed_state: String,
        /// The row's primary key.
        key: Value,
    },
}

/// An event the batch emits (to the outbox, in the batch's commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectEvent {
    /// The event's topic (1 to 1,024 bytes).
    pub event_name: String,
    /// The caller's key for the event (at most 1,024 bytes; may be empty).
    pub event_key: String,
    /// The payload; must be a JSON document.
    pub data_json: String,
}

/// Why a batch was not applied: the precondition that failed and the value
/// it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRejected {
    /// `available_below_min` or `exposure_margin_exceeded`.
    pub error_code: &'static str,
    /// The precondition, e.g. `RequireAvailable(cash, min=50)`.
    pub failed_precondition: String,
    /// The value the precondition saw: the accumulator's available amount.
    pub actual_value: i64,
}

/// What became of an effect batch.
#[derive(Debug, Clone)]
pub enum EffectBatchCommitResult {
    /// Every precondition held: the batch's durable commit.
    Applied(CommitResult),
    /// A precondition failed; nothing was written.
    Rejected(BatchRejected),
}

/// Events a processor pulled: whole commits after its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorPullResult {
    /// The pulled events of the requested topic, oldest first, in whole commits.
    pub events: Vec<EventOutboxRecord>,
    /// The processor's stored checkpoint.
    pub checkpoint_seq: u64,
    /// The last commit the pull covers: the checkpoint to commit once these
    /// events are applied (the stored checkpoint when there were none).
    pub last_commit_seq: u64,
    /// The snapshot the pull read.
    pub head_seq: u64,
}

/// A page of keyed-state rows in an index's order: the rows whose leading
/// index columns equal `prefix` (all rows when empty), skipping `offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedStateQueryRequest {
    /// The keyed-state table's index that orders the rows.
    pub index_name: String,
    /// Values of the index's leading columns the rows must equal; empty for all rows.
    pub prefix: Vec<Value>,
    /// Matching rows to skip before the page starts.
    pub offset: usize,
    /// Most rows to return; above the instance's `max_scan_rows` is an error.
    pub limit: usize,
}
