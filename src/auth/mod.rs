//! The one authorization seam. Every public door names its call, passes its
//! caller (or none) and what it needs (`Need`) to `authorize`, against the
//! catalog of the snapshot or write transaction it is about to read or write,
//! before it touches a row or reveals whether a resource exists. Read policies
//! come out of here too (`read_filter`) as predicates for the planner.
//!
//! Invariants:
//! 1. Decisions use names, never existence: a caller without rights on
//!    `p.s.t` is denied whether or not `p.s.t` exists, so a denial tells
//!    nothing a grant would not.
//! 2. Nothing but the engine writes the `_system` project: a user caller is
//!    denied even with `GlobalAdmin`, a plain call even in open mode.
//! 3. Without a caller (a plain call) an open-mode instance trusts the process
//!    that opened it; a production or secure instance refuses, naming the call.

use std::borrow::Cow;

use crate::catalog::Catalog;
use crate::error::{AedbError, ResourceType};
use crate::permission::{CallerContext, Need, Permission};
use crate::vocab::expr::Expr;

/// The project the engine keeps its own tables in (audit trails).
pub(crate) const SYSTEM_PROJECT: &str = "_system";

/// Which calls an instance accepts, by how it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccessMode {
    /// `open`: plain calls are trusted; `*_as` calls are checked.
    Open,
    /// `open_production`: every data call needs a caller.
    Production,
    /// `open_secure`: as production, on a hardened configuration.
    Secure,
}

impl AccessMode {
    fn opener(self) -> &'static str {
        match self {
            AccessMode::Open => "open",
            AccessMode::Production => "open_production",
            AccessMode::Secure => "open_secure",
        }
    }
}

/// One public call: its name (for errors and the audit) and its caller,
/// borrowed from the caller's argument where the call does not outlive it (a
/// read), owned where it does (a write queued for the committer, an audit).
#[derive(Debug, Clone)]
pub(crate) struct Call<'c> {
    pub(crate) name: &'static str,
    pub(crate) caller: Option<Cow<'c, CallerContext>>,
    pub(crate) mode: AccessMode,
}

impl Call<'_> {
    /// The same call, owning its caller.
    pub(crate) fn into_owned(self) -> Call<'static> {
        Call {
            name: self.name,
            caller: self.caller.map(|c| Cow::Owned(c.into_owned())),
            mode: self.mode,
        }
    }

    /// The user caller's id, if the call has a user caller.
    pub(crate) fn user(&self) -> Option<&str> {
        self.caller
            .as_ref()
            .filter(|c| !c.is_system())
            .map(|c| c.caller_id.as_str())
    }

    pub(crate) fn is_system(&self) -> bool {
        self.caller.as_ref().is_some_and(|c| c.is_system())
    }
}

/// What a need is about, in words, for a denial.
fn describe(need: &Need<'_>) -> String {
    match *need {
        Need::Global => "administer the database".into(),
        Need::Project { project } => format!("administer project {project}"),
        Need::Scope { project, scope } => format!("administer scope {project}.{scope}"),
        Need::Ddl {
            project,
            scope,
            table: None,
        } => format!("change the schema of {project}.{scope}"),
        Need::Ddl {
            project,
            scope,
            table: Some(t),
        } => format!("change the schema of {project}.{scope}.{t}"),
        Need::TableRead {
            project,
            scope,
            table,
        } => format!("read table {project}.{scope}.{table}"),
        Need::TableWrite {
            project,
            scope,
            table,
        } => format!("write table {project}.{scope}.{table}"),
        Need::KvRead {
            project,
            scope,
            key,
        } => format!("read KV key {key:?} of {project}.{scope}"),
        Need::KvScan {
            project,
            scope,
            prefix,
        } => format!("scan KV prefix {prefix:?} of {project}.{scope}"),
        Need::KvWrite {
            project,
            scope,
            key,
        } => format!("write KV key {key:?} of {project}.{scope}"),
        Need::Bypass {
            project,
            scope,
            table,
        } => format!("read past the read policy of {project}.{scope}.{table}"),
        Need::Events {
            project,
            scope,
            write,
        } => format!(
            "{} events of {project}.{scope}",
            if write { "emit" } else { "read" }
        ),
        Need::Processor { name } => format!("move the checkpoint of processor {name:?}"),
        Need::Accumulator {
            project,
            scope,
            name,
            write,
        } => format!(
            "{} accumulator {project}.{scope}.{name}",
            if write { "change" } else { "read" }
        ),
    }
}

fn denied(call: &Call<'_>, why: String) -> AedbError {
    AedbError::PermissionDenied(format!("{}: {why}", call.name))
}

/// Whether `caller_id` owns the project, scope or table `need` is about (an
/// owner holds the admin rights over what it owns).
fn owns(cat: &Catalog, caller_id: &str, need: &Need<'_>) -> bool {
    let Some(project) = need.project() else {
        return false;
    };
    if cat.is_owner_of_project(caller_id, project) {
        return true;
    }
    let Some(scope) = need.scope() else {
        return false;
    };
    if cat.is_owner_of_scope(caller_id, project, scope) {
        return true;
    }
    need.table()
        .is_some_and(|t| cat.is_owner_of_table(caller_id, project, scope, t))
}

/// Whether a user caller holds `need` by a grant or by ownership.
pub(crate) fn holds(cat: &Catalog, caller_id: &str, need: &Need<'_>) -> bool {
    !caller_id.is_empty()
        && (cat.grants_of(caller_id).any(|g| g.permission.covers(need))
            || owns(cat, caller_id, need))
}

/// The check: may `call` do what `need` says, on the state `cat` describes?
pub(crate) fn authorize(cat: &Catalog, call: &Call<'_>, need: &Need<'_>) -> Result<(), AedbError> {
    if call.is_system() {
        return Ok(());
    }
    if need.writes() && need.project() == Some(SYSTEM_PROJECT) {
        return Err(denied(
            call,
            format!("only the engine writes the {SYSTEM_PROJECT} project"),
        ));
    }
    match &call.caller {
        None if call.mode == AccessMode::Open => Ok(()),
        None => Err(denied(
            call,
            format!(
                "this instance was opened with {} and needs an authenticated caller: use {}_as",
                call.mode.opener(),
                call.name
            ),
        )),
        Some(c) if holds(cat, &c.caller_id, need) => Ok(()),
        Some(c) => Err(denied(
            call,
            format!("caller {:?} may not {}", c.caller_id, describe(need)),
        )),
    }
}

/// How a caller may read a table: whole, or only through certain indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadAccess {
    Whole,
    /// Only queries the planner answers through one of these indexes.
    ThroughIndexes(Vec<String>),
}

/// `authorize` for reading a table: `TableRead` (or anything covering it), or,
/// failing that, the `IndexRead` grants the caller holds on the table.
pub(crate) fn authorize_table_read(
    cat: &Catalog,
    call: &Call<'_>,
    project: &str,
    scope: &str,
    table: &str,
) -> Result<ReadAccess, AedbError> {
    let need = Need::TableRead {
        project,
        scope,
        table,
    };
    match authorize(cat, call, &need) {
        Ok(()) => Ok(ReadAccess::Whole),
        Err(e) => {
            let Some(id) = call.user() else {
                return Err(e);
            };
            let indexes: Vec<String> = cat
                .grants_of(id)
                .filter_map(|g| match &g.permission {
                    Permission::IndexRead {
                        project_id,
                        scope_id,
                        table_name,
                        index_name,
                    } if project_id == project && scope_id == scope && table_name == table => {
                        Some(index_name.clone())
                    }
                    _ => None,
                })
                .collect();
            if indexes.is_empty() {
                Err(e)
            } else {
                Ok(ReadAccess::ThroughIndexes(indexes))
            }
        }
    }
}

/// The read policy of a table as it applies to `call`: the policy's predicate
/// with the caller's id bound in, or `None` when the table has no policy or the
/// caller may read past it (no caller in open mode, the system, `PolicyBypass`
/// or an admin or owner right covering it).
pub(crate) fn read_filter(
    cat: &Catalog,
    call: &Call<'_>,
    project: &str,
    scope: &str,
    table: &str,
) -> Option<Expr> {
    let policy = cat.read_policy(project, scope, table)?;
    let id = call.user()?;
    let bypass = Need::Bypass {
        project,
        scope,
        table,
    };
    if holds(cat, id, &bypass) {
        return None;
    }
    let mut p = policy.predicate.clone();
    p.bind_caller(id);
    Some(p)
}

/// May `call` grant `permission`? With the admin right over its realm, or a
/// delegable grant that implies it.
pub(crate) fn authorize_grant(
    cat: &Catalog,
    call: &Call<'_>,
    permission: &Permission,
) -> Result<(), AedbError> {
    let realm = permission.realm();
    match authorize(cat, call, &realm) {
        Ok(()) => Ok(()),
        Err(_)
            if call
                .user()
                .is_some_and(|id| cat.has_delegable_grant(id, permission)) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// May `call` revoke `caller_id`'s `permission`? With the admin right over its
/// realm, or as the one who granted it.
pub(crate) fn authorize_revoke(
    cat: &Catalog,
    call: &Call<'_>,
    caller_id: &str,
    permission: &Permission,
) -> Result<(), AedbError> {
    match authorize(cat, call, &permission.realm()) {
        Ok(()) => Ok(()),
        Err(_)
            if call.user().is_some_and(|id| {
                cat.grant(caller_id, permission)
                    .is_some_and(|g| g.granted_by.as_deref() == Some(id))
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// May `call` give away a project (`GlobalAdmin` or its owner), a scope (its
/// project's admin or its owner) or a table (its scope's admin or its owner)?
pub(crate) fn authorize_transfer(
    cat: &Catalog,
    call: &Call<'_>,
    kind: ResourceType,
    project: &str,
    scope: Option<&str>,
    table: Option<&str>,
) -> Result<(), AedbError> {
    let (parent, owner) = match (kind, scope, table) {
        (ResourceType::Project, _, _) => (
            Need::Global,
            call.user()
                .is_some_and(|id| cat.is_owner_of_project(id, project)),
        ),
        (ResourceType::Scope, Some(s), _) => (
            Need::Project { project },
            call.user()
                .is_some_and(|id| cat.is_owner_of_scope(id, project, s)),
        ),
        (ResourceType::Table, Some(s), Some(t)) => (
            Need::Scope { project, scope: s },
            call.user()
                .is_some_and(|id| cat.is_owner_of_table(id, project, s, t)),
        ),
        _ => {
            return Err(AedbError::Validation(format!(
                "TransferOwnership of a {kind} needs {}",
                match kind {
                    ResourceType::Scope => "scope_id",
                    ResourceType::Table => "scope_id and table_name",
                    _ => "a project, scope or table",
                }
            )));
        }
    };
    if project == SYSTEM_PROJECT && !call.is_system() {
        return Err(denied(
            call,
            format!("only the engine owns the {SYSTEM_PROJECT} project"),
        ));
    }
    if owner {
        return Ok(());
    }
    authorize(cat, call, &parent)
}

/// Whether the caller may see that a project exists: any right in it (a grant
/// bounded to it, `GlobalAdmin`, or owning it or something in it).
pub(crate) fn sees_project(cat: &Catalog, call: &Call<'_>, project: &str) -> bool {
    let Some(id) = call.user() else {
        return call.caller.is_some() || call.mode == AccessMode::Open;
    };
    cat.grants_of(id).any(|g| {
        matches!(g.permission, Permission::GlobalAdmin)
            || g.permission.project_id() == Some(project)
    }) || cat.is_owner_of_project(id, project)
        || cat
            .scopes
            .iter()
            .any(|((p, _), s)| p == project && s.owner_id.as_deref() == Some(id))
        || cat
            .tables
            .iter()
            .any(|((p, _, _), t)| p == project && t.schema().owner_id.as_deref() == Some(id))
}

/// Whether the caller may see that a scope exists: a right bounded to it or to
/// its whole project.
pub(crate) fn sees_scope(cat: &Catalog, call: &Call<'_>, project: &str, scope: &str) -> bool {
    let Some(id) = call.user() else {
        return call.caller.is_some() || call.mode == AccessMode::Open;
    };
    cat.grants_of(id).any(|g| {
        let p = &g.permission;
        matches!(p, Permission::GlobalAdmin)
            || (p.project_id() == Some(project) && p.scope_id().is_none_or(|s| s == scope))
    }) || cat.is_owner_of_project(id, project)
        || cat.is_owner_of_scope(id, project, scope)
        || cat.tables.iter().any(|((p, s, _), t)| {
            p == project && s == scope && t.schema().owner_id.as_deref() == Some(id)
        })
}
