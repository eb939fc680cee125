//! Catalog methods: projects and scopes (idempotent, as in aedb 0.1.9), and the
//! listing / describing helpers, all read at the latest snapshot.

use crate::catalog::DdlOperation;
use crate::catalog::schema::{IndexDef, TableSchema};
use crate::commit::CommitFinality;
use crate::commit::mutation::Mutation;
use crate::error::AedbError;
use crate::error::QueryError;
use crate::instance::AedbInstance;
use crate::query::plan::ConsistencyMode;

/// A project and how much it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectInfo {
    pub project_id: String,
    pub scope_count: u32,
    pub created_at_micros: u64,
}

fn engine(e: QueryError) -> AedbError {
    match e {
        QueryError::Engine(e) => e,
        other => AedbError::Unavailable {
            message: other.to_string(),
        },
    }
}

impl AedbInstance {
    async fn ddl(&self, op: DdlOperation) -> Result<(), AedbError> {
        self.write(vec![Mutation::Ddl(op)], CommitFinality::Durable, false)
            .await
            .map(|_| ())
    }

    /// Creates a project (with its default scope `app`); no error if it exists.
    pub async fn create_project(&self, project_id: &str) -> Result<(), AedbError> {
        self.ddl(DdlOperation::CreateProject {
            project_id: project_id.into(),
            owner_id: None,
            if_not_exists: true,
        })
        .await
    }

    /// Drops a project and everything in it; no error if it does not exist.
    pub async fn drop_project(&self, project_id: &str) -> Result<(), AedbError> {
        self.ddl(DdlOperation::DropProject {
            project_id: project_id.into(),
            if_exists: true,
        })
        .await
    }

    /// Creates a scope in an existing project; no error if it exists.
    pub async fn create_scope(&self, project_id: &str, scope_id: &str) -> Result<(), AedbError> {
        self.ddl(DdlOperation::CreateScope {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            owner_id: None,
            if_not_exists: true,
        })
        .await
    }

    /// Drops a scope with its tables and KV space; no error if it does not exist.
    pub async fn drop_scope(&self, project_id: &str, scope_id: &str) -> Result<(), AedbError> {
        self.ddl(DdlOperation::DropScope {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            if_exists: true,
        })
        .await
    }

    fn latest_catalog(&self) -> Result<std::sync::Arc<crate::catalog::Catalog>, AedbError> {
        let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
        self.catalog_of(&txn)
    }

    pub async fn project_exists(&self, project_id: &str) -> Result<bool, AedbError> {
        Ok(self.latest_catalog()?.project(project_id).is_ok())
    }

    pub async fn list_projects(&self) -> Result<Vec<ProjectInfo>, AedbError> {
        let cat = self.latest_catalog()?;
        cat.project_ids()
            .into_iter()
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
        let cat = self.latest_catalog()?;
        cat.project(project_id)?;
        Ok(cat.scope_ids(project_id))
    }

    pub async fn list_tables(
        &self,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<TableSchema>, AedbError> {
        let cat = self.latest_catalog()?;
        cat.scope(project_id, scope_id)?;
        Ok(cat
            .tables_in(project_id, scope_id)
            .iter()
            .map(|t| t.schema().clone())
            .collect())
    }

    pub async fn describe_table(
        &self,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<TableSchema, AedbError> {
        Ok(self
            .latest_catalog()?
            .table(project_id, scope_id, table)?
            .schema()
            .clone())
    }

    /// Secondary indexes of a table (not the hidden indexes of unique constraints).
    pub async fn list_indexes(
        &self,
        project_id: &str,
        scope_id: &str,
        table: &str,
    ) -> Result<Vec<IndexDef>, AedbError> {
        let cat = self.latest_catalog()?;
        let t = cat.table(project_id, scope_id, table)?;
        Ok(t.record
            .indexes
            .iter()
            .filter(|ix| ix.constraint.is_none())
            .map(|ix| ix.def.clone())
            .collect())
    }
}
