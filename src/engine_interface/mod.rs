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
    pub preconditions: Vec<EffectPrecondition>,
    pub effects: Vec<EffectOperation>,
    pub events: Vec<EffectEvent>,
}

/// A condition on an accumulator of the batch's scope, checked in the commit.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectPrecondition {
    /// The accumulator's available amount (value minus exposure) is at least
    /// `min_amount`.
    RequireAvailable {
        accumulator: String,
        min_amount: i64,
    },
    /// The accumulator can take `amount` more exposure.
    RequireExposureOk { accumulator: String, amount: i64 },
}

/// One effect on the batch's scope.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectOperation {
    Accumulate {
        accumulator: String,
        delta: i64,
        dedupe_id: String,
        order_key: u64,
    },
    Expose {
        accumulator: String,
        amount: i64,
        dedupe_id: String,
    },
    ReleaseExposure {
        accumulator: String,
        dedupe_id: String,
    },
    /// Writes (adds or replaces) the row of keyed state `keyed_state` under `key`.
    Write {
        keyed_state: String,
        key: Value,
        value: Row,
    },
    Delete {
        keyed_state: String,
        key: Value,
    },
}

/// An event the batch emits (to the outbox, in the batch's commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectEvent {
    pub event_name: String,
    pub event_key: String,
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
    pub actual_value: i64,
}

/// What became of an effect batch.
#[derive(Debug, Clone)]
pub enum EffectBatchCommitResult {
    Applied(CommitResult),
    Rejected(BatchRejected),
}

/// Events a processor pulled: whole commits after its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorPullResult {
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
    pub index_name: String,
    pub prefix: Vec<Value>,
    pub offset: usize,
    pub limit: usize,
}
