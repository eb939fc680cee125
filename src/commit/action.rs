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
    /// Who commits; `None`: the plain-call rules of the instance's mode apply.
    pub caller: Option<CallerContext>,
    /// The action's id: the same request again within the window is a
    /// `Duplicate`; another request under it is a `Validation` error.
    pub idempotency_key: IdempotencyKey,
    /// Scheduling hint, kept for 0.1.9; every class commits the same way.
    pub write_class: WriteClass,
    /// The seq the action's decisions were made at (its read set's base).
    pub base_seq: u64,
    /// Preconditions, checked in order inside the write; the first that fails
    /// fails the commit with `AssertionFailed`.
    pub assertions: Vec<ReadAssertion>,
    /// Effects and metadata, applied in order, all or none (at least one).
    pub mutations: Vec<Mutation>,
}

/// What committing an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionCommitResult {
    /// The seq holding the action's writes (for a duplicate, the first commit's).
    pub commit_seq: u64,
    /// Highest seq known durable when the call returned (at least `commit_seq`:
    /// actions commit durably).
    pub durable_head_seq: u64,
    /// Whether the writes were applied now or by an earlier commit.
    pub outcome: ActionCommitOutcome,
}

/// Whether the action was applied now or had been already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionCommitOutcome {
    /// The writes were applied by this commit.
    Applied,
    /// The idempotency key was committed before (within its window) with the
    /// same request: no writes applied.
    Duplicate,
}
