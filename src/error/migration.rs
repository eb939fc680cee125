//! Why a migration was refused (the `problem` of `AedbError::Migration`).

/// What was wrong with a migration, or with the stored history it was checked
/// against. Every refusal happens before the migration's commit: a refused
/// migration wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationProblem {
    /// Versions start at 1 (0 is "no migration applied").
    #[error("version 0 is reserved for an empty history; number migrations from 1")]
    VersionZero,
    /// Two migrations of one run share a project, scope and version.
    #[error("the run holds two migrations with this version")]
    DuplicateVersion,
    /// The migration was applied before with different contents: someone
    /// edited a migration that had already run.
    #[error(
        "it was applied with checksum {stored}, the one given has {given}: an applied migration was edited"
    )]
    ChecksumChanged {
        /// The checksum recorded when it was applied.
        stored: String,
        /// The checksum of the migration given now.
        given: String,
    },
    /// The stored history is ahead of the code: the database was migrated by
    /// a newer build than the one running.
    #[error(
        "the stored version is {stored}, ahead of the newest migration given ({newest_given}): a newer build migrated this database"
    )]
    StoredVersionAhead {
        /// The newest version in the history.
        stored: u64,
        /// The newest version among the migrations given.
        newest_given: u64,
    },
    /// A later version is applied already; applying this one now would run
    /// migrations out of order.
    #[error("version {applied} is applied already; this older one never was")]
    OutOfOrder {
        /// The newest applied version.
        applied: u64,
    },
    /// A rollback needs the applied migration's definition, and it was not among
    /// the migrations given.
    #[error("it is applied, but was not among the migrations given to roll back with")]
    NotGiven,
    /// A rollback needs the migration's down mutations, and it has none.
    #[error("it has no down mutations, so it cannot be rolled back")]
    NoDownMutations,
    /// The migration was applied by another caller between this run's checks
    /// and its commit, with the same contents (reported as skipped by runs).
    #[error("it was applied by another caller meanwhile")]
    AppliedMeanwhile,
    /// A rollback found the migration no longer applied (another caller rolled
    /// it back meanwhile).
    #[error("it is not applied")]
    NotApplied,
}
