//! Commits: mutations (`mutation`, public as `validation`), how they apply
//! inside a write transaction (`context` composes, `apply` dispatches, `ddl`
//! changes the catalog), and what a commit returns.
//!
//! Room order: `commit` sits above `query` (predicated mutations find their rows
//! with `query::matching_rows`) and below `instance`; see `tests/layers.rs`.

mod access;
pub mod action;
mod apply;
pub(crate) mod audit;
mod changes;
mod check;
pub(crate) mod context;
mod ddl;
mod ddl_accumulator;
pub(crate) mod idempotency;
pub(crate) mod mutation;
pub(crate) mod op;
pub(crate) mod readset;
pub(crate) use ddl::now_micros;
pub mod tx;

/// `aedb::commit::validation`, the 0.1.9 path of the mutation types.
pub mod validation {
    pub use super::mutation::{
        ConflictAction, ConflictTarget, KvIntegerAmount, KvIntegerMissingPolicy,
        KvIntegerUnderflowPolicy, KvU64MissingPolicy, KvU64MutatorOp, KvU64OverflowPolicy,
        KvU64UnderflowPolicy, KvU256MissingPolicy, KvU256MutatorOp, KvU256OverflowPolicy,
        KvU256UnderflowPolicy, Mutation, TableUpdateExpr, UpdateExpr,
    };
    pub use crate::kv::numeric::{amount_to_u256, counter_shard_index, counter_shard_storage_key};
    pub use crate::vocab::assertion::CompareOp;
}

/// How far a commit gets before the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFinality {
    /// Visible to new reads; durable once a later sync covers it.
    Visible,
    /// On stable storage (the WAL is synced through it).
    Durable,
}

/// Whether a commit applied its writes (always `Applied` without an
/// idempotency key). `Duplicate`: an envelope whose key was committed before
/// within the idempotency window, with the same request; nothing was written
/// and `canonical_commit_seq` is the first commit's seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    Applied,
    Duplicate,
}

/// The receipt of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitResult {
    pub commit_seq: u64,
    /// Highest seq known durable when the call returned.
    pub durable_head_seq: u64,
    pub idempotency: IdempotencyOutcome,
    /// The seq that holds the writes (equals `commit_seq` for applied commits).
    pub canonical_commit_seq: u64,
    /// Rows or keys the commit's mutations affected.
    pub affected_rows: u64,
}

/// The advisory answer of `preflight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreflightResult {
    Ok { affected_rows: u64 },
    Err { reason: String },
}

/// The advisory answer of `preflight_plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreflightPlan {
    pub valid: bool,
    /// What the mutation reads, at `base_seq`'s versions: commit it in a
    /// `TransactionEnvelope` with this read set and `base_seq` to have it fail
    /// with `Conflict` if any of it changed in between.
    pub read_set: tx::ReadSet,
    pub write_intent: tx::WriteIntent,
    /// The seq the check ran against.
    pub base_seq: u64,
    pub estimated_affected_rows: usize,
    pub errors: Vec<String>,
}
