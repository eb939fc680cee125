//! Table schemas, constraints, indexes and table alterations, as stored in the
//! catalog.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::vocab::expr::Expr;
use crate::vocab::types::{ColumnType, Value};

/// One column of a table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ColumnDef {
    /// Its name (1 to 128 bytes, no control characters), unique in the table.
    pub name: String,
    /// The type every value written to it is converted to.
    pub col_type: ColumnType,
    /// Whether it may hold NULL; primary-key columns may not.
    pub nullable: bool,
}

/// A table: its columns (in row order), primary key and constraints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableSchema {
    /// The project holding the table.
    pub project_id: String,
    /// The scope holding it.
    pub scope_id: String,
    /// Its name, unique in the scope.
    pub table_name: String,
    /// Its owner, who holds admin rights over it without a grant (`None`: no owner).
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Its columns, in row order.
    pub columns: Vec<ColumnDef>,
    /// The primary-key column names, in key order.
    pub primary_key: Vec<String>,
    /// Rules every row keeps, added and dropped with `AlterTable`.
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

    /// The column names, in row order.
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
        /// Its name, unique among the table's constraints.
        name: String,
        /// The columns whose values together are unique.
        columns: Vec<String>,
    },
    /// Every row satisfies `expr` (a row for which it is false is refused).
    Check {
        /// Its name, unique among the table's constraints.
        name: String,
        /// The predicate each row must match. A comparison with NULL is false,
        /// so a NULL fails where SQL's CHECK would let it pass.
        expr: Expr,
    },
    /// The column refuses NULL even if declared nullable; named `not_null_<column>`.
    NotNull {
        /// The column.
        column: String,
    },
    /// A NULL written to `column` is replaced by `value`.
    Default {
        /// The column filled in; the constraint is named `default_<column>`.
        column: String,
        /// The value stored instead, converted to the column's type like any value.
        value: Value,
    },
}

impl Constraint {
    /// The name `DropConstraint` takes: its own for `Unique` and `Check`,
    /// `not_null_<column>` and `default_<column>` for the others.
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
    /// An ordered tree over the indexed columns.
    BTree,
    /// Accepted for aedb 0.1.9; behaves as `BTree`.
    Art,
    /// Accepted for aedb 0.1.9; behaves as `BTree`.
    Hash,
    /// At most one row per (non-NULL) column tuple.
    UniqueHash,
}

impl IndexType {
    /// Whether the index refuses two rows with the same values (`UniqueHash`).
    pub fn is_unique(self) -> bool {
        self == IndexType::UniqueHash
    }
}

/// A secondary index over some columns of a table; with a `partial_filter`, only
/// rows matching it are indexed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IndexDef {
    /// The table's project.
    pub project_id: String,
    /// Its scope.
    pub scope_id: String,
    /// The indexed table.
    pub table_name: String,
    /// Its name, unique in the table; the index of a `Unique` constraint is
    /// `__unique_<constraint>`.
    pub index_name: String,
    /// The indexed columns, in key order.
    pub columns: Vec<String>,
    /// How it is kept, and whether it is unique.
    pub index_type: IndexType,
    /// Only rows matching it are indexed (`None`: every row).
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
        /// The column to drop.
        name: String,
    },
    /// Renames a column everywhere the catalog names it.
    RenameColumn {
        /// The column's current name.
        from: String,
        /// Its new name, which no column of the table may have.
        to: String,
    },
    /// Adds a constraint; every existing row must satisfy it, or the
    /// alteration fails. A `Unique` one also builds its index.
    AddConstraint(Constraint),
    /// Drops a constraint by its `Constraint::name`, with a `Unique` one's index.
    DropConstraint {
        /// The constraint's name.
        name: String,
    },
}

/// What an accumulator adds up (0.1.9 has one kind: signed 64-bit).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum AccumulatorValueType {
    /// A signed 64-bit integer; the only kind.
    #[default]
    BigInt,
}
