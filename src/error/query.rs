//! `QueryError`: why a query could not run (as in aedb 0.1.9, queries have their
//! own error type; failures from below arrive as `QueryError::Engine`).

use crate::error::{AedbError, AedbErrorCode};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("table '{table}' not found in {project_id}")]
    TableNotFound { project_id: String, table: String },
    #[error("unknown column '{column}' in table '{table}'")]
    ColumnNotFound { table: String, column: String },
    #[error("type mismatch on column '{column}': expected {expected}, got {got}")]
    TypeMismatch {
        column: String,
        expected: String,
        got: String,
    },
    /// The query must read everything, and that is more than `max_scan_rows`
    /// rows; pass `allow_full_scan`, add a limit, or use an index.
    #[error("query would read {estimated_rows} rows, more than max_scan_rows = {max_scan_rows}")]
    ScanBoundExceeded {
        estimated_rows: u64,
        max_scan_rows: u64,
    },
    #[error("invalid query: {reason}")]
    InvalidQuery { reason: String },
    /// `AtSeq` asked for a commit that is not visible yet.
    #[error("seq {requested} is not visible yet (latest {current})")]
    SeqNotYetVisible { requested: u64, current: u64 },
    /// `AtSeq` asked for a commit older than the retained snapshots.
    #[error(
        "snapshot expired: seq {requested} is older than the oldest retained ({oldest_available})"
    )]
    SnapshotExpired {
        requested: u64,
        oldest_available: u64,
    },
    #[error(transparent)]
    Engine(#[from] AedbError),
}

impl QueryError {
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
