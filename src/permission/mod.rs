//! `aedb::permission`: who is calling (`CallerContext`) and what a caller may be
//! granted (`Permission`), with the rules for which grant covers which need
//! (`matching`). Pure vocabulary: grants are stored by the catalog, and the one
//! authorization check that reads them is `crate::auth`.
//!
//! Invariants:
//! 1. The internal system caller (audit writes, bootstrap of `_system`) cannot
//!    come from user input: `CallerContext` is not deserializable, its kind is
//!    a private field, and `CallerContext::new` always makes a user caller,
//!    whatever id it is given.
//! 2. A `Permission` names resources by project, scope, table and index names
//!    and KV byte prefixes, never by internal ids, so a grant means the same
//!    before and after the resource is dropped and recreated.

mod matching;

use serde::{Deserialize, Serialize};

pub(crate) use matching::Need;

/// Something a caller may be granted (aedb 0.1.9's ten kinds).
///
/// Which grant allows which call: `GlobalAdmin` allows everything except writes
/// to the `_system` project; `ProjectAdmin` everything inside its project;
/// `ScopeAdmin` everything inside its scope; `TableDdl` creating, altering and
/// dropping tables and indexes in its project; `TableRead` / `TableWrite` one
/// table (reads include its indexes); `IndexRead` queries of one table that the
/// planner answers through that index; `KvRead` / `KvWrite` the keys of a
/// project's KV spaces, optionally of one scope and under one byte prefix;
/// `PolicyBypass` reading past the read policies of one table (or every table)
/// of a project. Owners of a project, scope or table hold the matching admin
/// rights over it without a grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// Reading KV keys; without a prefix, also reading the accumulators and
    /// events of the scopes it reaches.
    KvRead {
        /// The project whose KV spaces it reaches.
        project_id: String,
        /// The one scope it reaches; `None`: every scope of the project.
        scope_id: Option<String>,
        /// Only keys starting with these bytes; `None`: every key.
        prefix: Option<Vec<u8>>,
    },
    /// Writing KV keys; without a prefix, also changing the accumulators and
    /// emitting the events of the scopes it reaches.
    KvWrite {
        /// The project whose KV spaces it reaches.
        project_id: String,
        /// The one scope it reaches; `None`: every scope of the project.
        scope_id: Option<String>,
        /// Only keys starting with these bytes; `None`: every key.
        prefix: Option<Vec<u8>>,
    },
    /// Reading one table's rows, through any of its indexes.
    TableRead {
        /// The table's project.
        project_id: String,
        /// The table's scope.
        scope_id: String,
        /// The table's name.
        table_name: String,
    },
    /// Inserting, updating and deleting one table's rows.
    TableWrite {
        /// The table's project.
        project_id: String,
        /// The table's scope.
        scope_id: String,
        /// The table's name.
        table_name: String,
    },
    /// Queries of one table that the planner answers through one index.
    IndexRead {
        /// The table's project.
        project_id: String,
        /// The table's scope.
        scope_id: String,
        /// The table's name.
        table_name: String,
        /// The index the query must go through.
        index_name: String,
    },
    /// Creating, altering and dropping tables and indexes in any scope of a project.
    TableDdl {
        /// The project it reaches.
        project_id: String,
    },
    /// Everything, except writes to the `_system` project.
    GlobalAdmin,
    /// Everything inside one project.
    ProjectAdmin {
        /// The project it reaches.
        project_id: String,
    },
    /// Everything inside one scope.
    ScopeAdmin {
        /// The scope's project.
        project_id: String,
        /// The scope it reaches.
        scope_id: String,
    },
    /// Reading past the read policies of one table, or of every table of a project.
    PolicyBypass {
        /// The project it reaches.
        project_id: String,
        /// The one table it reaches (in any scope); `None`: every table of the project.
        table_name: Option<String>,
    },
}

impl Permission {
    /// The project the permission is bounded to (`None` for `GlobalAdmin`).
    pub fn project_id(&self) -> Option<&str> {
        match self {
            Permission::GlobalAdmin => None,
            Permission::KvRead { project_id, .. }
            | Permission::KvWrite { project_id, .. }
            | Permission::TableRead { project_id, .. }
            | Permission::TableWrite { project_id, .. }
            | Permission::IndexRead { project_id, .. }
            | Permission::TableDdl { project_id }
            | Permission::ProjectAdmin { project_id }
            | Permission::ScopeAdmin { project_id, .. }
            | Permission::PolicyBypass { project_id, .. } => Some(project_id),
        }
    }

    /// The scope the permission is bounded to, if it is bounded to one.
    pub fn scope_id(&self) -> Option<&str> {
        match self {
            Permission::KvRead { scope_id, .. } | Permission::KvWrite { scope_id, .. } => {
                scope_id.as_deref()
            }
            Permission::TableRead { scope_id, .. }
            | Permission::TableWrite { scope_id, .. }
            | Permission::IndexRead { scope_id, .. }
            | Permission::ScopeAdmin { scope_id, .. } => Some(scope_id),
            _ => None,
        }
    }
}

/// Who is calling: an application caller id (any non-empty string the
/// application authenticated), or the engine's own system caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerContext {
    /// The application's id for the caller, whose grants and ownerships apply;
    /// `_system` for the engine's own caller.
    pub caller_id: String,
    /// Private on purpose (invariant 1): only the crate makes a system caller.
    kind: CallerKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CallerKind {
    User,
    System,
}

/// The id the system caller records in audit rows.
pub(crate) const SYSTEM_CALLER_ID: &str = "_system";

impl CallerContext {
    /// An application caller. Its rights are the grants and ownerships recorded
    /// for `caller_id`; an empty id holds none.
    pub fn new(caller_id: impl Into<String>) -> Self {
        CallerContext {
            caller_id: caller_id.into(),
            kind: CallerKind::User,
        }
    }

    /// The engine itself (audit writes, `_system` bootstrap).
    pub(crate) fn system() -> Self {
        CallerContext {
            caller_id: SYSTEM_CALLER_ID.to_string(),
            kind: CallerKind::System,
        }
    }

    pub(crate) fn is_system(&self) -> bool {
        self.kind == CallerKind::System
    }
}
