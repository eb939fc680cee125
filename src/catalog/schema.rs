//! Table schemas, constraints, indexes and table alterations, as stored in the
//! catalog.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::vocab::expr::Expr;
use crate::vocab::types::{ColumnType, Value};

/// One column of a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub col_type: ColumnType,
    pub nullable: bool,
}

/// A table: its columns (in row order), primary key and constraints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableSchema {
    pub project_id: String,
    pub scope_id: String,
    pub table_name: String,
    #[serde(default)]
    pub owner_id: Option<String>,
    pub columns: Vec<ColumnDef>,
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

impl TableSchema {
    /// Position of column `name` in a row.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Positions of the primary-key columns, in key order.
    pub fn primary_key_indices(&self) -> Vec<usize> {
        self.primary_key
            .iter()
            .filter_map(|c| self.column_index(c))
            .collect()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

/// A rule every row of a table keeps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub enum Constraint {
    /// No two rows share these columns' values (rows with a NULL among them are
    /// exempt, as in SQL). Enforced through a hidden unique index.
    Unique {
        name: String,
        columns: Vec<String>,
    },
    /// Every row satisfies `expr` (a row for which it is false is refused).
    Check {
        name: String,
        expr: Expr,
    },
    NotNull {
        column: String,
    },
    /// A NULL written to `column` is replaced by `value`.
    Default {
        column: String,
        value: Value,
    },
}

impl Constraint {
    pub fn name(&self) -> String {
        match self {
            Constraint::Unique { name, .. } | Constraint::Check { name, .. } => name.clone(),
            Constraint::NotNull { column } => format!("not_null_{column}"),
            Constraint::Default { column, .. } => format!("default_{column}"),
        }
    }
}

/// How a secondary index is kept. All kinds are ordered trees here: `Hash` and
/// `Art` are accepted for compatibility with aedb 0.1.9 and behave as `BTree`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexType {
    BTree,
    Art,
    Hash,
    /// At most one row per (non-NULL) column tuple.
    UniqueHash,
}

impl IndexType {
    pub fn is_unique(self) -> bool {
        self == IndexType::UniqueHash
    }
}

/// A secondary index over some columns of a table; with a `partial_filter`, only
/// rows matching it are indexed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexDef {
    pub project_id: String,
    pub scope_id: String,
    pub table_name: String,
    pub index_name: String,
    pub columns: Vec<String>,
    pub index_type: IndexType,
    pub partial_filter: Option<Expr>,
}

/// A change to an existing table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableAlteration {
    /// Appends a column; existing rows read it as NULL, so a non-nullable column
    /// can only be added to an empty table.
    AddColumn(ColumnDef),
    /// Removes a column that is in no key, index or constraint; rewrites every row.
    DropColumn {
        name: String,
    },
    /// Renames a column everywhere the catalog names it.
    RenameColumn {
        from: String,
        to: String,
    },
    AddConstraint(Constraint),
    DropConstraint {
        name: String,
    },
}

/// What an accumulator adds up (0.1.9 has one kind: signed 64-bit).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum AccumulatorValueType {
    #[default]
    BigInt,
}
