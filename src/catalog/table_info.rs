//! `TableInfo`: a table record plus what every row operation needs, derived
//! once per catalog load (row positions, tree names, compiled checks and partial
//! filters), and `TableColumns`, the resolver of its plain column names.
//!
//! Invariants:
//! 1. A `TableInfo` is immutable once built; a DDL builds a new one from the
//!    changed record (`TableInfo::new`), so compiled predicates never go stale.
//! 2. A stored filter or check that no longer compiles is kept as its error
//!    message and reported when a row needs it, never at load: a damaged or
//!    outdated record must not make the whole catalog unreadable.

use crate::catalog::schema::{Constraint, TableSchema};
use crate::catalog::{TableRecord, rows_tree};
use crate::error::{AedbError, QueryError};
use crate::eval::{Columns, Compiled, compile};
use crate::vocab::types::{ColumnType, Value, show_values};

/// A table record plus what every row operation needs, computed once per load.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub record: TableRecord,
    pub types: Vec<ColumnType>,
    /// Row positions of the primary-key columns.
    pub pk: Vec<usize>,
    /// Per index (same order as `record.indexes`): row positions of its columns.
    pub index_columns: Vec<Vec<usize>>,
    pub column_names: Vec<String>,
    /// Name of the tree holding the rows.
    pub rows_tree: String,
    /// Per index: its partial filter, compiled once (the error message if the
    /// stored filter does not compile against the columns).
    pub partial_filters: Vec<Option<Result<Compiled, String>>>,
    /// The `Check` constraints, compiled once: (name, predicate or error message).
    pub checks: Vec<(String, Result<Compiled, String>)>,
}

impl TableInfo {
    pub fn new(record: TableRecord) -> Self {
        let s = &record.schema;
        let types = s.columns.iter().map(|c| c.col_type).collect();
        let pk = s.primary_key_indices();
        let index_columns = record
            .indexes
            .iter()
            .map(|ix| {
                ix.def
                    .columns
                    .iter()
                    .filter_map(|c| s.column_index(c))
                    .collect()
            })
            .collect();
        let column_names = s.column_names();
        let rows_tree = rows_tree(record.id);
        let mut info = TableInfo {
            record,
            types,
            pk,
            index_columns,
            column_names,
            rows_tree,
            partial_filters: Vec::new(),
            checks: Vec::new(),
        };
        let cols = TableColumns(&info);
        let partial_filters = info
            .record
            .indexes
            .iter()
            .map(|ix| {
                ix.def.partial_filter.as_ref().map(|f| {
                    compile(f, &cols).map_err(|e| {
                        format!("partial filter of index '{}': {e}", ix.def.index_name)
                    })
                })
            })
            .collect();
        let table = info.name();
        let checks = info
            .record
            .schema
            .constraints
            .iter()
            .filter_map(|c| match c {
                Constraint::Check { name, expr } => Some((
                    name.clone(),
                    compile(expr, &cols)
                        .map_err(|e| format!("check constraint '{name}' of table '{table}': {e}")),
                )),
                _ => None,
            })
            .collect();
        info.partial_filters = partial_filters;
        info.checks = checks;
        info
    }

    pub fn schema(&self) -> &TableSchema {
        &self.record.schema
    }

    pub fn name(&self) -> &str {
        &self.record.schema.table_name
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.record.schema.column_index(name)
    }

    /// The `UniqueViolation` of index `i` by a row with `values` (named after
    /// its constraint when the index enforces one).
    pub fn unique_violation(&self, i: usize, values: &[Value]) -> AedbError {
        let ix = &self.record.indexes[i];
        let cols: Vec<&Value> = self.index_columns[i].iter().map(|&c| &values[c]).collect();
        AedbError::UniqueViolation {
            table: self.name().to_string(),
            index: ix
                .constraint
                .clone()
                .unwrap_or_else(|| ix.def.index_name.clone()),
            key: show_values(&cols),
        }
    }

    /// The primary-key values of a row, for messages: `(1, "alice")`.
    pub fn show_pk(&self, values: &[Value]) -> String {
        show_values(&self.pk.iter().map(|&i| &values[i]).collect::<Vec<_>>())
    }

    /// `UnknownColumn` for a column this table lacks.
    pub fn unknown_column(&self, column: &str) -> AedbError {
        AedbError::UnknownColumn {
            table: self.name().to_string(),
            column: column.to_string(),
        }
    }

    /// The row position of `column`, or `UnknownColumn`.
    pub fn column_or_err(&self, column: &str) -> Result<usize, AedbError> {
        self.column(column)
            .ok_or_else(|| self.unknown_column(column))
    }
}

/// Resolves plain column names of one table.
pub(crate) struct TableColumns<'a>(pub &'a TableInfo);

impl Columns for TableColumns<'_> {
    fn resolve(&self, name: &str) -> Result<(usize, Option<ColumnType>), QueryError> {
        let t = self.0;
        t.column(name)
            .map(|i| (i, Some(t.types[i])))
            .ok_or_else(|| QueryError::ColumnNotFound {
                table: t.name().to_string(),
                column: name.to_string(),
            })
    }
}
