//! The catalog: projects, scopes, tables and indexes, kept as records in the
//! system tree `_catalog` (so DDL commits, replays and snapshots exactly like data)
//! and cached in memory per catalog version.
//!
//! Layout of `_catalog` (FORMAT.md "Catalog"): `\0v` → u64 BE seq of the last DDL
//! commit (the cache key), `\0n` → next tree id, `p\0<project>` → project record,
//! `s\0<project>\0<scope>` → scope record, `t\0<project>\0<scope>\0<table>` → table
//! record (schema + indexes). Rows of table id N live in tree `t<N>`, index id N
//! in `i<N>`, the KV space of scope id N in `k<N>`.
//!
//! Invariants:
//! 1. The catalog is data: every change is a `_catalog` record written in the
//!    commit's own write transaction (`CatalogTxn`), so DDL replays, rolls back
//!    and snapshots exactly like rows.
//! 2. A reader of a snapshot uses that snapshot's catalog: the shared
//!    `CatalogCache` answers only when it certainly describes the snapshot
//!    (facade invariant 2, ARCHITECTURE.md), and a DDL commit holds a `DdlGuard`
//!    from before it can become visible until its catalog is published.
//! 3. This room knows records, names and compiled checks; it does not read or
//!    write rows (that is `table`) nor apply `DdlOperation`s (`commit::ddl`).

mod cache;
mod grants;
pub(crate) mod names;
pub mod schema;
mod table_info;
mod txn;
pub mod types;

use names::{Names2, Names3};
use std::collections::BTreeMap;
use std::sync::Arc;

use aedb_btree::{PageSource, Tree};
use serde::{Deserialize, Serialize};

use crate::error::AedbError;
pub use crate::error::ResourceType;
use crate::permission::Permission;
use crate::vocab::expr::Expr;
pub(crate) use cache::CatalogCache;
pub(crate) use grants::{GrantRecord, ReadPolicyRecord, grant_key, policy_key};
use schema::{AccumulatorValueType, ColumnDef, IndexDef, IndexType, TableAlteration, TableSchema};
pub(crate) use table_info::{TableColumns, TableInfo};
pub(crate) use txn::CatalogTxn;

/// Name of the system tree holding the catalog.
pub(crate) const CATALOG_TREE: &str = "_catalog";
/// The scope every project starts with.
pub(crate) const DEFAULT_SCOPE_ID: &str = "app";
pub(crate) const VERSION_KEY: &[u8] = b"\0v";
pub(crate) const NEXT_ID_KEY: &[u8] = b"\0n";
/// Longest project, scope, table, index or column name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// A schema change, committed like any mutation (`Mutation::Ddl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum DdlOperation {
    /// Creates a project and its default scope `app`, both owned by
    /// `owner_id`.
    CreateProject {
        /// The new project's id (1 to 128 bytes, no control characters).
        project_id: String,
        /// Its owner, who holds admin rights over it without a grant. `None`:
        /// the committing caller (no owner for a call without a caller).
        owner_id: Option<String>,
        /// Make an existing project a no-op instead of `AlreadyExists`.
        if_not_exists: bool,
    },
    /// Drops a project with all its scopes, tables, accumulators and KV data,
    /// and the grants and read policies bounded to it.
    DropProject {
        /// The project to drop.
        project_id: String,
        /// Make a missing project a no-op instead of `NotFound`.
        if_exists: bool,
    },
    /// Creates a scope (its own tables, accumulators and KV space) in a project.
    CreateScope {
        /// The project, which must exist.
        project_id: String,
        /// The new scope's name (1 to 128 bytes, no control characters).
        scope_id: String,
        /// Its owner, who holds admin rights over it without a grant. `None`:
        /// the committing caller (no owner for a call without a caller).
        owner_id: Option<String>,
        /// Make an existing scope a no-op instead of `AlreadyExists`.
        if_not_exists: bool,
    },
    /// Drops a scope with its tables, accumulators and KV data, and the
    /// grants and read policies bounded to it.
    DropScope {
        /// Its project.
        project_id: String,
        /// The scope to drop.
        scope_id: String,
        /// Make a missing scope a no-op instead of `NotFound`.
        if_exists: bool,
    },
    /// Creates a table (an existing one is `AlreadyExists`). Primary-key columns
    /// must exist and be non-nullable.
    CreateTable {
        /// Its project.
        project_id: String,
        /// Its scope, which must exist.
        scope_id: String,
        /// The new table's name (1 to 128 bytes, no control characters).
        table_name: String,
        /// Its owner, who holds admin rights over it without a grant. `None`:
        /// the committing caller (no owner for a call without a caller).
        owner_id: Option<String>,
        /// Its columns, in row order: at least one, names unique.
        columns: Vec<ColumnDef>,
        /// The primary-key column names, in key order: at least one.
        primary_key: Vec<String>,
    },
    /// Changes an existing table's columns or constraints.
    AlterTable {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table to change.
        table_name: String,
        /// The change.
        alteration: TableAlteration,
    },
    /// Drops a table with its rows and indexes, and the grants and read
    /// policy bounded to it.
    DropTable {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table to drop.
        table_name: String,
        /// Make a missing table a no-op instead of `NotFound`.
        if_exists: bool,
    },
    /// Builds the index from the table's rows in the same commit.
    CreateIndex {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table to index.
        table_name: String,
        /// The index's name (1 to 128 bytes, no control characters), unique in
        /// the table.
        index_name: String,
        /// Make an index of that name a no-op instead of `AlreadyExists` (its
        /// definition is not compared).
        if_not_exists: bool,
        /// The indexed columns, in key order: at least one.
        columns: Vec<String>,
        /// How it is kept; a unique one fails the create (`UniqueViolation`) if
        /// existing rows hold duplicates.
        index_type: IndexType,
        /// Only rows matching it are indexed (`None`: every row).
        partial_filter: Option<Expr>,
    },
    /// Drops a secondary index. An index a `Unique` constraint owns goes with
    /// the constraint (`DropConstraint`), not here.
    DropIndex {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The indexed table.
        table_name: String,
        /// The index to drop.
        index_name: String,
        /// Make a missing index a no-op instead of `NotFound`.
        if_exists: bool,
    },
    /// Grants `permission` to `caller_id`. The committing caller (or, for a
    /// plain call, `actor_id`) is recorded as the grantor; with `delegable`, the
    /// grantee may grant it (or narrower) on.
    GrantPermission {
        /// The grantee's caller id (1 to 1024 bytes).
        caller_id: String,
        /// The right granted.
        permission: Permission,
        /// The grantor recorded for a call without a caller; ignored when the
        /// call has one.
        actor_id: Option<String>,
        /// Whether the grantee may grant it (or a narrower right) on.
        delegable: bool,
    },
    /// Removes a grant `caller_id` holds; revoking one it does not hold is
    /// `Validation`.
    RevokePermission {
        /// The grantee whose grant goes.
        caller_id: String,
        /// The grant to remove, exactly as it was granted.
        permission: Permission,
        /// Not used: the audit row names the committing caller.
        actor_id: Option<String>,
    },
    /// Makes `new_owner_id` the owner of a project, scope or table.
    TransferOwnership {
        /// `Project`, `Scope` or `Table`; other kinds are `Validation`.
        resource_type: ResourceType,
        /// The project, or the one holding the scope or table.
        project_id: String,
        /// The scope; needed for `Scope` and `Table`.
        scope_id: Option<String>,
        /// The table; needed for `Table`.
        table_name: Option<String>,
        /// The new owner's caller id (1 to 1024 bytes).
        new_owner_id: String,
        /// Not used: the audit row names the committing caller.
        actor_id: Option<String>,
    },
    /// Callers without `PolicyBypass` see only the table's rows that satisfy
    /// `predicate` (`Expr::EqCaller` binds their id), in queries and in the
    /// rows predicated mutations touch.
    SetReadPolicy {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table filtered.
        table_name: String,
        /// The rows a caller sees; it must compile against the table, and it
        /// replaces any earlier policy.
        predicate: Expr,
        /// Recorded as the setter for a call without a caller; ignored when the
        /// call has one.
        actor_id: Option<String>,
    },
    /// Removes the table's read policy, if it has one: every caller with read
    /// rights sees every row again.
    ClearReadPolicy {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table.
        table_name: String,
        /// Not used: the audit row names the committing caller.
        actor_id: Option<String>,
    },
    /// An accumulator: exactly-once additive state (deltas identified by a
    /// dedupe key, ordered by an order key) with an exposure circuit breaker.
    CreateAccumulator {
        /// Its project.
        project_id: String,
        /// Its scope, which must exist.
        scope_id: String,
        /// The new accumulator's name (1 to 128 bytes, no control characters).
        accumulator_name: String,
        /// Make an existing accumulator a no-op even if its settings differ
        /// (identical settings are a no-op anyway, else `AlreadyExists`).
        if_not_exists: bool,
        /// What it adds up.
        value_type: AccumulatorValueType,
        /// Commits a dedupe key is remembered for (`None`: always).
        dedupe_retain_commits: Option<u64>,
        /// The projector materializes the value every this many deltas.
        snapshot_every: u64,
        /// Share of the effective value exposures may not reserve, in basis
        /// points (1,000 = 10 %).
        exposure_margin_bps: u32,
        /// Commits after which an open exposure expires (`None`: never).
        exposure_ttl_commits: Option<u64>,
    },
    /// Drops an accumulator with its state, deltas and exposures.
    DropAccumulator {
        /// Its project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The accumulator to drop.
        accumulator_name: String,
        /// Make a missing accumulator a no-op instead of `NotFound`.
        if_exists: bool,
    },
}

/// An accumulator as stored: its tree id and settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AccumulatorRecord {
    /// Tree id of its state (`a<id>`).
    pub id: u64,
    pub value_type: AccumulatorValueType,
    pub dedupe_retain_commits: Option<u64>,
    pub snapshot_every: u64,
    pub exposure_margin_bps: u32,
    pub exposure_ttl_commits: Option<u64>,
    pub created_at_micros: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ProjectRecord {
    pub owner_id: Option<String>,
    pub created_at_micros: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ScopeRecord {
    /// Tree id of the scope's KV space.
    pub id: u64,
    pub owner_id: Option<String>,
    pub created_at_micros: u64,
}

/// A secondary index as stored: its tree id and definition. `constraint` names
/// the `Unique` constraint it enforces (such indexes are not listed as indexes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct IndexRecord {
    pub id: u64,
    pub def: IndexDef,
    pub constraint: Option<String>,
}

/// A table as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct TableRecord {
    pub id: u64,
    pub schema: TableSchema,
    pub indexes: Vec<IndexRecord>,
    pub created_at_micros: u64,
}

pub(crate) fn rows_tree(id: u64) -> String {
    format!("t{id}")
}

pub(crate) fn index_tree(id: u64) -> String {
    format!("i{id}")
}

pub(crate) fn kv_tree(scope_id: u64) -> String {
    format!("k{scope_id}")
}

pub(crate) fn accumulator_tree(id: u64) -> String {
    format!("a{id}")
}

/// The whole catalog as of one version.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    /// Seq of the commit that last changed the catalog (0: never).
    pub version: u64,
    pub(crate) next_id: u64,
    pub(crate) projects: BTreeMap<String, ProjectRecord>,
    pub(crate) scopes: BTreeMap<(String, String), ScopeRecord>,
    pub(crate) tables: BTreeMap<(String, String, String), Arc<TableInfo>>,
    /// Grants by grantee, then permission.
    pub(crate) grants: BTreeMap<String, BTreeMap<Permission, GrantRecord>>,
    pub(crate) read_policies: BTreeMap<(String, String, String), ReadPolicyRecord>,
    pub(crate) accumulators: BTreeMap<(String, String, String), AccumulatorRecord>,
}

pub(crate) fn project_key(project: &str) -> Vec<u8> {
    [b"p\0", project.as_bytes()].concat()
}

pub(crate) fn scope_key(project: &str, scope: &str) -> Vec<u8> {
    [b"s\0", project.as_bytes(), b"\0", scope.as_bytes()].concat()
}

pub(crate) fn table_key(project: &str, scope: &str, table: &str) -> Vec<u8> {
    [
        b"t\0",
        project.as_bytes(),
        b"\0",
        scope.as_bytes(),
        b"\0",
        table.as_bytes(),
    ]
    .concat()
}

pub(crate) fn accumulator_key(project: &str, scope: &str, name: &str) -> Vec<u8> {
    [
        b"a\0",
        project.as_bytes(),
        b"\0",
        scope.as_bytes(),
        b"\0",
        name.as_bytes(),
    ]
    .concat()
}

pub(crate) fn encode_record<T: Serialize>(record: &T) -> Result<Vec<u8>, AedbError> {
    rmp_serde::to_vec_named(record).map_err(|e| AedbError::Encode(e.to_string()))
}

fn decode_record<T: for<'de> Deserialize<'de>>(key: &[u8], bytes: &[u8]) -> Result<T, AedbError> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        AedbError::Decode(format!(
            "catalog record {:?}: {e}",
            String::from_utf8_lossy(key)
        ))
    })
}

fn decode_u64(key: &[u8], bytes: &[u8]) -> Result<u64, AedbError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        AedbError::Decode(format!(
            "catalog key {key:?}: {} bytes, expected 8",
            bytes.len()
        ))
    })?;
    Ok(u64::from_be_bytes(arr))
}

/// The catalog version stored in a `_catalog` tree (0 for an empty one).
pub(crate) fn stored_version<S: PageSource>(tree: &Tree<'_, S>) -> Result<u64, AedbError> {
    match tree.get(VERSION_KEY)? {
        Some(v) => decode_u64(VERSION_KEY, &v),
        None => Ok(0),
    }
}

impl Catalog {
    /// Reads every record of a `_catalog` tree.
    pub(crate) fn load<S: PageSource>(tree: &Tree<'_, S>) -> Result<Catalog, AedbError> {
        let mut cat = Catalog::default();
        for entry in tree.iter()? {
            let (k, v) = entry?;
            if k.starts_with(grants::GRANT_TAG) {
                let g: GrantRecord = decode_record(&k, &v)?;
                if grant_key(&g.caller_id, &g.permission)? != k[..] {
                    return Err(AedbError::Decode(format!(
                        "catalog grant record under key {:?} names another grant",
                        String::from_utf8_lossy(&k)
                    )));
                }
                cat.grants
                    .entry(g.caller_id.clone())
                    .or_default()
                    .insert(g.permission.clone(), g);
                continue;
            }
            let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
            let text = |i: usize| String::from_utf8_lossy(parts[i]).into_owned();
            match (parts[0], parts.len()) {
                (b"", _) if &k[..] == VERSION_KEY => cat.version = decode_u64(&k, &v)?,
                (b"", _) if &k[..] == NEXT_ID_KEY => cat.next_id = decode_u64(&k, &v)?,
                (b"p", 2) => {
                    cat.projects.insert(text(1), decode_record(&k, &v)?);
                }
                (b"s", 3) => {
                    cat.scopes
                        .insert((text(1), text(2)), decode_record(&k, &v)?);
                }
                (b"t", 4) => {
                    let record: TableRecord = decode_record(&k, &v)?;
                    cat.tables.insert(
                        (text(1), text(2), text(3)),
                        Arc::new(TableInfo::new(record)),
                    );
                }
                (b"r", 4) => {
                    cat.read_policies
                        .insert((text(1), text(2), text(3)), decode_record(&k, &v)?);
                }
                (b"a", 4) => {
                    cat.accumulators
                        .insert((text(1), text(2), text(3)), decode_record(&k, &v)?);
                }
                _ => {
                    return Err(AedbError::Decode(format!(
                        "unknown catalog key {:?}",
                        String::from_utf8_lossy(&k)
                    )));
                }
            }
        }
        Ok(cat)
    }

    pub(crate) fn project(&self, project: &str) -> Result<&ProjectRecord, AedbError> {
        self.projects
            .get(project)
            .ok_or_else(|| AedbError::not_found(ResourceType::Project, project))
    }

    /// The scope, or `NotFound` naming the project or the scope that is missing.
    pub(crate) fn scope(&self, project: &str, scope: &str) -> Result<&ScopeRecord, AedbError> {
        self.project(project)?;
        self.scopes
            .get(&(project, scope) as &dyn Names2)
            .ok_or_else(|| AedbError::not_found(ResourceType::Scope, format!("{project}.{scope}")))
    }

    /// The accumulator, or `NotFound` naming what is missing.
    pub(crate) fn accumulator(
        &self,
        project: &str,
        scope: &str,
        name: &str,
    ) -> Result<&AccumulatorRecord, AedbError> {
        self.scope(project, scope)?;
        self.accumulators
            .get(&(project, scope, name) as &dyn Names3)
            .ok_or_else(|| {
                AedbError::not_found(
                    ResourceType::Accumulator,
                    format!("{project}.{scope}.{name}"),
                )
            })
    }

    /// The table, or `NotFound` naming the missing project, scope or table.
    pub(crate) fn table(
        &self,
        project: &str,
        scope: &str,
        table: &str,
    ) -> Result<&Arc<TableInfo>, AedbError> {
        if let Some(t) = self.tables.get(&(project, scope, table) as &dyn Names3) {
            return Ok(t);
        }
        // A table's scope exists while it does: only a miss asks which is missing.
        self.scope(project, scope)?;
        Err(AedbError::not_found(
            ResourceType::Table,
            format!("{project}.{scope}.{table}"),
        ))
    }

    pub(crate) fn project_ids(&self) -> Vec<String> {
        self.projects.keys().cloned().collect()
    }

    pub(crate) fn scope_ids(&self, project: &str) -> Vec<String> {
        self.scopes
            .keys()
            .filter(|(p, _)| p == project)
            .map(|(_, s)| s.clone())
            .collect()
    }

    pub(crate) fn tables_in(&self, project: &str, scope: &str) -> Vec<Arc<TableInfo>> {
        self.tables
            .iter()
            .filter(|((p, s, _), _)| p == project && s == scope)
            .map(|(_, t)| t.clone())
            .collect()
    }
}

/// Checks a user-chosen name: 1..=128 bytes, no NUL or control characters.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<(), AedbError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return Err(AedbError::Validation(format!(
            "invalid {kind} name {name:?}: names are 1..={MAX_NAME_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}
