//! `AedbError`: every failure of the facade, each with a stable code
//! ([`AedbErrorCode::as_str`]) that callers may match on across releases.
//! `QueryError` (module `query`) is the error of queries, as in 0.1.9.
//!
//! A leaf: it imports only the storage engine and the crates below it, so every
//! room of the facade may use it.

mod migration;
mod query;

use std::fmt;

use crate::storage::StorageError;
use crate::vocab::assertion::{AssertionActual, ReadAssertion};

pub use migration::MigrationProblem;
pub use query::QueryError;

/// A kind of catalog object, for `AlreadyExists` / `NotFound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ResourceType {
    Project,
    Scope,
    Table,
    Index,
    Accumulator,
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceType::Project => "project",
            ResourceType::Scope => "scope",
            ResourceType::Table => "table",
            ResourceType::Index => "index",
            ResourceType::Accumulator => "accumulator",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AedbError {
    /// The storage engine failed (I/O, corruption, poisoning); the source says
    /// what and where.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("encode error: {0}")]
    Encode(String),
    /// Stored bytes that do not decode (a damaged row or catalog record).
    #[error("decode error: {0}")]
    Decode(String),
    #[error("validation error: {0}")]
    Validation(String),
    #[error("invalid config: {message}")]
    InvalidConfig { message: String },
    #[error("integrity error: {message}")]
    IntegrityError { message: String },
    #[error("resource unavailable: {message}")]
    Unavailable { message: String },
    #[error("{resource_type} '{resource_id}' already exists")]
    AlreadyExists {
        resource_type: ResourceType,
        resource_id: String,
    },
    #[error("{resource_type} '{resource_id}' not found")]
    NotFound {
        resource_type: ResourceType,
        resource_id: String,
    },
    #[error("duplicate primary key in table '{table}': {key}")]
    DuplicatePK { table: String, key: String },
    #[error("unique constraint violation on index '{index}' in table '{table}': {key}")]
    UniqueViolation {
        table: String,
        index: String,
        key: String,
    },
    #[error("check constraint '{constraint}' failed on table '{table}'")]
    CheckConstraintFailed { table: String, constraint: String },
    #[error("NOT NULL violation: column '{column}' in table '{table}'")]
    NotNullViolation { table: String, column: String },
    #[error(
        "type mismatch: column '{column}' in table '{table}' expected {expected}, got {actual}"
    )]
    TypeMismatch {
        table: String,
        column: String,
        expected: String,
        actual: String,
    },
    #[error("unknown column '{column}' in table '{table}'")]
    UnknownColumn { table: String, column: String },
    #[error("conflict error: {0}")]
    Conflict(String),
    #[error("underflow")]
    Underflow,
    #[error("overflow")]
    Overflow,
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("timeout")]
    Timeout,
    #[error("snapshot expired")]
    SnapshotExpired,
    /// An event-stream read asked for events the outbox no longer holds (the
    /// retention pruned them).
    #[error(
        "the event stream holds the events of commits after seq {oldest_after} only; events after seq {requested} were asked for"
    )]
    EventsExpired { requested: u64, oldest_after: u64 },
    /// An accumulator delta whose order key does not exceed the last one
    /// (order keys strictly increase per accumulator).
    #[error("accumulator {accumulator}: order key {got} does not follow the latest, {latest}")]
    OrderKeyNotIncreasing {
        accumulator: String,
        latest: u64,
        got: u64,
    },
    /// The circuit breaker: reserving `requested` would take the accumulator's
    /// available amount (effective value less the margin, less open
    /// exposure) below zero. Counted in its exposure metrics.
    #[error(
        "accumulator {project_id}.{scope_id}.{accumulator_name}: exposure of {requested} refused, {available} available"
    )]
    ExposureRejected {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        requested: i64,
        available: i64,
    },
    /// A change-feed subscription asked for changes the log no longer holds:
    /// it keeps the last `change_feed_retain_commits` commits.
    #[error(
        "the change feed holds the changes of commits after seq {oldest_after} only; changes after seq {requested} were asked for"
    )]
    ChangeFeedExpired { requested: u64, oldest_after: u64 },
    /// A backup or restore refused: `path` is the backup or data directory,
    /// `detail` what is wrong (a missing or damaged file, a broken chain, a
    /// wrong key, a seq the chain does not cover, an occupied target).
    #[error("backup {path}: {detail}")]
    Backup { path: String, detail: String },
    /// A read assertion (of an envelope, or a compare-and-* call's version
    /// check) did not hold; nothing was written.
    /// A migration was refused; nothing of it (or of the run it was part of,
    /// when the run's checks refused it before any commit) was written.
    #[error("migration {version} of {project_id}.{scope_id}: {problem}")]
    Migration {
        project_id: String,
        scope_id: String,
        version: u64,
        problem: MigrationProblem,
    },
    #[error("assertion {index} failed: {assertion:?} found {actual:?}")]
    AssertionFailed {
        /// Its position in the envelope's assertions (0 for a single check).
        index: usize,
        assertion: Box<ReadAssertion>,
        actual: Box<AssertionActual>,
    },
}

/// The stable code of an [`AedbError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AedbErrorCode {
    Io,
    Encode,
    Decode,
    Validation,
    InvalidConfig,
    IntegrityError,
    Unavailable,
    ProjectAlreadyExists,
    ScopeAlreadyExists,
    TableAlreadyExists,
    IndexAlreadyExists,
    AccumulatorAlreadyExists,
    ProjectNotFound,
    ScopeNotFound,
    TableNotFound,
    IndexNotFound,
    AccumulatorNotFound,
    DuplicatePrimaryKey,
    UniqueViolation,
    CheckConstraintFailed,
    NotNullViolation,
    TypeMismatch,
    UnknownColumn,
    Conflict,
    Underflow,
    Overflow,
    PermissionDenied,
    Timeout,
    SnapshotExpired,
    AssertionFailed,
    ChangeFeedExpired,
    OrderKeyNotIncreasing,
    ExposureRejected,
    EventsExpired,
    Backup,
    ScanBoundExceeded,
    /// An earlier failure (a failed sync or write) stopped the engine; nothing is
    /// written until every clone of the instance is dropped and the database is
    /// reopened. Not retryable as is.
    Poisoned,
    /// The disk filled up during a write and the engine stopped as for `Poisoned`:
    /// free space, then reopen.
    OutOfSpace,
    /// A tree the catalog or the caller named does not exist in the engine.
    TreeNotFound,
    /// A migration was refused ([`MigrationProblem`] says why).
    Migration,
}

impl AedbErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AedbErrorCode::Io => "io",
            AedbErrorCode::Encode => "encode",
            AedbErrorCode::Decode => "decode",
            AedbErrorCode::Validation => "validation",
            AedbErrorCode::InvalidConfig => "invalid_config",
            AedbErrorCode::IntegrityError => "integrity_error",
            AedbErrorCode::Unavailable => "unavailable",
            AedbErrorCode::ProjectAlreadyExists => "project_already_exists",
            AedbErrorCode::ScopeAlreadyExists => "scope_already_exists",
            AedbErrorCode::TableAlreadyExists => "table_already_exists",
            AedbErrorCode::IndexAlreadyExists => "index_already_exists",
            AedbErrorCode::AccumulatorAlreadyExists => "accumulator_already_exists",
            AedbErrorCode::ProjectNotFound => "project_not_found",
            AedbErrorCode::ScopeNotFound => "scope_not_found",
            AedbErrorCode::TableNotFound => "table_not_found",
            AedbErrorCode::IndexNotFound => "index_not_found",
            AedbErrorCode::AccumulatorNotFound => "accumulator_not_found",
            AedbErrorCode::DuplicatePrimaryKey => "duplicate_primary_key",
            AedbErrorCode::UniqueViolation => "unique_violation",
            AedbErrorCode::CheckConstraintFailed => "check_constraint_failed",
            AedbErrorCode::NotNullViolation => "not_null_violation",
            AedbErrorCode::TypeMismatch => "type_mismatch",
            AedbErrorCode::UnknownColumn => "unknown_column",
            AedbErrorCode::Conflict => "conflict",
            AedbErrorCode::Underflow => "underflow",
            AedbErrorCode::Overflow => "overflow",
            AedbErrorCode::PermissionDenied => "permission_denied",
            AedbErrorCode::Timeout => "timeout",
            AedbErrorCode::SnapshotExpired => "snapshot_expired",
            AedbErrorCode::AssertionFailed => "assertion_failed",
            AedbErrorCode::ChangeFeedExpired => "change_feed_expired",
            AedbErrorCode::OrderKeyNotIncreasing => "order_key_not_increasing",
            AedbErrorCode::ExposureRejected => "exposure_rejected",
            AedbErrorCode::EventsExpired => "events_expired",
            AedbErrorCode::Backup => "backup",
            AedbErrorCode::ScanBoundExceeded => "scan_bound_exceeded",
            AedbErrorCode::Poisoned => "poisoned",
            AedbErrorCode::OutOfSpace => "out_of_space",
            AedbErrorCode::TreeNotFound => "tree_not_found",
            AedbErrorCode::Migration => "migration",
        }
    }
}

impl AedbError {
    pub fn code(&self) -> AedbErrorCode {
        use AedbErrorCode as C;
        match self {
            AedbError::Storage(e) => storage_code(e),
            AedbError::Encode(_) => C::Encode,
            AedbError::Decode(_) => C::Decode,
            AedbError::Validation(_) => C::Validation,
            AedbError::InvalidConfig { .. } => C::InvalidConfig,
            AedbError::IntegrityError { .. } => C::IntegrityError,
            AedbError::Unavailable { .. } => C::Unavailable,
            AedbError::AlreadyExists { resource_type, .. } => match resource_type {
                ResourceType::Project => C::ProjectAlreadyExists,
                ResourceType::Scope => C::ScopeAlreadyExists,
                ResourceType::Table => C::TableAlreadyExists,
                ResourceType::Index => C::IndexAlreadyExists,
                ResourceType::Accumulator => C::AccumulatorAlreadyExists,
            },
            AedbError::NotFound { resource_type, .. } => match resource_type {
                ResourceType::Project => C::ProjectNotFound,
                ResourceType::Scope => C::ScopeNotFound,
                ResourceType::Table => C::TableNotFound,
                ResourceType::Index => C::IndexNotFound,
                ResourceType::Accumulator => C::AccumulatorNotFound,
            },
            AedbError::DuplicatePK { .. } => C::DuplicatePrimaryKey,
            AedbError::UniqueViolation { .. } => C::UniqueViolation,
            AedbError::CheckConstraintFailed { .. } => C::CheckConstraintFailed,
            AedbError::NotNullViolation { .. } => C::NotNullViolation,
            AedbError::TypeMismatch { .. } => C::TypeMismatch,
            AedbError::UnknownColumn { .. } => C::UnknownColumn,
            AedbError::Conflict(_) => C::Conflict,
            AedbError::Underflow => C::Underflow,
            AedbError::Overflow => C::Overflow,
            AedbError::PermissionDenied(_) => C::PermissionDenied,
            AedbError::Timeout => C::Timeout,
            AedbError::SnapshotExpired => C::SnapshotExpired,
            AedbError::AssertionFailed { .. } => C::AssertionFailed,
            AedbError::ChangeFeedExpired { .. } => C::ChangeFeedExpired,
            AedbError::OrderKeyNotIncreasing { .. } => C::OrderKeyNotIncreasing,
            AedbError::ExposureRejected { .. } => C::ExposureRejected,
            AedbError::EventsExpired { .. } => C::EventsExpired,
            AedbError::Backup { .. } => C::Backup,
            AedbError::Migration { .. } => C::Migration,
        }
    }

    /// The code's string ([`AedbErrorCode::as_str`]), as in 0.1.9.
    pub fn code_str(&self) -> &'static str {
        self.code().as_str()
    }

    /// Whether the engine is stopped (`Poisoned`/`OutOfSpace`): the instance must be
    /// dropped, every clone of it, and the database reopened.
    pub fn is_poisoned(&self) -> bool {
        matches!(
            self.code(),
            AedbErrorCode::Poisoned | AedbErrorCode::OutOfSpace
        )
    }

    pub(crate) fn not_found(resource_type: ResourceType, id: impl Into<String>) -> Self {
        AedbError::NotFound {
            resource_type,
            resource_id: id.into(),
        }
    }

    pub(crate) fn exists(resource_type: ResourceType, id: impl Into<String>) -> Self {
        AedbError::AlreadyExists {
            resource_type,
            resource_id: id.into(),
        }
    }
}

pub(crate) fn storage_code(e: &StorageError) -> AedbErrorCode {
    use crate::btree::BtreeError;
    use crate::pager::PagerError;
    if e.is_corruption() {
        return AedbErrorCode::IntegrityError;
    }
    let pager = |p: &PagerError| match p {
        PagerError::Poisoned { .. } => AedbErrorCode::Poisoned,
        PagerError::OutOfSpace { .. } => AedbErrorCode::OutOfSpace,
        PagerError::AlreadyOpen { .. } => AedbErrorCode::Unavailable,
        PagerError::KeyRequired { .. }
        | PagerError::NotKeyed { .. }
        | PagerError::WrongKey { .. } => AedbErrorCode::InvalidConfig,
        PagerError::PageSizeMismatch { .. } | PagerError::InvalidPageSize(_) => {
            AedbErrorCode::InvalidConfig
        }
        _ => AedbErrorCode::Io,
    };
    match e {
        StorageError::Poisoned(_) => AedbErrorCode::Poisoned,
        StorageError::OutOfSpace(_) => AedbErrorCode::OutOfSpace,
        StorageError::Task(_) => AedbErrorCode::Unavailable,
        StorageError::SnapshotUnavailable { .. } => AedbErrorCode::SnapshotExpired,
        StorageError::TreeNotFound(_) => AedbErrorCode::TreeNotFound,
        StorageError::TransactionTooLarge { .. } | StorageError::InvalidTreeName(_) => {
            AedbErrorCode::Validation
        }
        StorageError::Btree(BtreeError::KeyTooLarge { .. } | BtreeError::ValueTooLarge { .. }) => {
            AedbErrorCode::Validation
        }
        StorageError::Btree(BtreeError::Pager(p)) | StorageError::Pager(p) => pager(p),
        _ => AedbErrorCode::Io,
    }
}

impl From<crate::btree::BtreeError> for AedbError {
    fn from(e: crate::btree::BtreeError) -> Self {
        AedbError::Storage(e.into())
    }
}
