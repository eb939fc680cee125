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
    /// A project, the outermost namespace; its id is the project id.
    Project,
    /// A scope inside a project; its id reads `project.scope`.
    Scope,
    /// A table inside a scope; its id reads `project.scope.table`.
    Table,
    /// A secondary index of a table; its id reads `table.index`.
    Index,
    /// An accumulator inside a scope; its id reads `project.scope.name`.
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

/// Every failure of the facade's calls. `code()` gives its stable
/// `AedbErrorCode`; `is_poisoned()` says whether the instance must be reopened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AedbError {
    /// The storage engine failed (I/O, corruption, poisoning); the source says
    /// what and where.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A record could not be serialized (an internal failure, not bad input);
    /// the call did not take effect. Retrying will not help: report it.
    #[error("encode error: {0}")]
    Encode(String),
    /// Stored bytes that do not decode (a damaged row or catalog record).
    #[error("decode error: {0}")]
    Decode(String),
    /// The call's input breaks a rule or a limit (a bad name, a key, value or
    /// transaction past its size limit, a malformed row or DDL); the message
    /// says which. Fix the input: retrying as is fails again.
    #[error("validation error: {0}")]
    Validation(String),
    /// The configuration, or a setting the call needs, is refused (a field out
    /// of range, `open_secure` on an unhardened config, the change feed off).
    /// Fix the config and open again.
    #[error("invalid config: {message}")]
    InvalidConfig {
        /// Names the setting and what is wrong with it.
        message: String,
    },
    /// Stored data contradicts itself (a damaged record, an index entry without
    /// its row, a missing tree). Not retryable: check the database, or restore
    /// it from a backup.
    #[error("integrity error: {message}")]
    IntegrityError {
        /// What is inconsistent, and where.
        message: String,
    },
    /// The engine cannot do the work now: a background task failed, the commit
    /// queue is closed, a processor breaches its SLO, or a read's query error
    /// was folded in. Retry only once the cause is gone.
    #[error("resource unavailable: {message}")]
    Unavailable {
        /// What was unavailable, or the folded-in error's text.
        message: String,
    },
    /// A create named an object that exists already; where the create takes
    /// `if_not_exists`, that makes it a no-op instead.
    #[error("{resource_type} '{resource_id}' already exists")]
    AlreadyExists {
        /// The kind of object.
        resource_type: ResourceType,
        /// Its qualified name (`project.scope.table`, `table.index`, ...).
        resource_id: String,
    },
    /// The call named a project, scope, table, index or accumulator that does
    /// not exist. A drop's `if_exists` makes it a no-op instead.
    #[error("{resource_type} '{resource_id}' not found")]
    NotFound {
        /// The kind of object.
        resource_type: ResourceType,
        /// Its qualified name (`project.scope.table`, `table.index`, ...).
        resource_id: String,
    },
    /// An insert found a row with the same primary key; the commit fails
    /// whole. Use an upsert to replace the row.
    #[error("duplicate primary key in table '{table}': {key}")]
    DuplicatePK {
        /// The table's name.
        table: String,
        /// The primary-key values, as `(1, "alice")`.
        key: String,
    },
    /// Two rows would share the same non-NULL values in a unique index or a
    /// `Unique` constraint (on a write, or when building one over existing
    /// rows); the commit fails whole.
    #[error("unique constraint violation on index '{index}' in table '{table}': {key}")]
    UniqueViolation {
        /// The table's name.
        table: String,
        /// The index's name, or the constraint's when the index enforces one.
        index: String,
        /// The clashing column values, as `(1, "alice")`.
        key: String,
    },
    /// A row does not satisfy a `Check` constraint (a comparison with NULL
    /// counts as false), on a write or when adding the constraint; the
    /// commit fails whole.
    #[error("check constraint '{constraint}' failed on table '{table}'")]
    CheckConstraintFailed {
        /// The table's name.
        table: String,
        /// The constraint's name.
        constraint: String,
    },
    /// A row leaves NULL in a non-nullable column or one under a `NotNull`
    /// constraint (after `Default` constraints filled theirs); the commit
    /// fails whole.
    #[error("NOT NULL violation: column '{column}' in table '{table}'")]
    NotNullViolation {
        /// The table's name.
        table: String,
        /// The column left NULL.
        column: String,
    },
    /// A value cannot be converted to its column's type (integers convert
    /// between the integer types when they fit, `Text` and `Json` into each
    /// other, nothing else); the commit fails whole.
    #[error(
        "type mismatch: column '{column}' in table '{table}' expected {expected}, got {actual}"
    )]
    TypeMismatch {
        /// The table's name.
        table: String,
        /// The column written or compared.
        column: String,
        /// The column's type.
        expected: String,
        /// The kind of value given (`Integer`, `Text`, ...).
        actual: String,
    },
    /// A row, key, index or alteration names a column the table lacks.
    #[error("unknown column '{column}' in table '{table}'")]
    UnknownColumn {
        /// The table's name.
        table: String,
        /// The column name given.
        column: String,
    },
    /// Optimistic concurrency lost: a key or range of the commit's read set
    /// changed since it was read, or a processor's checkpoint moved. Read
    /// again and retry.
    #[error("conflict error: {0}")]
    Conflict(String),
    /// A subtraction or negative increment would go below its type's range
    /// (below zero for unsigned values); the commit fails whole.
    #[error("underflow")]
    Underflow,
    /// An addition (an increment, an accumulator delta, a sum in an
    /// assertion) would exceed its type's range; the commit fails whole.
    #[error("overflow")]
    Overflow,
    /// The caller lacks a right the call needs; the message names the call
    /// and what was missing. A grant is needed: retrying alone fails again.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A reactive processor's handler ran longer than `max_run_duration_ms`;
    /// the run counts as failed and is retried as its options allow.
    #[error("timeout")]
    Timeout,
    /// A read at a past seq asked for a commit older than the retained
    /// snapshots (`snapshot_retention_commits`, `max_snapshot_age_ms`); read
    /// at a newer seq.
    #[error("snapshot expired")]
    SnapshotExpired,
    /// An event-stream read asked for events the outbox no longer holds (the
    /// retention pruned them).
    #[error(
        "the event stream holds the events of commits after seq {oldest_after} only; events after seq {requested} were asked for"
    )]
    EventsExpired {
        /// The seq after which events were asked for.
        requested: u64,
        /// The seq after which the outbox is still complete; read from it or later.
        oldest_after: u64,
    },
    /// An accumulator delta whose order key does not exceed the last one
    /// (order keys strictly increase per accumulator).
    #[error("accumulator {accumulator}: order key {got} does not follow the latest, {latest}")]
    OrderKeyNotIncreasing {
        /// Its qualified name, `project.scope.name`.
        accumulator: String,
        /// The highest order key it has taken.
        latest: u64,
        /// The order key the refused delta carried.
        got: u64,
    },
    /// The circuit breaker: reserving `requested` would take the accumulator's
    /// available amount (effective value less the margin, less open
    /// exposure) below zero. Counted in its exposure metrics.
    #[error(
        "accumulator {project_id}.{scope_id}.{accumulator_name}: exposure of {requested} refused, {available} available"
    )]
    ExposureRejected {
        /// The accumulator's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// Its name.
        accumulator_name: String,
        /// The exposure asked for.
        requested: i64,
        /// What could still be reserved (may be negative).
        available: i64,
    },
    /// A change-feed subscription asked for changes the log no longer holds:
    /// it keeps the last `change_feed_retain_commits` commits.
    #[error(
        "the change feed holds the changes of commits after seq {oldest_after} only; changes after seq {requested} were asked for"
    )]
    ChangeFeedExpired {
        /// The seq after which changes were asked for.
        requested: u64,
        /// The seq after which the log is still complete; subscribe from it or later.
        oldest_after: u64,
    },
    /// A backup or restore refused: `path` is the backup or data directory,
    /// `detail` what is wrong (a missing or damaged file, a broken chain, a
    /// wrong key, a seq the chain does not cover, an occupied target).
    #[error("backup {path}: {detail}")]
    Backup {
        /// The backup file or directory, or the data directory.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A migration was refused; nothing of it (or of the run it was part of,
    /// when the run's checks refused it before any commit) was written.
    #[error("migration {version} of {project_id}.{scope_id}: {problem}")]
    Migration {
        /// The project the migration belongs to.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The migration's version (numbered from 1).
        version: u64,
        /// Why it was refused.
        problem: MigrationProblem,
    },
    /// A read assertion (of an envelope, or a compare-and-* call's version
    /// check) did not hold; the commit wrote nothing.
    #[error("assertion {index} failed: {assertion:?} found {actual:?}")]
    AssertionFailed {
        /// Its position in the envelope's assertions (0 for a single check).
        index: usize,
        /// The assertion that failed, as given.
        assertion: Box<ReadAssertion>,
        /// What it found (for `All`, `Any` and `Not`, what the deciding part found).
        actual: Box<AssertionActual>,
    },
}

/// The stable code of an [`AedbError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AedbErrorCode {
    /// A storage I/O failure not classified by a more specific code.
    Io,
    /// `AedbError::Encode`.
    Encode,
    /// `AedbError::Decode`.
    Decode,
    /// `AedbError::Validation`, `QueryError::InvalidQuery`, and storage limits
    /// (a key, value or transaction too large, a bad tree name).
    Validation,
    /// `AedbError::InvalidConfig`, and storage refusals of the key (missing,
    /// unexpected or wrong) or of the page size.
    InvalidConfig,
    /// `AedbError::IntegrityError`, and any corruption storage reports.
    IntegrityError,
    /// `AedbError::Unavailable`, `QueryError::SeqNotYetVisible`, a failed
    /// storage task, or a database that is already open.
    Unavailable,
    /// `AlreadyExists` for a project.
    ProjectAlreadyExists,
    /// `AlreadyExists` for a scope.
    ScopeAlreadyExists,
    /// `AlreadyExists` for a table.
    TableAlreadyExists,
    /// `AlreadyExists` for an index.
    IndexAlreadyExists,
    /// `AlreadyExists` for an accumulator.
    AccumulatorAlreadyExists,
    /// `NotFound` for a project.
    ProjectNotFound,
    /// `NotFound` for a scope.
    ScopeNotFound,
    /// `NotFound` for a table, and `QueryError::TableNotFound`.
    TableNotFound,
    /// `NotFound` for an index.
    IndexNotFound,
    /// `NotFound` for an accumulator.
    AccumulatorNotFound,
    /// `AedbError::DuplicatePK`.
    DuplicatePrimaryKey,
    /// `AedbError::UniqueViolation`.
    UniqueViolation,
    /// `AedbError::CheckConstraintFailed`.
    CheckConstraintFailed,
    /// `AedbError::NotNullViolation`.
    NotNullViolation,
    /// `AedbError::TypeMismatch` and `QueryError::TypeMismatch`.
    TypeMismatch,
    /// `AedbError::UnknownColumn` and `QueryError::ColumnNotFound`.
    UnknownColumn,
    /// `AedbError::Conflict`.
    Conflict,
    /// `AedbError::Underflow`.
    Underflow,
    /// `AedbError::Overflow`.
    Overflow,
    /// `AedbError::PermissionDenied`.
    PermissionDenied,
    /// `AedbError::Timeout`.
    Timeout,
    /// `AedbError::SnapshotExpired`, `QueryError::SnapshotExpired`, and a
    /// storage snapshot no longer retained.
    SnapshotExpired,
    /// `AedbError::AssertionFailed`.
    AssertionFailed,
    /// `AedbError::ChangeFeedExpired`.
    ChangeFeedExpired,
    /// `AedbError::OrderKeyNotIncreasing`.
    OrderKeyNotIncreasing,
    /// `AedbError::ExposureRejected`.
    ExposureRejected,
    /// `AedbError::EventsExpired`.
    EventsExpired,
    /// `AedbError::Backup`.
    Backup,
    /// `QueryError::ScanBoundExceeded`.
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
    /// The code as a stable snake_case string (`"table_not_found"`), safe
    /// to store and match on.
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
    /// This error's stable code. A `Storage` error gets its cause's code:
    /// `IntegrityError` for corruption, `Poisoned` or `OutOfSpace` for a
    /// stopped engine, `Io` for other I/O failures.
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
