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
    /// The writes were applied by this commit.
    Applied,
    /// Nothing was written: the same request (or every accumulator delta in it)
    /// was committed before, by `canonical_commit_seq`.
    Duplicate,
}

/// The receipt of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitResult {
    /// Seq of the commit (for a `Duplicate`, the first commit's seq).
    pub commit_seq: u64,
    /// Highest seq known durable when the call returned.
    pub durable_head_seq: u64,
    /// Whether the writes were applied now or by an earlier commit.
    pub idempotency: IdempotencyOutcome,
    /// The seq that holds the writes (equals `commit_seq` for applied commits).
    pub canonical_commit_seq: u64,
    /// Rows or keys the commit's mutations affected.
    pub affected_rows: u64,
}

/// The advisory answer of `preflight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreflightResult {
    /// The mutation would commit now.
    Ok {
        /// Rows or keys it would affect.
        affected_rows: u64,
    },
    /// The mutation would fail now.
    Err {
        /// The error it would fail with, as text.
        reason: String,
    },
}

/// The advisory answer of `preflight_plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreflightPlan {
    /// Whether the mutation would commit at `base_seq`; if false, `errors` says
    /// why.
    pub valid: bool,
    /// What the mutation reads, at `base_seq`'s versions: commit it in a
    /// `TransactionEnvelope` with this read set and `base_seq` to have it fail
    /// with `Conflict` if any of it changed in between.
    pub read_set: tx::ReadSet,
    /// The mutation itself, ready to put in the envelope.
    pub write_intent: tx::WriteIntent,
    /// The seq the check ran against.
    pub base_seq: u64,
    /// Rows or keys it would affect (0 when not valid).
    pub estimated_affected_rows: usize,
    /// Why it would fail, as text (empty when valid).
    pub errors: Vec<String>,
}
