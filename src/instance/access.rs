//! The read side of the authorization seam, and the access-control doors.
//!
//! Every read door takes its snapshot, then asks `crate::auth` (through
//! `read_gate` or `authorize_read`) before it reads a row or says whether
//! anything exists; a denied call, read or write, is recorded in
//! `_system.app.authz_audit` (`audit_denied`). The doors here change who may do
//! what: read policies and ownership (grants and revokes are `DdlOperation`s,
//! committed with `commit` / `commit_as`).

use crate::auth::{Call, ReadAccess, authorize, authorize_table_read, read_filter};
use crate::catalog::{Catalog, DdlOperation, ResourceType};
use crate::commit::CommitFinality;
use crate::commit::CommitResult;
use crate::commit::mutation::Mutation;
use crate::error::{AedbError, QueryError};
use crate::instance::AedbInstance;
use crate::permission::{CallerContext, Need};
use crate::query::ReadGate;
use crate::query::plan::Query;
use crate::vocab::expr::Expr;

impl AedbInstance {
    /// Records a denial of `call` in the audit (off the async workers).
    pub(crate) async fn audit_denied(&self, call: &Call<'_>, detail: String) {
        let this = self.clone();
        let call = call.clone().into_owned();
        let _ = tokio::task::spawn_blocking(move || this.audit_denial(&call, detail)).await;
    }

    /// `r`, after recording it in the audit if it is a denial.
    pub(crate) async fn audited<T>(
        &self,
        call: &Call<'_>,
        r: Result<T, AedbError>,
    ) -> Result<T, AedbError> {
        if let Err(e @ AedbError::PermissionDenied(_)) = &r {
            self.audit_denied(call, e.to_string()).await;
        }
        r
    }

    /// `audited` for the query doors' error type.
    pub(crate) async fn audited_query<T>(
        &self,
        call: &Call<'_>,
        r: Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        if let Err(QueryError::Engine(e @ AedbError::PermissionDenied(_))) = &r {
            self.audit_denied(call, e.to_string()).await;
        }
        r
    }

    /// Authorizes a query of `project.scope` for `call` on the catalog of its
    /// snapshot: every table it reads needs `TableRead` (the base table may
    /// instead be read through an `IndexRead` index); returns the read
    /// policies that apply, and binds the caller into `EqCaller` leaves.
    pub(crate) fn read_gate(
        &self,
        cat: &Catalog,
        call: &Call<'_>,
        project: &str,
        scope: &str,
        query: &mut Query,
    ) -> Result<ReadGate, AedbError> {
        let mut gate = ReadGate::default();
        if let ReadAccess::ThroughIndexes(ix) =
            authorize_table_read(cat, call, project, scope, &query.table)?
        {
            gate.through_indexes = Some(ix);
        }
        for j in &query.joins {
            let need = Need::TableRead {
                project,
                scope,
                table: &j.table,
            };
            authorize(cat, call, &need)?;
        }
        if call.user().is_some() && !cat.read_policies.is_empty() {
            let tables = std::iter::once(&query.table).chain(query.joins.iter().map(|j| &j.table));
            for t in tables {
                if let Some(p) = read_filter(cat, call, project, scope, t) {
                    gate.policies.push((t.clone(), p));
                }
            }
        }
        if let Some(id) = call.user() {
            for e in [&mut query.predicate, &mut query.having]
                .into_iter()
                .flatten()
            {
                if e.names_caller() {
                    e.bind_caller(id);
                }
            }
        }
        Ok(gate)
    }

    async fn access_ddl(
        &self,
        call: Call<'_>,
        op: DdlOperation,
    ) -> Result<CommitResult, AedbError> {
        self.write(
            call,
            vec![Mutation::Ddl(op)],
            CommitFinality::Durable,
            false,
        )
        .await
    }

    /// Callers without `PolicyBypass` (or an admin or owner right over the
    /// table) see only rows satisfying `predicate`; `Expr::EqCaller(column)`
    /// in it compares a column with the reading caller's id.
    pub async fn set_read_policy(
        &self,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        predicate: Expr,
    ) -> Result<(), AedbError> {
        let call = self.call("set_read_policy", None);
        self.access_ddl(
            call,
            set_policy(project_id, scope_id, table_name, predicate),
        )
        .await
        .map(|_| ())
    }

    /// `set_read_policy` for `caller` (needs `TableDdl` on the project, or an
    /// admin or owner right over the table).
    pub async fn set_read_policy_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        predicate: Expr,
    ) -> Result<(), AedbError> {
        let call = self.call("set_read_policy_as", Some(caller));
        self.access_ddl(
            call,
            set_policy(project_id, scope_id, table_name, predicate),
        )
        .await
        .map(|_| ())
    }

    /// Removes the table's read policy, so every reader sees every row; no
    /// error if it has none.
    pub async fn clear_read_policy(
        &self,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
    ) -> Result<(), AedbError> {
        let call = self.call("clear_read_policy", None);
        self.access_ddl(call, clear_policy(project_id, scope_id, table_name))
            .await
            .map(|_| ())
    }

    /// `clear_read_policy` for `caller` (as `set_read_policy_as`).
    pub async fn clear_read_policy_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
    ) -> Result<(), AedbError> {
        let call = self.call("clear_read_policy_as", Some(caller));
        self.access_ddl(call, clear_policy(project_id, scope_id, table_name))
            .await
            .map(|_| ())
    }

    /// Makes `new_owner_id` the owner of a project (`scope_id`, `table_name`
    /// `None`), a scope or a table.
    pub async fn transfer_ownership(
        &self,
        resource_type: ResourceType,
        project_id: &str,
        scope_id: Option<&str>,
        table_name: Option<&str>,
        new_owner_id: &str,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("transfer_ownership", None);
        let op = transfer(
            resource_type,
            project_id,
            scope_id,
            table_name,
            new_owner_id,
        );
        self.access_ddl(call, op).await
    }

    /// `transfer_ownership` for `caller`, who must own the resource or administer
    /// what holds it (`GlobalAdmin` for a project, the project for a scope, the
    /// scope for a table).
    pub async fn transfer_ownership_as(
        &self,
        caller: CallerContext,
        resource_type: ResourceType,
        project_id: &str,
        scope_id: Option<&str>,
        table_name: Option<&str>,
        new_owner_id: &str,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("transfer_ownership_as", Some(caller));
        let op = transfer(
            resource_type,
            project_id,
            scope_id,
            table_name,
            new_owner_id,
        );
        self.access_ddl(call, op).await
    }
}

fn set_policy(project: &str, scope: &str, table: &str, predicate: Expr) -> DdlOperation {
    DdlOperation::SetReadPolicy {
        project_id: project.into(),
        scope_id: scope.into(),
        table_name: table.into(),
        predicate,
        actor_id: None,
    }
}

fn clear_policy(project: &str, scope: &str, table: &str) -> DdlOperation {
    DdlOperation::ClearReadPolicy {
        project_id: project.into(),
        scope_id: scope.into(),
        table_name: table.into(),
        actor_id: None,
    }
}

fn transfer(
    kind: ResourceType,
    project: &str,
    scope: Option<&str>,
    table: Option<&str>,
    new_owner: &str,
) -> DdlOperation {
    DdlOperation::TransferOwnership {
        resource_type: kind,
        project_id: project.into(),
        scope_id: scope.map(Into::into),
        table_name: table.map(Into::into),
        new_owner_id: new_owner.into(),
        actor_id: None,
    }
}
