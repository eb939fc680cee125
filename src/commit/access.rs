//! DDL as a caller: who may run each `DdlOperation` (through the one seam,
//! `crate::auth`), the access-control operations themselves (grants, revokes,
//! ownership transfers, read policies, each with its audit row in the same
//! commit), and what a drop takes with it (the grants and policies bounded to
//! the dropped resource, so a later resource of the same name starts clean).

use crate::auth::{
    SYSTEM_PROJECT, authorize, authorize_grant, authorize_revoke, authorize_transfer,
};
use crate::catalog::schema::TableSchema;
use crate::catalog::{
    DdlOperation, GrantRecord, ReadPolicyRecord, ResourceType, TableColumns, TableRecord,
    encode_record, grant_key, policy_key, project_key, scope_key, table_key,
};
use crate::commit::audit::{AuthzEvent, AuthzRecord};
use crate::commit::context::WriteCtx;
use crate::commit::ddl::{apply_ddl, now_micros};
use crate::error::AedbError;
use crate::eval::compile;
use crate::permission::{Need, Permission};
use crate::query::query_to_aedb;

/// The longest caller id a grant may name, in bytes.
pub const MAX_CALLER_ID_BYTES: usize = 1024;

fn check_grantee(caller_id: &str) -> Result<(), AedbError> {
    if caller_id.is_empty() || caller_id.len() > MAX_CALLER_ID_BYTES {
        return Err(AedbError::Validation(format!(
            "a grantee's caller id is 1..={MAX_CALLER_ID_BYTES} bytes, not {}",
            caller_id.len()
        )));
    }
    Ok(())
}

impl WriteCtx<'_, '_> {
    fn authorize(&self, need: &Need<'_>) -> Result<(), AedbError> {
        authorize(self.cat.catalog(), &self.call, need)
    }

    /// Authorizes `op` for this call, then applies it.
    pub(crate) fn apply_ddl_as(&mut self, mut op: DdlOperation) -> Result<(), AedbError> {
        use DdlOperation as D;
        let owner = self.call.user().map(str::to_string);
        match &mut op {
            D::CreateProject {
                project_id,
                owner_id,
                ..
            } => {
                if project_id == SYSTEM_PROJECT && !self.call.is_system() {
                    return Err(AedbError::PermissionDenied(format!(
                        "{}: only the engine creates the {SYSTEM_PROJECT} project",
                        self.call.name
                    )));
                }
                self.authorize(&Need::Global)?;
                if owner_id.is_none() {
                    owner_id.clone_from(&owner);
                }
            }
            D::DropProject { project_id, .. } => self.authorize(&Need::Project {
                project: project_id,
            })?,
            D::CreateScope {
                project_id,
                owner_id,
                ..
            } => {
                self.authorize(&Need::Project {
                    project: project_id,
                })?;
                if owner_id.is_none() {
                    owner_id.clone_from(&owner);
                }
            }
            D::DropScope { project_id, .. } => self.authorize(&Need::Project {
                project: project_id,
            })?,
            D::CreateTable {
                project_id,
                scope_id,
                owner_id,
                ..
            } => {
                self.authorize(&Need::Ddl {
                    project: project_id,
                    scope: scope_id,
                    table: None,
                })?;
                if owner_id.is_none() {
                    owner_id.clone_from(&owner);
                }
            }
            D::AlterTable {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | D::DropTable {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | D::CreateIndex {
                project_id,
                scope_id,
                table_name,
                ..
            }
            | D::DropIndex {
                project_id,
                scope_id,
                table_name,
                ..
            } => self.authorize(&Need::Ddl {
                project: project_id,
                scope: scope_id,
                table: Some(table_name),
            })?,
            D::CreateAccumulator {
                project_id,
                scope_id,
                ..
            }
            | D::DropAccumulator {
                project_id,
                scope_id,
                ..
            } => self.authorize(&Need::Ddl {
                project: project_id,
                scope: scope_id,
                table: None,
            })?,
            D::GrantPermission { .. }
            | D::RevokePermission { .. }
            | D::TransferOwnership { .. }
            | D::SetReadPolicy { .. }
            | D::ClearReadPolicy { .. } => return self.apply_access(op),
        }
        let forget = self.dropped_resource(&op);
        apply_ddl(&mut self.cat, op)?;
        if let Some((project, scope, table)) = forget {
            self.forget(&project, scope.as_deref(), table.as_deref())?;
        }
        Ok(())
    }

    /// The existing resource a drop removes: (project, scope, table).
    fn dropped_resource(
        &self,
        op: &DdlOperation,
    ) -> Option<(String, Option<String>, Option<String>)> {
        let cat = self.cat.catalog();
        match op {
            DdlOperation::DropProject { project_id, .. } => cat
                .project(project_id)
                .is_ok()
                .then(|| (project_id.clone(), None, None)),
            DdlOperation::DropScope {
                project_id,
                scope_id,
                ..
            } => cat
                .scope(project_id, scope_id)
                .is_ok()
                .then(|| (project_id.clone(), Some(scope_id.clone()), None)),
            DdlOperation::DropTable {
                project_id,
                scope_id,
                table_name,
                ..
            } => cat
                .table(project_id, scope_id, table_name)
                .is_ok()
                .then(|| {
                    (
                        project_id.clone(),
                        Some(scope_id.clone()),
                        Some(table_name.clone()),
                    )
                }),
            _ => None,
        }
    }

    /// Deletes the grants and read policies bounded to a dropped project, scope
    /// or table.
    fn forget(
        &mut self,
        project: &str,
        scope: Option<&str>,
        table: Option<&str>,
    ) -> Result<(), AedbError> {
        let bounded = |p: &Permission| {
            p.project_id() == Some(project)
                && scope.is_none_or(|s| p.scope_id() == Some(s))
                && table.is_none_or(|t| match p {
                    Permission::TableRead { table_name, .. }
                    | Permission::TableWrite { table_name, .. }
                    | Permission::IndexRead { table_name, .. } => table_name == t,
                    _ => false,
                })
        };
        let doomed: Vec<(String, Permission)> = self
            .cat
            .catalog()
            .grants
            .iter()
            .flat_map(|(id, m)| m.keys().map(move |p| (id, p)))
            .filter(|(_, p)| bounded(p))
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        for (id, p) in doomed {
            self.cat.delete(&grant_key(&id, &p)?)?;
            remove_grant(self, &id, &p);
        }
        let policies: Vec<(String, String, String)> = self
            .cat
            .catalog()
            .read_policies
            .keys()
            .filter(|(p, s, t)| {
                p == project && scope.is_none_or(|x| x == s) && table.is_none_or(|x| x == t)
            })
            .cloned()
            .collect();
        for (p, s, t) in policies {
            self.cat.delete(&policy_key(&p, &s, &t))?;
            self.cat.catalog_mut().read_policies.remove(&(p, s, t));
        }
        Ok(())
    }

    /// Grants, revokes, ownership transfers and read policies.
    fn apply_access(&mut self, op: DdlOperation) -> Result<(), AedbError> {
        let seq = self.cat.txn.seq();
        let actor = |given: Option<String>, me: Option<&str>| me.map(str::to_string).or(given);
        let (event, resource, detail) = match op {
            DdlOperation::GrantPermission {
                caller_id,
                permission,
                actor_id,
                delegable,
            } => {
                check_grantee(&caller_id)?;
                self.authorize_system_grant(&permission)?;
                authorize_grant(self.cat.catalog(), &self.call, &permission)?;
                let rec = GrantRecord {
                    caller_id: caller_id.clone(),
                    permission: permission.clone(),
                    granted_by: actor(actor_id, self.call.user()),
                    delegable,
                    granted_at_seq: seq,
                    granted_at_micros: now_micros(),
                };
                self.cat
                    .put(&grant_key(&caller_id, &permission)?, &encode_record(&rec)?)?;
                self.cat
                    .catalog_mut()
                    .grants
                    .entry(caller_id.clone())
                    .or_default()
                    .insert(permission.clone(), rec);
                let d = if delegable { " (delegable)" } else { "" };
                (AuthzEvent::Grant, caller_id, format!("{permission:?}{d}"))
            }
            DdlOperation::RevokePermission {
                caller_id,
                permission,
                ..
            } => {
                self.authorize_system_grant(&permission)?;
                authorize_revoke(self.cat.catalog(), &self.call, &caller_id, &permission)?;
                if self.cat.catalog().grant(&caller_id, &permission).is_none() {
                    return Err(AedbError::Validation(format!(
                        "caller {caller_id:?} holds no grant {permission:?} to revoke"
                    )));
                }
                self.cat.delete(&grant_key(&caller_id, &permission)?)?;
                remove_grant(self, &caller_id, &permission);
                (AuthzEvent::Revoke, caller_id, format!("{permission:?}"))
            }
            DdlOperation::TransferOwnership {
                resource_type,
                project_id,
                scope_id,
                table_name,
                new_owner_id,
                ..
            } => {
                check_grantee(&new_owner_id)?;
                authorize_transfer(
                    self.cat.catalog(),
                    &self.call,
                    resource_type,
                    &project_id,
                    scope_id.as_deref(),
                    table_name.as_deref(),
                )?;
                let resource = self.transfer(
                    resource_type,
                    &project_id,
                    scope_id.as_deref(),
                    table_name.as_deref(),
                    &new_owner_id,
                )?;
                (
                    AuthzEvent::TransferOwnership,
                    resource,
                    format!("new owner {new_owner_id:?}"),
                )
            }
            DdlOperation::SetReadPolicy {
                project_id,
                scope_id,
                table_name,
                predicate,
                actor_id,
            } => {
                self.authorize(&Need::Ddl {
                    project: &project_id,
                    scope: &scope_id,
                    table: Some(&table_name),
                })?;
                let t = self
                    .cat
                    .catalog()
                    .table(&project_id, &scope_id, &table_name)?
                    .clone();
                // The policy must compile against the table for any caller.
                let mut probe = predicate.clone();
                probe.bind_caller("");
                compile(&probe, &TableColumns(&t)).map_err(query_to_aedb)?;
                let rec = ReadPolicyRecord {
                    predicate: predicate.clone(),
                    set_by: actor(actor_id, self.call.user()),
                    set_at_seq: seq,
                };
                self.cat.put(
                    &policy_key(&project_id, &scope_id, &table_name),
                    &encode_record(&rec)?,
                )?;
                self.cat.catalog_mut().read_policies.insert(
                    (project_id.clone(), scope_id.clone(), table_name.clone()),
                    rec,
                );
                (
                    AuthzEvent::SetReadPolicy,
                    format!("{project_id}.{scope_id}.{table_name}"),
                    format!("{predicate:?}"),
                )
            }
            DdlOperation::ClearReadPolicy {
                project_id,
                scope_id,
                table_name,
                ..
            } => {
                self.authorize(&Need::Ddl {
                    project: &project_id,
                    scope: &scope_id,
                    table: Some(&table_name),
                })?;
                let key = (project_id.clone(), scope_id.clone(), table_name.clone());
                if self.cat.catalog().read_policies.contains_key(&key) {
                    self.cat
                        .delete(&policy_key(&project_id, &scope_id, &table_name))?;
                    self.cat.catalog_mut().read_policies.remove(&key);
                }
                (
                    AuthzEvent::ClearReadPolicy,
                    format!("{project_id}.{scope_id}.{table_name}"),
                    String::new(),
                )
            }
            other => {
                return Err(AedbError::Validation(format!(
                    "not an access-control operation: {other:?}"
                )));
            }
        };
        let caller_id = self.call.user().map(str::to_string);
        let call = self.call.name.to_string();
        self.audit_authz(AuthzRecord {
            caller_id,
            event,
            call,
            resource,
            detail,
        })
    }

    /// Rights in `_system` are granted and revoked by a `GlobalAdmin` only.
    fn authorize_system_grant(&self, p: &Permission) -> Result<(), AedbError> {
        if p.project_id() == Some(SYSTEM_PROJECT) {
            self.authorize(&Need::Global)?;
        }
        Ok(())
    }

    /// Sets the owner of a project, scope or table; returns its name.
    fn transfer(
        &mut self,
        kind: ResourceType,
        project: &str,
        scope: Option<&str>,
        table: Option<&str>,
        new_owner: &str,
    ) -> Result<String, AedbError> {
        let owner = Some(new_owner.to_string());
        match (kind, scope, table) {
            (ResourceType::Project, _, _) => {
                let mut rec = self.cat.catalog().project(project)?.clone();
                rec.owner_id = owner;
                self.cat.put(&project_key(project), &encode_record(&rec)?)?;
                self.cat.catalog_mut().projects.insert(project.into(), rec);
                Ok(project.to_string())
            }
            (ResourceType::Scope, Some(s), _) => {
                let mut rec = self.cat.catalog().scope(project, s)?.clone();
                rec.owner_id = owner;
                self.cat
                    .put(&scope_key(project, s), &encode_record(&rec)?)?;
                self.cat
                    .catalog_mut()
                    .scopes
                    .insert((project.into(), s.into()), rec);
                Ok(format!("{project}.{s}"))
            }
            (ResourceType::Table, Some(s), Some(t)) => {
                let info = self.cat.catalog().table(project, s, t)?.clone();
                let record = TableRecord {
                    schema: TableSchema {
                        owner_id: owner,
                        ..info.record.schema.clone()
                    },
                    ..info.record.clone()
                };
                self.cat
                    .put(&table_key(project, s, t), &encode_record(&record)?)?;
                self.cat.catalog_mut().tables.insert(
                    (project.into(), s.into(), t.into()),
                    std::sync::Arc::new(crate::catalog::TableInfo::new(record)),
                );
                Ok(format!("{project}.{s}.{t}"))
            }
            _ => Err(AedbError::Validation(format!(
                "TransferOwnership of a {kind} is not supported"
            ))),
        }
    }
}

fn remove_grant(ctx: &mut WriteCtx<'_, '_>, caller_id: &str, p: &Permission) {
    let grants = &mut ctx.cat.catalog_mut().grants;
    if let Some(m) = grants.get_mut(caller_id) {
        m.remove(p);
        if m.is_empty() {
            grants.remove(caller_id);
        }
    }
}
