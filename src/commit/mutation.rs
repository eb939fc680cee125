//! Mutations: everything a commit can do, as data (public at the 0.1.9 path
//! `aedb::commit::validation`). `commit::apply` runs them.
//!
//! Invariant: `Mutation::into_op` is the one place a mutation is taken apart.
//! Table mutations become a `(TableTarget, TableOp)` pair, so the table is
//! resolved once and a new table mutation adds one `TableOp` arm, not a lookup.

use serde::{Deserialize, Serialize};

use crate::catalog::DdlOperation;
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
            Ddl(_) | KvSet { .. } | KvDel { .. } => None,
        }
    }
}

/// A mutation taken apart for dispatch (`commit::apply`).
pub(crate) enum Op {
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
    Table(TableTarget, TableOp),
}

/// The table a table mutation acts on.
pub(crate) struct TableTarget {
    pub(crate) project_id: String,
    pub(crate) scope_id: String,
    pub(crate) table_name: String,
}

/// What a table mutation does, without its target.
pub(crate) enum TableOp {
    /// `Insert`/`Upsert` (`primary_key: Some`, one row) and their batches
    /// (`None`; a batch is bounded by `max_batch_rows`). `replace`: upsert.
    Insert {
        primary_key: Option<Vec<Value>>,
        rows: Vec<Row>,
        replace: bool,
    },
    UpsertOnConflict {
        rows: Vec<Row>,
        target: ConflictTarget,
        action: ConflictAction,
    },
    Delete {
        primary_key: Vec<Value>,
    },
    DeleteWhere {
        predicate: Expr,
        limit: Option<usize>,
    },
    UpdateWhere {
        predicate: Expr,
        updates: Vec<(String, TableUpdateExpr)>,
        limit: Option<usize>,
    },
    /// `TableIncU256` (`add`) and `TableDecU256`.
    U256Step {
        primary_key: Vec<Value>,
        column: String,
        amount_be: [u8; 32],
        add: bool,
    },
}

impl TableOp {
    /// The predicate that chooses the rows of a predicated mutation.
    pub(crate) fn predicate_mut(&mut self) -> Option<&mut Expr> {
        match self {
            TableOp::DeleteWhere { predicate, .. } | TableOp::UpdateWhere { predicate, .. } => {
                Some(predicate)
            }
            _ => None,
        }
    }
}

impl Mutation {
    /// Takes the mutation apart for dispatch.
    pub(crate) fn into_op(self) -> Op {
        use Mutation as M;
        use TableOp as T;
        let target = |project_id, scope_id, table_name| TableTarget {
            project_id,
            scope_id,
            table_name,
        };
        let (target, op) = match self {
            M::Ddl(op) => return Op::Ddl(op),
            M::KvSet {
                project_id,
                scope_id,
                key,
                value,
            } => {
                return Op::KvSet {
                    project_id,
                    scope_id,
                    key,
                    value,
                };
            }
            M::KvDel {
                project_id,
                scope_id,
                key,
            } => {
                return Op::KvDel {
                    project_id,
                    scope_id,
                    key,
                };
            }
            M::Insert {
                project_id,
                scope_id,
                table_name,
                primary_key,
                row,
            } => {
                let op = T::Insert {
                    primary_key: Some(primary_key),
                    rows: vec![row],
                    replace: false,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::Upsert {
                project_id,
                scope_id,
                table_name,
                primary_key,
                row,
            } => {
                let op = T::Insert {
                    primary_key: Some(primary_key),
                    rows: vec![row],
                    replace: true,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::InsertBatch {
                project_id,
                scope_id,
                table_name,
                rows,
            } => (
                target(project_id, scope_id, table_name),
                T::Insert {
                    primary_key: None,
                    rows,
                    replace: false,
                },
            ),
            M::UpsertBatch {
                project_id,
                scope_id,
                table_name,
                rows,
            } => (
                target(project_id, scope_id, table_name),
                T::Insert {
                    primary_key: None,
                    rows,
                    replace: true,
                },
            ),
            M::UpsertOnConflict {
                project_id,
                scope_id,
                table_name,
                row,
                conflict_target,
                conflict_action,
            } => {
                let op = T::UpsertOnConflict {
                    rows: vec![row],
                    target: conflict_target,
                    action: conflict_action,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::UpsertBatchOnConflict {
                project_id,
                scope_id,
                table_name,
                rows,
                conflict_target,
                conflict_action,
            } => {
                let op = T::UpsertOnConflict {
                    rows,
                    target: conflict_target,
                    action: conflict_action,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::Delete {
                project_id,
                scope_id,
                table_name,
                primary_key,
            } => (
                target(project_id, scope_id, table_name),
                T::Delete { primary_key },
            ),
            M::DeleteWhere {
                project_id,
                scope_id,
                table_name,
                predicate,
                limit,
            } => (
                target(project_id, scope_id, table_name),
                T::DeleteWhere { predicate, limit },
            ),
            M::UpdateWhere {
                project_id,
                scope_id,
                table_name,
                predicate,
                updates,
                limit,
            } => {
                let updates = updates
                    .into_iter()
                    .map(|(c, v)| (c, TableUpdateExpr::Value(v)))
                    .collect();
                (
                    target(project_id, scope_id, table_name),
                    T::UpdateWhere {
                        predicate,
                        updates,
                        limit,
                    },
                )
            }
            M::UpdateWhereExpr {
                project_id,
                scope_id,
                table_name,
                predicate,
                updates,
                limit,
            } => (
                target(project_id, scope_id, table_name),
                T::UpdateWhere {
                    predicate,
                    updates,
                    limit,
                },
            ),
            M::TableIncU256 {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                amount_be,
            } => {
                let op = T::U256Step {
                    primary_key,
                    column,
                    amount_be,
                    add: true,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::TableDecU256 {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                amount_be,
            } => {
                let op = T::U256Step {
                    primary_key,
                    column,
                    amount_be,
                    add: false,
                };
                (target(project_id, scope_id, table_name), op)
            }
        };
        Op::Table(target, op)
    }
}
