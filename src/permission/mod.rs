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
    KvRead {
        project_id: String,
        scope_id: Option<String>,
        prefix: Option<Vec<u8>>,
    },
    KvWrite {
        project_id: String,
        scope_id: Option<String>,
        prefix: Option<Vec<u8>>,
    },
    TableRead {
        project_id: String,
        scope_id: String,
        table_name: String,
    },
    TableWrite {
        project_id: String,
        scope_id: String,
        table_name: String,
    },
    IndexRead {
        project_id: String,
        scope_id: String,
        table_name: String,
        index_name: String,
    },
    TableDdl {
        project_id: String,
    },
    GlobalAdmin,
    ProjectAdmin {
        project_id: String,
    },
    ScopeAdmin {
        project_id: String,
        scope_id: String,
    },
    PolicyBypass {
        project_id: String,
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
