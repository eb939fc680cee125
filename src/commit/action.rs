//! Action envelopes (0.1.9's `aedb::commit::action`): one hot-path action —
//! its effects and metadata as mutations, its preconditions as assertions —
//! committed atomically under a mandatory idempotency key, with an explicit
//! outcome: `Applied`, or `Duplicate` (a replay; nothing written).

use crate::commit::mutation::Mutation;
use crate::commit::tx::{IdempotencyKey, ReadAssertion, WriteClass};
use crate::permission::CallerContext;

/// An action to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionEnvelopeRequest {
    pub caller: Option<CallerContext>,
    pub idempotency_key: IdempotencyKey,
    pub write_class: WriteClass,
    /// The seq the action's decisions were made at (its read set's base).
    pub base_seq: u64,
    pub assertions: Vec<ReadAssertion>,
    pub mutations: Vec<Mutation>,
}

/// What committing an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionCommitResult {
    /// The seq holding the action's writes (for a duplicate, the first commit's).
    pub commit_seq: u64,
    pub durable_head_seq: u64,
    pub outcome: ActionCommitOutcome,
}

/// Whether the action was applied now or had been already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionCommitOutcome {
    Applied,
    /// The idempotency key was committed before (within its window) with the
    /// same request: no writes applied.
    Duplicate,
}
