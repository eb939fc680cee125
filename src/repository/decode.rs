//! Rows into the application's types: [`TryFromRow`] and the typed column
//! readers it is written with. A reader takes the column's position in the
//! row (the query's select order) and its name (for the error only).

use crate::catalog::types::{Row, Value};

/// Why a row did not decode: which column, and what it held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowDecodeError {
    /// The row has no value at the reader's position.
    #[error("missing column '{column}' at index {index}")]
    MissingColumn {
        /// The column's name.
        column: String,
        /// The position the reader asked for.
        index: usize,
    },
    /// The column held another type than the reader wanted.
    #[error("column '{column}' type mismatch: expected {expected}, got {actual}")]
    TypeMismatch {
        /// The column's name.
        column: String,
        /// The type the reader wanted, e.g. `Text`.
        expected: &'static str,
        /// The type of the value held, e.g. `Null`.
        actual: &'static str,
    },
    /// An application's own decoding error.
    #[error("{message}")]
    Custom {
        /// The error's text, shown as is.
        message: String,
    },
}

/// A type built from one query row.
pub trait TryFromRow: Sized {
    /// Builds the value from `row`, whose values are in the query's select order.
    fn try_from_row(row: Row) -> Result<Self, RowDecodeError>;
}

/// Rows as they come.
impl TryFromRow for Row {
    fn try_from_row(row: Row) -> Result<Self, RowDecodeError> {
        Ok(row)
    }
}

/// Decodes every row, stopping at the first that does not fit.
pub fn decode_rows<T: TryFromRow>(rows: Vec<Row>) -> Result<Vec<T>, RowDecodeError> {
    rows.into_iter().map(T::try_from_row).collect()
}

fn value_at<'a>(row: &'a Row, index: usize, column: &str) -> Result<&'a Value, RowDecodeError> {
    row.values
        .get(index)
        .ok_or_else(|| RowDecodeError::MissingColumn {
            column: column.to_string(),
            index,
        })
}

fn mismatch(column: &str, expected: &'static str, got: &Value) -> RowDecodeError {
    RowDecodeError::TypeMismatch {
        column: column.to_string(),
        expected,
        actual: got.kind_name(),
    }
}

/// A `Text` (or `Json`) column.
pub fn text_at<'a>(row: &'a Row, index: usize, column: &str) -> Result<&'a str, RowDecodeError> {
    match value_at(row, index, column)? {
        Value::Text(s) | Value::Json(s) => Ok(s),
        other => Err(mismatch(column, "Text", other)),
    }
}

/// An `Integer` column.
pub fn i64_at(row: &Row, index: usize, column: &str) -> Result<i64, RowDecodeError> {
    match value_at(row, index, column)? {
        Value::Integer(i) => Ok(*i),
        other => Err(mismatch(column, "Integer", other)),
    }
}

/// A `U64` (or `U8`) column.
pub fn u64_at(row: &Row, index: usize, column: &str) -> Result<u64, RowDecodeError> {
    match value_at(row, index, column)? {
        Value::U64(u) => Ok(*u),
        Value::U8(u) => Ok(u64::from(*u)),
        other => Err(mismatch(column, "U64", other)),
    }
}

/// A `Boolean` column.
pub fn bool_at(row: &Row, index: usize, column: &str) -> Result<bool, RowDecodeError> {
    match value_at(row, index, column)? {
        Value::Boolean(b) => Ok(*b),
        other => Err(mismatch(column, "Boolean", other)),
    }
}

/// A `Timestamp` column (its `i64`).
pub fn timestamp_at(row: &Row, index: usize, column: &str) -> Result<i64, RowDecodeError> {
    match value_at(row, index, column)? {
        Value::Timestamp(t) => Ok(*t),
        other => Err(mismatch(column, "Timestamp", other)),
    }
}

/// A `U256` column (32 bytes, big-endian).
pub fn u256_at(row: &Row, index: usize, column: &str) -> Result<[u8; 32], RowDecodeError> {
    match value_at(row, index, column)? {
        Value::U256(b) => Ok(*b),
        other => Err(mismatch(column, "U256", other)),
    }
}
