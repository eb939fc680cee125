//! Grants, read policies and ownership as catalog data (FORMAT.md "Catalog").
//!
//! A grant is the record `g\0 <u32 BE caller length> <caller id> <MessagePack
//! permission>` → `GrantRecord`: the key is exact, so granting twice replaces
//! and revoking is one delete, and a caller id may hold any bytes (even NUL)
//! without breaking the `\0`-separated keys of the other records. A read policy
//! is `r\0<project>\0<scope>\0<table>` → `ReadPolicyRecord`.

use crate::catalog::names::{Names2, Names3};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, encode_record};
use crate::error::AedbError;
use crate::permission::Permission;
use crate::vocab::expr::Expr;

pub(crate) const GRANT_TAG: &[u8] = b"g\0";

/// One grant as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct GrantRecord {
    pub caller_id: String,
    pub permission: Permission,
    /// Who granted it (`None`: a plain call of an open-mode instance).
    pub granted_by: Option<String>,
    /// The grantee may grant it, or anything it implies, on.
    pub delegable: bool,
    pub granted_at_seq: u64,
    pub granted_at_micros: u64,
}

/// A table's read policy as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ReadPolicyRecord {
    pub predicate: Expr,
    pub set_by: Option<String>,
    pub set_at_seq: u64,
}

pub(crate) fn grant_key(caller_id: &str, permission: &Permission) -> Result<Vec<u8>, AedbError> {
    let len = u32::try_from(caller_id.len())
        .map_err(|_| AedbError::Validation("caller id longer than 4 GiB".into()))?;
    let mut key = GRANT_TAG.to_vec();
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(caller_id.as_bytes());
    key.extend_from_slice(&encode_record(permission)?);
    Ok(key)
}

pub(crate) fn policy_key(project: &str, scope: &str, table: &str) -> Vec<u8> {
    [
        b"r\0",
        project.as_bytes(),
        b"\0",
        scope.as_bytes(),
        b"\0",
        table.as_bytes(),
    ]
    .concat()
}

impl Catalog {
    /// The grants `caller_id` holds (empty for a caller without any).
    pub(crate) fn grants_of(&self, caller_id: &str) -> impl Iterator<Item = &GrantRecord> {
        self.grants
            .get(caller_id)
            .into_iter()
            .flat_map(|m| m.values())
    }

    pub(crate) fn grant(&self, caller_id: &str, permission: &Permission) -> Option<&GrantRecord> {
        self.grants.get(caller_id)?.get(permission)
    }

    /// Whether `caller_id` holds a grant that covers `permission` and may be
    /// passed on.
    pub(crate) fn has_delegable_grant(&self, caller_id: &str, permission: &Permission) -> bool {
        self.grants_of(caller_id)
            .any(|g| g.delegable && g.permission.implies(permission))
    }

    pub(crate) fn is_owner_of_project(&self, caller_id: &str, project: &str) -> bool {
        self.projects
            .get(project)
            .is_some_and(|p| p.owner_id.as_deref() == Some(caller_id))
    }

    pub(crate) fn is_owner_of_scope(&self, caller_id: &str, project: &str, scope: &str) -> bool {
        self.scopes
            .get(&(project, scope) as &dyn Names2)
            .is_some_and(|s| s.owner_id.as_deref() == Some(caller_id))
    }

    pub(crate) fn is_owner_of_table(
        &self,
        caller_id: &str,
        project: &str,
        scope: &str,
        table: &str,
    ) -> bool {
        self.tables
            .get(&(project, scope, table) as &dyn Names3)
            .is_some_and(|t| t.schema().owner_id.as_deref() == Some(caller_id))
    }

    /// The read policy of a table, if it has one.
    pub(crate) fn read_policy(
        &self,
        project: &str,
        scope: &str,
        table: &str,
    ) -> Option<&ReadPolicyRecord> {
        if self.read_policies.is_empty() {
            return None;
        }
        self.read_policies
            .get(&(project, scope, table) as &dyn Names3)
    }
}
