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
    /// The primary key.
    PrimaryKey,
    /// A unique index (or the index of a unique constraint, by constraint name).
    Index(String),
    /// The primary key or a unique index/constraint over exactly these columns.
    Columns(Vec<String>),
}

/// What an `UpsertOnConflict` does when the row collides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ConflictAction {
    /// Leaves the existing row as it is (0 rows affected).
    DoNothing,
    /// The proposed row's non-NULL values replace the existing ones.
    DoMerge,
    /// Set these columns of the existing row.
    DoUpdate(Vec<(String, Value)>),
    /// Set these columns of the existing row to values computed from the
    /// existing and proposed rows.
    DoUpdateWith(Vec<(String, UpdateExpr)>),
}

/// A column's new value in `ConflictAction::DoUpdateWith`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum UpdateExpr {
    /// This value.
    Value(Value),
    /// The existing row's value of this column.
    Existing(String),
    /// The proposed row's value of this column.
    Proposed(String),
    /// existing + proposed (Integer columns; overflow is an error).
    AddI64 {
        /// Integer column of the existing row (NULL counts as 0).
        existing_column: String,
        /// Integer column of the proposed row whose value is added (NULL counts
        /// as 0).
        proposed_column: String,
    },
}

/// A column's new value in `UpdateWhereExpr`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum TableUpdateExpr {
    /// Sets the column to this value.
    Value(Value),
    /// Sets the column to the value of this column of the same row, before the
    /// update.
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
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Primary-key values, in key order; must match the row's key columns
        /// (empty: taken from the row).
        primary_key: Vec<Value>,
        /// The whole row, in column order.
        row: Row,
    },
    /// Adds rows, all or none (an existing key is `DuplicatePK`); at most
    /// `max_batch_rows` rows.
    InsertBatch {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Whole rows, in column order; each row's key comes from its key
        /// columns.
        rows: Vec<Row>,
    },
    /// Adds or replaces a row.
    Upsert {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Primary-key values, in key order; must match the row's key columns
        /// (empty: taken from the row).
        primary_key: Vec<Value>,
        /// The whole row, in column order.
        row: Row,
    },
    /// Adds or replaces rows, all or none; at most `max_batch_rows` rows.
    UpsertBatch {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Whole rows, in column order; each row's key comes from its key
        /// columns.
        rows: Vec<Row>,
    },
    /// Inserts a row, or acts on the existing row it collides with on
    /// `conflict_target`.
    UpsertOnConflict {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// The proposed row, whole, in column order.
        row: Row,
        /// What counts as a collision.
        conflict_target: ConflictTarget,
        /// What to do to the colliding row. Without a collision the row is
        /// inserted (a primary-key clash then is `DuplicatePK`).
        conflict_action: ConflictAction,
    },
    /// `UpsertOnConflict` for each row in order, all or none.
    UpsertBatchOnConflict {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Proposed rows, whole, in column order.
        rows: Vec<Row>,
        /// What counts as a collision.
        conflict_target: ConflictTarget,
        /// What to do to a colliding row. A row without a collision is inserted
        /// (a primary-key clash then is `DuplicatePK`).
        conflict_action: ConflictAction,
    },
    /// Removes a row (no error if it does not exist).
    Delete {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Primary-key values of the row, in key order.
        primary_key: Vec<Value>,
    },
    /// Removes the rows matching `predicate` that the caller may read.
    DeleteWhere {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Chooses the rows; the caller's read policy, if any, is joined to it
        /// with AND.
        predicate: Expr,
        /// At most this many rows; `None`: every match, but more than
        /// `max_scan_rows` matches is a `Validation` error.
        limit: Option<usize>,
    },
    /// Sets columns of the rows matching `predicate` that the caller may read.
    UpdateWhere {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Chooses the rows; the caller's read policy, if any, is joined to it
        /// with AND.
        predicate: Expr,
        /// (column, new value) pairs; a primary-key column cannot be updated.
        updates: Vec<(String, Value)>,
        /// At most this many rows; `None`: every match, but more than
        /// `max_scan_rows` matches is a `Validation` error.
        limit: Option<usize>,
    },
    /// `UpdateWhere` with new values computed from each row.
    UpdateWhereExpr {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Chooses the rows; the caller's read policy, if any, is joined to it
        /// with AND.
        predicate: Expr,
        /// (column, expression) pairs, computed from the row as it was before
        /// this update; a primary-key column cannot be updated.
        updates: Vec<(String, TableUpdateExpr)>,
        /// At most this many rows; `None`: every match, but more than
        /// `max_scan_rows` matches is a `Validation` error.
        limit: Option<usize>,
    },
    /// Adds `amount_be` (big-endian) to a U256 column of an existing row; overflow is an error.
    TableIncU256 {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Primary-key values of the row, in key order; the row must exist.
        primary_key: Vec<Value>,
        /// U256 column to add to (NULL counts as 0).
        column: String,
        /// Amount, 32 bytes big-endian.
        amount_be: [u8; 32],
    },
    /// Subtracts from a U256 column; going below zero is `Underflow`.
    TableDecU256 {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table to write.
        table_name: String,
        /// Primary-key values of the row, in key order; the row must exist.
        primary_key: Vec<Value>,
        /// U256 column to subtract from (NULL counts as 0).
        column: String,
        /// Amount, 32 bytes big-endian.
        amount_be: [u8; 32],
    },
    /// A catalog change (projects, scopes, tables, indexes, ...); it affects 0
    /// rows.
    Ddl(DdlOperation),
    /// Stores `value` under `key`, replacing any value there.
    KvSet {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key, 1 to `max_kv_key_bytes` bytes.
        key: Vec<u8>,
        /// Value, at most `max_kv_value_bytes` bytes.
        value: Vec<u8>,
    },
    /// Removes a key (no error if it is absent).
    KvDel {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key to remove.
        key: Vec<u8>,
    },
    /// Adds to a U256 value (a missing key is zero; overflow is an error).
    KvIncU256 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian).
        key: Vec<u8>,
        /// Amount, 32 bytes big-endian.
        amount_be: [u8; 32],
    },
    /// Subtracts from a U256 value (a missing key is zero; below zero is
    /// `Underflow`).
    KvDecU256 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian).
        key: Vec<u8>,
        /// Amount, 32 bytes big-endian.
        amount_be: [u8; 32],
    },
    /// Adds to a U256 value under the given missing-key and overflow policies.
    KvAddU256Ex {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian).
        key: Vec<u8>,
        /// Amount, 32 bytes big-endian.
        amount_be: [u8; 32],
        /// `TreatAsZero`: a missing key counts as 0; `Reject`: a missing key
        /// fails the commit.
        on_missing: KvU256MissingPolicy,
        /// `Saturate`: the value stops at 2^256 - 1; `Reject`: `Overflow` fails
        /// the commit.
        on_overflow: KvU256OverflowPolicy,
    },
    /// Subtracts from a U256 value under the given missing-key and underflow
    /// policies.
    KvSubU256Ex {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian).
        key: Vec<u8>,
        /// Amount, 32 bytes big-endian.
        amount_be: [u8; 32],
        /// `TreatAsZero`: a missing key counts as 0; `Reject`: a missing key
        /// fails the commit.
        on_missing: KvU256MissingPolicy,
        /// `NoOp`: a result below zero leaves the value as it is (0 keys
        /// affected); `Reject`: `Underflow` fails the commit.
        on_underflow: KvU256UnderflowPolicy,
    },
    /// Stores the larger of the value and the candidate.
    KvMaxU256 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian).
        key: Vec<u8>,
        /// Candidate, 32 bytes big-endian.
        candidate_be: [u8; 32],
        /// `TreatAsZero`: a missing key counts as 0, so the candidate is
        /// stored; `Reject`: a missing key fails the commit.
        on_missing: KvU256MissingPolicy,
    },
    /// Stores the smaller of the value and the candidate.
    KvMinU256 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian).
        key: Vec<u8>,
        /// Candidate, 32 bytes big-endian.
        candidate_be: [u8; 32],
        /// `TreatAsZero`: a missing key counts as 0, so 0 is stored; `Reject`:
        /// a missing key fails the commit.
        on_missing: KvU256MissingPolicy,
    },
    /// Set, add or subtract (strict: overflow and underflow are errors), only
    /// if the key's version is `expected_seq` when given (0: absent).
    KvMutateU256 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U256 (exactly 32 bytes, big-endian); a missing key
        /// counts as 0.
        key: Vec<u8>,
        /// Whether the operand replaces, is added to or is subtracted from the
        /// value.
        op: KvU256MutatorOp,
        /// Operand, 32 bytes big-endian.
        operand_be: [u8; 32],
        /// Version the key must have (the seq of the commit that last wrote it;
        /// 0: absent), else `AssertionFailed`; `None`: no check.
        expected_seq: Option<u64>,
    },
    /// Adds to a U64 value under the given missing-key and overflow policies.
    KvAddU64Ex {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U64 (exactly 8 bytes, big-endian).
        key: Vec<u8>,
        /// Amount, 8 bytes big-endian.
        amount_be: [u8; 8],
        /// `TreatAsZero`: a missing key counts as 0; `Reject`: a missing key
        /// fails the commit.
        on_missing: KvU64MissingPolicy,
        /// `Saturate`: the value stops at 2^64 - 1; `Reject`: `Overflow` fails
        /// the commit.
        on_overflow: KvU64OverflowPolicy,
    },
    /// Subtracts from a U64 value under the given missing-key and underflow
    /// policies.
    KvSubU64Ex {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U64 (exactly 8 bytes, big-endian).
        key: Vec<u8>,
        /// Amount, 8 bytes big-endian.
        amount_be: [u8; 8],
        /// `TreatAsZero`: a missing key counts as 0; `Reject`: a missing key
        /// fails the commit.
        on_missing: KvU64MissingPolicy,
        /// `NoOp`: a result below zero leaves the value as it is (0 keys
        /// affected); `Reject`: `Underflow` fails the commit.
        on_underflow: KvU64UnderflowPolicy,
    },
    /// `KvSubU64Ex` or `KvSubU256Ex` by the amount's width.
    KvSubIntEx {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U64 (8 bytes) or a U256 (32 bytes), big-endian, as
        /// wide as `amount`.
        key: Vec<u8>,
        /// Amount to subtract, big-endian; its variant (`U64` or `U256`) sets
        /// the width.
        amount: KvIntegerAmount,
        /// `TreatAsZero`: a missing key counts as 0; `Reject`: a missing key
        /// fails the commit.
        on_missing: KvIntegerMissingPolicy,
        /// `NoOp`: a result below zero leaves the value as it is (0 keys
        /// affected); `Reject`: `Underflow` fails the commit.
        on_underflow: KvIntegerUnderflowPolicy,
    },
    /// Adds to shard `shard_hint % shard_count` of a sharded U64 counter
    /// (`counter_read_sharded` sums the shards in one snapshot).
    CounterAdd {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Logical key of the counter; shard i is stored under
        /// `counter_shard_storage_key(key, i)`.
        key: Vec<u8>,
        /// Amount, 8 bytes big-endian; a shard past 2^64 - 1 is `Overflow`.
        amount_be: [u8; 8],
        /// Number of shards, at least 1 (0 is a `Validation` error); use one
        /// count for every add and read of the counter.
        shard_count: u16,
        /// Any number (a thread or client id, say); spreads concurrent adds
        /// over the shards.
        shard_hint: u32,
    },
    /// Stores the larger of the U64 value and the candidate.
    KvMaxU64 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U64 (exactly 8 bytes, big-endian).
        key: Vec<u8>,
        /// Candidate, 8 bytes big-endian.
        candidate_be: [u8; 8],
        /// `TreatAsZero`: a missing key counts as 0, so the candidate is
        /// stored; `Reject`: a missing key fails the commit.
        on_missing: KvU64MissingPolicy,
    },
    /// Stores the smaller of the U64 value and the candidate.
    KvMinU64 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U64 (exactly 8 bytes, big-endian).
        key: Vec<u8>,
        /// Candidate, 8 bytes big-endian.
        candidate_be: [u8; 8],
        /// `TreatAsZero`: a missing key counts as 0, so 0 is stored; `Reject`:
        /// a missing key fails the commit.
        on_missing: KvU64MissingPolicy,
    },
    /// Set, add or subtract (strict: overflow and underflow are errors), only
    /// if the key's version is `expected_seq` when given (0: absent).
    KvMutateU64 {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// Key holding a U64 (exactly 8 bytes, big-endian); a missing key
        /// counts as 0.
        key: Vec<u8>,
        /// Whether the operand replaces, is added to or is subtracted from the
        /// value.
        op: KvU64MutatorOp,
        /// Operand, 8 bytes big-endian.
        operand_be: [u8; 8],
        /// Version the key must have (the seq of the commit that last wrote it;
        /// 0: absent), else `AssertionFailed`; `None`: no check.
        expected_seq: Option<u64>,
    },
    /// Adds `delta` to an accumulator exactly once: a repeat of `dedupe_key`
    /// within its window is a no-op (`Duplicate`); `order_key` must exceed the
    /// last one. `release_exposure_id` releases that exposure in the same
    /// commit.
    Accumulate {
        /// Project of the accumulator.
        project_id: String,
        /// Scope of the accumulator.
        scope_id: String,
        /// Accumulator to change.
        accumulator_name: String,
        /// Signed amount to add; a total outside the `i64` range is `Overflow`.
        delta: i64,
        /// Non-empty id of this delta. Reused with another delta or `order_key`
        /// within the window, it is a `Validation` error.
        dedupe_key: String,
        /// Must exceed the accumulator's latest order key, else
        /// `OrderKeyNotIncreasing`.
        order_key: u64,
        /// An exposure to release in the same commit (nothing if it is not
        /// open); `None`: none.
        release_exposure_id: Option<String>,
    },
    /// Reserves `amount` under `exposure_id` if the accumulator's available
    /// amount covers it (else `ExposureRejected`).
    ExposeAccumulator {
        /// Project of the accumulator.
        project_id: String,
        /// Scope of the accumulator.
        scope_id: String,
        /// Accumulator to reserve from.
        accumulator_name: String,
        /// Amount to reserve; must be positive.
        amount: i64,
        /// Non-empty id of the reservation; one already open under it is a
        /// `Validation` error.
        exposure_id: String,
    },
    /// Several reservations, all or none.
    ExposeAccumulatorBatch {
        /// Project of the accumulator.
        project_id: String,
        /// Scope of the accumulator.
        scope_id: String,
        /// Accumulator to reserve from.
        accumulator_name: String,
        /// (amount, exposure id) pairs, each as in `ExposeAccumulator`,
        /// reserved in order.
        exposures: Vec<(i64, String)>,
    },
    /// Releases an open exposure (no-op if none is open under the id).
    ReleaseAccumulatorExposure {
        /// Project of the accumulator.
        project_id: String,
        /// Scope of the accumulator.
        scope_id: String,
        /// Accumulator the exposure was made on.
        accumulator_name: String,
        /// Id the exposure was made under.
        exposure_id: String,
    },
    /// Appends an event to the outbox in this commit (`payload_json` must be
    /// JSON; `read_event_stream` reads it once the commit is visible).
    EmitEvent {
        /// Project of the event.
        project_id: String,
        /// Scope of the event.
        scope_id: String,
        /// Topic, 1 to 1024 bytes (`MAX_EVENT_NAME_BYTES`).
        topic: String,
        /// Caller-chosen key of the event, at most 1024 bytes (may be empty).
        event_key: String,
        /// The payload; it must parse as JSON.
        payload_json: String,
    },
    /// Runs the projector now: every pending delta into the materialized value
    /// (beyond 0.1.9, which projects on its own schedule only).
    ProjectAccumulator {
        /// Project of the accumulator.
        project_id: String,
        /// Scope of the accumulator.
        scope_id: String,
        /// Accumulator to project.
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
