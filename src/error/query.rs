//! `QueryError`: why a query could not run (as in aedb 0.1.9, queries have their
//! own error type; failures from below arrive as `QueryError::Engine`).

use crate::error::{AedbError, AedbErrorCode};

/// Why a query could not run. `code()` maps it onto the shared
/// `AedbErrorCode`; failures from below the query arrive as `Engine`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query names a table its scope does not hold.
    #[error("table '{table}' not found in {project_id}")]
    TableNotFound {
        /// The project searched.
        project_id: String,
        /// The table name given.
        table: String,
    },
    /// The query (a predicate, projection, aggregate or join) names a column
    /// the table or join lacks.
    #[error("unknown column '{column}' in table '{table}'")]
    ColumnNotFound {
        /// The table searched.
        table: String,
        /// The column name given.
        column: String,
    },
    /// A predicate's literal cannot be converted to its column's type, or
    /// `Like` is used on a column that is neither `Text` nor `Json`.
    #[error("type mismatch on column '{column}': expected {expected}, got {got}")]
    TypeMismatch {
        /// The column compared.
        column: String,
        /// The column's type.
        expected: String,
        /// The kind of value given (`Integer`, `Text`, ...).
        got: String,
    },
    /// The query must read everything, and that is more than `max_scan_rows`
    /// rows; pass `allow_full_scan`, add a limit, or use an index.
    #[error("query would read {estimated_rows} rows, more than max_scan_rows = {max_scan_rows}")]
    ScanBoundExceeded {
        /// Rows the query would read (under a read policy, only the rows walked
        /// before the bound stopped it).
        estimated_rows: u64,
        /// The bound in force (`AedbConfig::max_scan_rows`).
        max_scan_rows: u64,
    },
    /// The query is malformed or cannot run as asked (a predicate nested too
    /// deep, `EqCaller` in a call without a caller, ...); fix the query.
    #[error("invalid query: {reason}")]
    InvalidQuery {
        /// What is wrong.
        reason: String,
    },
    /// `AtSeq` asked for a commit that is not visible yet.
    #[error("seq {requested} is not visible yet (latest {current})")]
    SeqNotYetVisible {
        /// The seq asked for.
        requested: u64,
        /// The latest visible seq; retry once it reaches `requested`.
        current: u64,
    },
    /// `AtSeq` asked for a commit older than the retained snapshots.
    #[error(
        "snapshot expired: seq {requested} is older than the oldest retained ({oldest_available})"
    )]
    SnapshotExpired {
        /// The seq asked for.
        requested: u64,
        /// The oldest seq still readable.
        oldest_available: u64,
    },
    /// A failure from below the query (storage, catalog, permissions), as
    /// the facade reports it.
    #[error(transparent)]
    Engine(#[from] AedbError),
}

impl QueryError {
    /// This error's stable code; `Engine` gives its inner error's code.
    pub fn code(&self) -> AedbErrorCode {
        match self {
            QueryError::TableNotFound { .. } => AedbErrorCode::TableNotFound,
            QueryError::ColumnNotFound { .. } => AedbErrorCode::UnknownColumn,
            QueryError::TypeMismatch { .. } => AedbErrorCode::TypeMismatch,
            QueryError::ScanBoundExceeded { .. } => AedbErrorCode::ScanBoundExceeded,
            QueryError::InvalidQuery { .. } => AedbErrorCode::Validation,
            QueryError::SeqNotYetVisible { .. } => AedbErrorCode::Unavailable,
            QueryError::SnapshotExpired { .. } => AedbErrorCode::SnapshotExpired,
            QueryError::Engine(e) => e.code(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        QueryError::InvalidQuery {
            reason: reason.into(),
        }
    }
}

impl From<crate::storage::StorageError> for QueryError {
    fn from(e: crate::storage::StorageError) -> Self {
        QueryError::Engine(e.into())
    }
}

impl From<crate::btree::BtreeError> for QueryError {
    fn from(e: crate::btree::BtreeError) -> Self {
        QueryError::Engine(e.into())
    }
}
