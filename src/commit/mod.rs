//! Commits: mutations (`validation`), how they apply inside a write transaction
//! (`apply`, `context`), and what a commit returns.
#![forbid(unsafe_code)]

pub mod apply;
pub mod context;
pub mod validation;

/// How far a commit gets before the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFinality {
    /// Visible to new reads; durable once a later sync covers it.
    Visible,
    /// On stable storage (the WAL is synced through it).
    Durable,
}

/// Whether a commit applied its writes (always `Applied` for plain commits).
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightPlan {
    pub valid: bool,
    /// The seq the check ran against.
    pub base_seq: u64,
    pub estimated_affected_rows: usize,
    pub errors: Vec<String>,
}
