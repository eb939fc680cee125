//! Mutations: everything a commit can do, as data (public at the 0.1.9 path
//! `aedb::commit::validation`). `commit::op` takes them apart, `commit::apply`
//! runs them.

use serde::{Deserialize, Serialize};

use crate::catalog::DdlOperation;
pub use crate::kv::numeric::{
    KvIntegerAmount, KvIntegerMissingPolicy, KvIntegerUnderflowPolicy, KvU64MissingPolicy,
    KvU64MutatorOp, KvU64OverflowPolicy, KvU64UnderflowPolicy, KvU256MissingPolicy,
    KvU256MutatorOp, KvU256OverflowPolicy, KvU256UnderflowPolicy,
};
use crate::vocab::expr::Expr;
use crate::vocab::types::{Row, Value};

/// Which existing row an `UpsertOnConflict` collides with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ConflictTarget {
    PrimaryKey,
    /// A unique index (or the index of a unique constraint, by constraint name).
    Index(String),
    /// The primary key or a unique index/constraint over exactly these columns.
    Columns(Vec<String>),
}

/// What an `UpsertOnConflict` does when the row collides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ConflictAction {
    DoNothing,
    /// The proposed row's non-NULL values replace the existing ones.
    DoMerge,
    /// Set these columns of the existing row.
    DoUpdate(Vec<(String, Value)>),
    DoUpdateWith(Vec<(String, UpdateExpr)>),
}

/// A column's new value in `ConflictAction::DoUpdateWith`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum UpdateExpr {
    Value(Value),
    /// The existing row's value of this column.
    Existing(String),
    /// The proposed row's value of this column.
    Proposed(String),
    /// existing + proposed (Integer columns; overflow is an error).
    AddI64 {
        existing_column: String,
        proposed_column: String,
    },
}

/// A column's new value in `UpdateWhereExpr`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum TableUpdateExpr {
    Value(Value),
    CopyColumn(String),
    /// Adds to an Integer column (NULL counts as 0; overflow is an error).
    AddI64(i64),
    /// This value if the column is NULL, else unchanged.
    Coalesce(Value),
}

/// One change, committed alone (`commit`) or with others (`commit_many_atomic`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Mutation {
    /// Adds a row; an existing row with the same key is `DuplicatePK`.
    Insert {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        row: Row,
    },
    InsertBatch {
        project_id: String,
        scope_id: String,
        table_name: String,
        rows: Vec<Row>,
    },
    /// Adds or replaces a row.
    Upsert {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        row: Row,
    },
    UpsertBatch {
        project_id: String,
        scope_id: String,
        table_name: String,
        rows: Vec<Row>,
    },
    UpsertOnConflict {
        project_id: String,
        scope_id: String,
        table_name: String,
        row: Row,
        conflict_target: ConflictTarget,
        conflict_action: ConflictAction,
    },
    UpsertBatchOnConflict {
        project_id: String,
        scope_id: String,
        table_name: String,
        rows: Vec<Row>,
        conflict_target: ConflictTarget,
        conflict_action: ConflictAction,
    },
    /// Removes a row (no error if it does not exist).
    Delete {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
    },
    DeleteWhere {
        project_id: String,
        scope_id: String,
        table_name: String,
        predicate: Expr,
        limit: Option<usize>,
    },
    UpdateWhere {
        project_id: String,
        scope_id: String,
        table_name: String,
        predicate: Expr,
        updates: Vec<(String, Value)>,
        limit: Option<usize>,
    },
    UpdateWhereExpr {
        project_id: String,
        scope_id: String,
        table_name: String,
        predicate: Expr,
        updates: Vec<(String, TableUpdateExpr)>,
        limit: Option<usize>,
    },
    /// Adds `amount_be` (big-endian) to a U256 column of an existing row; overflow is an error.
    TableIncU256 {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        column: String,
        amount_be: [u8; 32],
    },
    /// Subtracts from a U256 column; going below zero is `Underflow`.
    TableDecU256 {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        column: String,
        amount_be: [u8; 32],
    },
    Ddl(DdlOperation),
    KvSet {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    KvDel {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
    },
    /// Adds to a U256 value (a missing key is zero; overflow is an error).
    KvIncU256 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 32],
    },
    /// Subtracts from a U256 value (a missing key is zero; below zero is
    /// `Underflow`).
    KvDecU256 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 32],
    },
    KvAddU256Ex {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 32],
        on_missing: KvU256MissingPolicy,
        on_overflow: KvU256OverflowPolicy,
    },
    KvSubU256Ex {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 32],
        on_missing: KvU256MissingPolicy,
        on_underflow: KvU256UnderflowPolicy,
    },
    /// Stores the larger of the value and the candidate.
    KvMaxU256 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        candidate_be: [u8; 32],
        on_missing: KvU256MissingPolicy,
    },
    /// Stores the smaller of the value and the candidate.
    KvMinU256 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        candidate_be: [u8; 32],
        on_missing: KvU256MissingPolicy,
    },
    /// Set, add or subtract (strict: overflow and underflow are errors), only
    /// if the key's version is `expected_seq` when given (0: absent).
    KvMutateU256 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        op: KvU256MutatorOp,
        operand_be: [u8; 32],
        expected_seq: Option<u64>,
    },
    KvAddU64Ex {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
        on_overflow: KvU64OverflowPolicy,
    },
    KvSubU64Ex {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
        on_underflow: KvU64UnderflowPolicy,
    },
    /// `KvSubU64Ex` or `KvSubU256Ex` by the amount's width.
    KvSubIntEx {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount: KvIntegerAmount,
        on_missing: KvIntegerMissingPolicy,
        on_underflow: KvIntegerUnderflowPolicy,
    },
    /// Adds to shard `shard_hint % shard_count` of a sharded U64 counter
    /// (`counter_read_sharded` sums the shards in one snapshot).
    CounterAdd {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        amount_be: [u8; 8],
        shard_count: u16,
        shard_hint: u32,
    },
    KvMaxU64 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        candidate_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
    },
    KvMinU64 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        candidate_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
    },
    KvMutateU64 {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        op: KvU64MutatorOp,
        operand_be: [u8; 8],
        expected_seq: Option<u64>,
    },
    /// Adds `delta` to an accumulator exactly once: a repeat of `dedupe_key`
    /// within its window is a no-op (`Duplicate`); `order_key` must exceed the
    /// last one. `release_exposure_id` releases that exposure in the same
    /// commit.
    Accumulate {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        delta: i64,
        dedupe_key: String,
        order_key: u64,
        release_exposure_id: Option<String>,
    },
    /// Reserves `amount` under `exposure_id` if the accumulator's available
    /// amount covers it (else `ExposureRejected`).
    ExposeAccumulator {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        amount: i64,
        exposure_id: String,
    },
    /// Several reservations, all or none.
    ExposeAccumulatorBatch {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        exposures: Vec<(i64, String)>,
    },
    /// Releases an open exposure (no-op if none is open under the id).
    ReleaseAccumulatorExposure {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        exposure_id: String,
    },
    /// Appends an event to the outbox in this commit (`payload_json` must be
    /// JSON; `read_event_stream` reads it once the commit is visible).
    EmitEvent {
        project_id: String,
        scope_id: String,
        topic: String,
        event_key: String,
        payload_json: String,
    },
    /// Runs the projector now: every pending delta into the materialized value
    /// (beyond 0.1.9, which projects on its own schedule only).
    ProjectAccumulator {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
    },
}

impl Mutation {
    /// The (project, scope, table) a table mutation targets.
    pub fn table_target(&self) -> Option<(&str, &str, &str)> {
        use Mutation::*;
        match self {
            Insert {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | InsertBatch {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | Upsert {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | UpsertBatch {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | UpsertOnConflict {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | UpsertBatchOnConflict {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | Delete {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | DeleteWhere {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | UpdateWhere {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | UpdateWhereExpr {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | TableIncU256 {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | TableDecU256 {
                project_id,
                scope_id,
                table_name,
                ..
            } => Some((project_id, scope_id, table_name)),
            _ => None,
        }
    }
}
