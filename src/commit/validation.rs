//! Mutations: everything a commit can do, as data. `commit::apply` runs them.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::catalog::DdlOperation;
use crate::catalog::types::{Row, Value};
use crate::query::plan::Expr;

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
    AddI64 { existing_column: String, proposed_column: String },
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
    Insert { project_id: String, scope_id: String, table_name: String, primary_key: Vec<Value>, row: Row },
    InsertBatch { project_id: String, scope_id: String, table_name: String, rows: Vec<Row> },
    /// Adds or replaces a row.
    Upsert { project_id: String, scope_id: String, table_name: String, primary_key: Vec<Value>, row: Row },
    UpsertBatch { project_id: String, scope_id: String, table_name: String, rows: Vec<Row> },
    UpsertOnConflict { project_id: String, scope_id: String, table_name: String, row: Row, conflict_target: ConflictTarget, conflict_action: ConflictAction },
    UpsertBatchOnConflict { project_id: String, scope_id: String, table_name: String, rows: Vec<Row>, conflict_target: ConflictTarget, conflict_action: ConflictAction },
    /// Removes a row (no error if it does not exist).
    Delete { project_id: String, scope_id: String, table_name: String, primary_key: Vec<Value> },
    DeleteWhere { project_id: String, scope_id: String, table_name: String, predicate: Expr, limit: Option<usize> },
    UpdateWhere { project_id: String, scope_id: String, table_name: String, predicate: Expr, updates: Vec<(String, Value)>, limit: Option<usize> },
    UpdateWhereExpr { project_id: String, scope_id: String, table_name: String, predicate: Expr, updates: Vec<(String, TableUpdateExpr)>, limit: Option<usize> },
    /// Adds `amount_be` (big-endian) to a U256 column of an existing row; overflow is an error.
    TableIncU256 { project_id: String, scope_id: String, table_name: String, primary_key: Vec<Value>, column: String, amount_be: [u8; 32] },
    /// Subtracts from a U256 column; going below zero is `Underflow`.
    TableDecU256 { project_id: String, scope_id: String, table_name: String, primary_key: Vec<Value>, column: String, amount_be: [u8; 32] },
    Ddl(DdlOperation),
    KvSet { project_id: String, scope_id: String, key: Vec<u8>, value: Vec<u8> },
    KvDel { project_id: String, scope_id: String, key: Vec<u8> },
}

impl Mutation {
    /// The (project, scope, table) a table mutation targets.
    pub fn table_target(&self) -> Option<(&str, &str, &str)> {
        use Mutation::*;
        match self {
            Insert { project_id, scope_id, table_name, .. }
            | InsertBatch { project_id, scope_id, table_name, .. }
            | Upsert { project_id, scope_id, table_name, .. }
            | UpsertBatch { project_id, scope_id, table_name, .. }
            | UpsertOnConflict { project_id, scope_id, table_name, .. }
            | UpsertBatchOnConflict { project_id, scope_id, table_name, .. }
            | Delete { project_id, scope_id, table_name, .. }
            | DeleteWhere { project_id, scope_id, table_name, .. }
            | UpdateWhere { project_id, scope_id, table_name, .. }
            | UpdateWhereExpr { project_id, scope_id, table_name, .. }
            | TableIncU256 { project_id, scope_id, table_name, .. }
            | TableDecU256 { project_id, scope_id, table_name, .. } => Some((project_id, scope_id, table_name)),
            Ddl(_) | KvSet { .. } | KvDel { .. } => None,
        }
    }
}
