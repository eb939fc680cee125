//! Catalog methods: projects and scopes (idempotent, as in aedb 0.1.9), and the
//! listing / describing helpers, all read at the latest snapshot. Each has a
//! `*_as` twin; a caller sees only the projects, scopes and tables it has a
//! right in, and asking about one it has none in is `PermissionDenied`, the
//! same whether or not it exists.

use std::sync::Arc;

use crate::auth::{Call, authorize, authorize_table_read, sees_project, sees_scope};
use crate::catalog::schema::{IndexDef, TableSchema};
use crate::catalog::{Catalog, DdlOperation};
use crate::commit::CommitFinality;
use crate::commit::mutation::Mutation;
use crate::error::AedbError;
use crate::instance::{AedbInstance, engine};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;

/// A project and how much it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectInfo {
    /// The project's name.
    pub project_id: String,
    /// Scopes in the project, the default `app` included.
    pub scope_count: u32,
    /// When the project was created, in microseconds since the Unix epoch.
    pub created_at_micros: u64,
}

impl AedbInstance {
    async fn ddl(&self, call: Call<'_>, op: DdlOperation) -> Result<(), AedbError> {
        self.write(
            call,
            vec![Mutation::Ddl(op)],
            CommitFinality::Durable,
            false,
        )
        .await
        .map(|_| ())
    }

    /// Creates a project (with its default scope `app`); no error if it exists.
    pub async fn create_project(&self, project_id: &str) -> Result<(), AedbError> {
        self.ddl(
            self.call("create_project", None),
            create_project(project_id),
        )
        .await
    }

    /// `create_project` for `caller` (needs `GlobalAdmin`); the caller owns it.
    pub async fn create_project_as(
        &self,
        caller: CallerContext,
        project_id: &str,
    ) -> Result<(), AedbError> {
        let call = self.call("create_project_as", Some(caller));
        self.ddl(call, create_project(project_id)).await
    }

    /// Drops a project and everything in it, with the grants and read
    /// policies bounded to it; no error if it does not exist.
    pub async fn drop_project(&self, project_id: &str) -> Result<(), AedbError> {
        self.ddl(self.call("drop_project", None), drop_project(project_id))
            .await
    }

    /// `drop_project` for `caller` (needs `ProjectAdmin` on it, or to own it).
    pub async fn drop_project_as(
        &self,
        caller: CallerContext,
        project_id: &str,
    ) -> Result<(), AedbError> {
        let call = self.call("drop_project_as", Some(caller));
        self.ddl(call, drop_project(project_id)).await
    }

    /// Creates a scope in an existing project; no error if it exists.
    pub async fn create_scope(&self, project_id: &str, scope_id: &str) -> Result<(), AedbError> {
        let call = self.call("create_scope", None);
        self.ddl(call, create_scope(project_id, scope_id)).await
    }

    /// `create_scope` for `caller` (needs `ProjectAdmin`, or to own the project);
    /// the caller owns the new scope.
    pub async fn create_scope_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
    ) -> Result<(), AedbError> {
        let call = self.call("create_scope_as", Some(caller));
        self.ddl(call, create_scope(project_id, scope_id)).await
    }

    /// Drops a scope with its tables and KV space; no error if it does not exist.
    pub async fn drop_scope(&self, project_id: &str, scope_id: &str) -> Result<(), AedbError> {
        let call = self.call("drop_scope", None);
        self.ddl(call, drop_scope(project_id, scope_id)).await
    }

    /// `drop_scope` for `caller` (needs `ProjectAdmin`, or to own the project).
    pub async fn drop_scope_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
    ) -> Result<(), AedbError> {
        let call = self.call("drop_scope_as", Some(caller));
        self.ddl(call, drop_scope(project_id, scope_id)).await
    }

    /// The latest catalog, once `check` allows `call` to read what it asks.
    async fn catalog_for(
        &self,
        call: &Call<'_>,
        check: impl FnOnce(&Catalog) -> Result<(), AedbError>,
    ) -> Result<Arc<Catalog>, AedbError> {
        let r = (|| {
            let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
            let cat = self.catalog_of(&txn)?;
            check(&cat)?;
            Ok(cat)
        })();
        self.audited(call, r).await
    }

    /// A denial unless the caller has a right in `project` (or is trusted).
    fn in_project(cat: &Catalog, call: &Call<'_>, project: &str) -> Result<(), AedbError> {
        authorize(cat, call, &Need::Global).or_else(|e| {
            if call.user().is_some() && sees_project(cat, call, project) {
                Ok(())
            } else {
                Err(e)
            }
        })
    }

    /// A denial unless the caller has a right in `project.scope`.
    fn in_scope(
        cat: &Catalog,
        call: &Call<'_>,
        project: &str,
        scope: &str,
    ) -> Result<(), AedbError> {
        authorize(cat, call, &Need::Global).or_else(|e| {
            if call.user().is_some() && sees_scope(cat, call, project, scope) {
                Ok(())
            } else {
                Err(e)
            }
        })
    }

    /// Whether project `project_id` exists.
    pub async fn project_exists(&self, project_id: &str) -> Result<bool, AedbError> {
        self.project_exists_for(self.call("project_exists", None), project_id)
            .await
    }

    /// `project_exists` for `caller`, who needs a right in the project (or
    /// `GlobalAdmin`); else `PermissionDenied`, whether or not it exists.
    pub async fn project_exists_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
    ) -> Result<bool, AedbError> {
        let call = self.call_by("project_exists_as", Some(caller));
        self.project_exists_for(call, project_id).await
    }

    async fn project_exists_for(
        &self,
        call: Call<'_>,
        project_id: &str,
    ) -> Result<bool, AedbError> {
        let cat = self
            .catalog_for(&call, |c| Self::in_project(c, &call, project_id))
            .await?;
        Ok(cat.project(project_id).is_ok())
    }

    /// Every project, with its scope count and creation time.
    pub async fn list_projects(&self) -> Result<Vec<ProjectInfo>, AedbError> {
        self.list_projects_for(self.call("list_projects", None))
            .await
    }

    /// The projects `caller` has a right in (every project for `GlobalAdmin`).
    pub async fn list_projects_as(
        &self,
        caller: &CallerContext,
    ) -> Result<Vec<ProjectInfo>, AedbError> {
        self.list_projects_for(self.call_by("list_projects_as", Some(caller)))
            .await
    }

    async fn list_projects_for(&self, call: Call<'_>) -> Result<Vec<ProjectInfo>, AedbError> {
        // In production and secure mode a plain call is refused; a caller
        // lists what it may see.
        let cat = self
            .catalog_for(&call, |c| match call.user() {
                Some(_) => Ok(()),
                None => authorize(c, &call, &Need::Global),
            })
            .await?;
        cat.project_ids()
            .into_iter()
            .filter(|p| call.user().is_none() || Self::in_project(&cat, &call, p).is_ok())
            .map(|p| {
                let rec = cat.project(&p)?;
                Ok(ProjectInfo {
                    scope_count: cat.scope_ids(&p).len() as u32,
                    created_at_micros: rec.created_at_micros,
                    project_id: p,
                })
            })
            .collect()
    }

    /// Scope names of a project (`NotFound` if the project does not exist).
    pub async fn list_scopes(&self, project_id: &str) -> Result<Vec<String>, AedbError> {
        self.list_scopes_for(self.call("list_scopes", None), project_id)
            .await
    }

    /// The scopes of `project_id` that `caller` has a right in.
    pub async fn list_scopes_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
    ) -> Result<Vec<String>, AedbError> {
        let call = self.call_by("list_scopes_as", Some(caller));
        self.list_scopes_for(call, project_id).await
    }

    async fn list_scopes_for(
        &self,
        call: Call<'_>,
        project_id: &str,
    ) -> Result<Vec<String>, AedbError> {
        let cat = self
            .catalog_for(&call, |c| Self::in_project(c, &call, project_id))
            .await?;
        cat.project(project_id)?;
        Ok(cat
            .scope_ids(project_id)
            .into_iter()
            .filter(|s| Self::in_scope(&cat, &call, project_id, s).is_ok())
            .collect())
    }

    /// The schemas of the tables of a scope (`NotFound` if the scope does not exist).
    pub async fn list_tables(
        &self,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<TableSchema>, AedbError> {
        self.list_tables_for(self.call("list_tables", None), project_id, scope_id)
            .await
    }

    /// The tables of a scope that `caller` may read or change.
    pub async fn list_tables_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<TableSchema>, AedbError> {
        let call = self.call_by("list_tables_as", Some(caller));
        self.list_tables_for(call, project_id, scope_id).await
    }

    async fn list_tables_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<TableSchema>, AedbError> {
        let cat = self
            .catalog_for(&call, |c| Self::in_scope(c, &call, project_id, scope_id))
            .await?;
        cat.scope(project_id, scope_id)?;
        Ok(cat
            .tables_in(project_id, scope_id)
            .iter()
            .filter(|t| Self::on_table(&cat, &call, project_id, scope_id, t.name()).is_ok())
            .map(|t| t.schema().clone())
            .collect())
    }

    /// A denial unless the caller may read, write or change `table`.
    fn on_table(
        cat: &Catalog,
        call: &Call<'_>,
        project: &str,
        scope: &str,
        table: &str,
    ) -> Result<(), AedbError> {
        authorize_table_read(cat, call, project, scope, table)
            .map(|_| ())
            .or_else(|e| {
                let write = Need::TableWrite {
                    project,
                    scope,
                    table,
                };
                authorize(cat, call, &write).map_err(|_| e)
            })
            .or_else(|e| {
                let ddl = Need::Ddl {
                    project,
                    scope,
                    table: Some(table),
                };
                authorize(cat, call, &ddl).map_err(|_| e)
            })
    }

    /// The schema of one table (`NotFound` if it does not exist).
    pub async fn describe_table(
        &self,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<TableSchema, AedbError> {
        let call = self.call("describe_table", None);
        self.describe_table_for(call, project_id, scope_id, table)
            .await
    }

    /// `describe_table` for `caller`, who needs to read (`TableRead` or
    /// `IndexRead`), write or change the table.
    pub async fn describe_table_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<TableSchema, AedbError> {
        let call = self.call_by("describe_table_as", Some(caller));
        self.describe_table_for(call, project_id, scope_id, table)
            .await
    }

    async fn describe_table_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<TableSchema, AedbError> {
        let cat = self
            .catalog_for(&call, |c| {
                Self::on_table(c, &call, project_id, scope_id, table)
            })
            .await?;
        Ok(cat.table(project_id, scope_id, table)?.schema().clone())
    }

    /// Secondary indexes of a table (not the hidden indexes of unique constraints).
    pub async fn list_indexes(
        &self,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<Vec<IndexDef>, AedbError> {
        let call = self.call("list_indexes", None);
        self.list_indexes_for(call, project_id, scope_id, table)
            .await
    }

    /// `list_indexes` for `caller` (as `describe_table_as`).
    pub async fn list_indexes_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<Vec<IndexDef>, AedbError> {
        let call = self.call_by("list_indexes_as", Some(caller));
        self.list_indexes_for(call, project_id, scope_id, table)
            .await
    }

    async fn list_indexes_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<Vec<IndexDef>, AedbError> {
        let cat = self
            .catalog_for(&call, |c| {
                Self::on_table(c, &call, project_id, scope_id, table)
            })
            .await?;
        let t = cat.table(project_id, scope_id, table)?;
        Ok(t.record
            .indexes
            .iter()
            .filter(|ix| ix.constraint.is_none())
            .map(|ix| ix.def.clone())
            .collect())
    }
}

fn create_project(project_id: &str) -> DdlOperation {
    DdlOperation::CreateProject {
        project_id: project_id.into(),
        owner_id: None,
        if_not_exists: true,
    }
}

fn drop_project(project_id: &str) -> DdlOperation {
    DdlOperation::DropProject {
        project_id: project_id.into(),
        if_exists: true,
    }
}

fn create_scope(project_id: &str, scope_id: &str) -> DdlOperation {
    DdlOperation::CreateScope {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        owner_id: None,
        if_not_exists: true,
    }
}

fn drop_scope(project_id: &str, scope_id: &str) -> DdlOperation {
    DdlOperation::DropScope {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        if_exists: true,
    }
}
