//! Versioned migrations: a numbered list of mutations per (project, scope),
//! each applied at most once, in order, in one commit with the record that it
//! was applied (`_system.app.schema_migrations`, see `history`).
//!
//! Invariants:
//! 1. A migration and its history record commit together: the history never
//!    says a migration ran that did not, nor misses one that did (a crash
//!    leaves both or neither).
//! 2. The checks that refuse a migration (an edited applied migration, a
//!    history ahead of the code, a version older than the newest applied)
//!    run again inside the write transaction, so two callers running the
//!    same list cannot both apply a version.
//! 3. The checksum covers everything that defines a migration: version,
//!    name, project, scope, mutations and down mutations.
//!
//! Room order: above `commit` (a migration is mutations applied through a
//! `WriteCtx`), below `instance` (whose door `instance::migration` runs them).

pub(crate) mod history;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::commit::mutation::Mutation;
use crate::error::{AedbError, MigrationProblem};
use crate::vocab::hex;

/// One versioned change of a scope's schema or data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Migration {
    /// Its place in the scope's history (from 1; applied in ascending order).
    pub version: u64,
    /// Shown in reports and recorded in the history.
    pub name: String,
    /// Project of the scope whose history it belongs to.
    pub project_id: String,
    /// The scope whose history it belongs to.
    pub scope_id: String,
    /// What applying it does, in one commit.
    pub mutations: Vec<Mutation>,
    /// What rolling it back does (`None`: it cannot be rolled back).
    #[serde(default)]
    pub down_mutations: Option<Vec<Mutation>>,
}

impl Migration {
    /// SHA-256 (hex) of the migration's MessagePack encoding, with struct
    /// fields and enum variants by name (so reordering a type's fields or
    /// adding a variant elsewhere leaves it unchanged): it changes when
    /// anything that defines the migration changes.
    pub fn checksum_hex(&self) -> Result<String, AedbError> {
        let bytes = rmp_serde::to_vec_named(self).map_err(|e| AedbError::Encode(e.to_string()))?;
        Ok(hex(&Sha256::digest(&bytes)))
    }

    /// The refusal of this migration for `problem`.
    pub(crate) fn refused(&self, problem: MigrationProblem) -> AedbError {
        AedbError::Migration {
            project_id: self.project_id.clone(),
            scope_id: self.scope_id.clone(),
            version: self.version,
            problem,
        }
    }
}

/// A migration as the history records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MigrationRecord {
    /// The migration's version.
    pub version: u64,
    /// The migration's name when it was applied.
    pub name: String,
    /// Project of the scope.
    pub project_id: String,
    /// The scope whose history holds it.
    pub scope_id: String,
    /// Wall-clock time of the commit that applied it.
    pub applied_at_micros: u64,
    /// The commit that applied it.
    pub applied_seq: u64,
    /// [`Migration::checksum_hex`] when it was applied.
    pub checksum_hex: String,
}

/// What `run_migrations` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this run: version, name, time its commit took.
    pub applied: Vec<(u64, String, Duration)>,
    /// Versions that were applied before (same checksum), so left alone.
    pub skipped: Vec<u64>,
    /// The newest applied version after the run (the highest among the scopes
    /// the run touched; 0 for none).
    pub current_version: u64,
}
