//! `SchemaSpec`: the tables a scope should hold, declared in code; `plan`
//! shows the DDL that would take the stored schema there (a dry run: every
//! step executed in a write transaction that is then rolled back), `apply`
//! commits it, all of it in one durable commit.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use crate::auth::authorize;
use crate::commit::CommitFinality;
use crate::commit::context::WriteCtx;
use crate::commit::tx::Conditions;
use crate::error::AedbError;
use crate::instance::{AedbInstance, Composed, WritePlan};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;

use super::diff::{Target, diff, execute};
use super::plan::SchemaPlan;
use super::spec::TableSpec;

/// The schema one scope should have. Tables are matched by name and columns
/// by name (a renamed column is a drop and an add: rename with a versioned
/// migration, `TableMigrationBuilder::rename_column`, to keep its values).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaSpec {
    /// Project of the scope (created by the plan when missing).
    pub project_id: String,
    /// The scope whose tables are declared (created when missing).
    pub scope_id: String,
    /// Every table the scope should hold, by name.
    pub tables: Vec<TableSpec>,
    /// Whether stored tables the spec does not declare are dropped (default:
    /// kept, and listed in the plan's `undeclared_tables`).
    pub drop_undeclared: bool,
}

impl SchemaSpec {
    /// A spec declaring no table yet (undeclared tables kept).
    pub fn new(project_id: impl Into<String>, scope_id: impl Into<String>) -> Self {
        SchemaSpec {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            tables: Vec::new(),
            drop_undeclared: false,
        }
    }

    /// Declares a table.
    pub fn table(mut self, table: TableSpec) -> Self {
        self.tables.push(table);
        self
    }

    /// With `true`, the plan drops stored tables the spec does not declare,
    /// with their rows.
    pub fn drop_undeclared_tables(mut self, drop: bool) -> Self {
        self.drop_undeclared = drop;
        self
    }

    fn target(&self) -> Target<'_> {
        Target {
            project: &self.project_id,
            scope: &self.scope_id,
            tables: &self.tables,
            drop_undeclared: self.drop_undeclared,
        }
    }

    /// Checks every table spec, and that no table is declared twice.
    pub fn validate(&self) -> Result<(), AedbError> {
        let mut names = BTreeSet::new();
        for t in &self.tables {
            t.validate()?;
            if !names.insert(t.table_name.as_str()) {
                return Err(AedbError::Validation(format!(
                    "schema spec {}.{}: table '{}' is declared twice",
                    self.project_id, self.scope_id, t.table_name
                )));
            }
        }
        Ok(())
    }

    /// The steps that would take the stored schema to this one, executed and
    /// rolled back: a plan that returns `Ok` applies, unless the state
    /// changes before `apply`. Empty when the stored schema is this one.
    pub async fn plan(&self, db: &AedbInstance) -> Result<SchemaPlan, AedbError> {
        self.run(db, None, true).await
    }

    /// `plan` for `caller`, who needs the rights every step needs.
    pub async fn plan_as(
        &self,
        db: &AedbInstance,
        caller: CallerContext,
    ) -> Result<SchemaPlan, AedbError> {
        self.run(db, Some(caller), true).await
    }

    /// Takes the stored schema to this one in one durable commit, planned
    /// against the state that commit sees; nothing is written when it is this
    /// one already, or when any step fails (the error says which and why).
    pub async fn apply(&self, db: &AedbInstance) -> Result<SchemaPlan, AedbError> {
        self.run(db, None, false).await
    }

    /// `apply` for `caller`, who needs the rights every step needs.
    pub async fn apply_as(
        &self,
        db: &AedbInstance,
        caller: CallerContext,
    ) -> Result<SchemaPlan, AedbError> {
        self.run(db, Some(caller), false).await
    }

    async fn run(
        &self,
        db: &AedbInstance,
        caller: Option<CallerContext>,
        dry_run: bool,
    ) -> Result<SchemaPlan, AedbError> {
        self.validate()?;
        let name = match (dry_run, caller.is_some()) {
            (true, false) => "SchemaSpec::plan",
            (true, true) => "SchemaSpec::plan_as",
            (false, false) => "SchemaSpec::apply",
            (false, true) => "SchemaSpec::apply_as",
        };
        let call = db.call(name, caller);
        // The cheap answer first: a schema already in place writes nothing.
        // Even that answer is for callers who may change the scope's schema.
        let latest = db.catalog_at(ConsistencyMode::AtLatest)?;
        let need = Need::Ddl {
            project: &self.project_id,
            scope: &self.scope_id,
            table: None,
        };
        let allowed = authorize(&latest, &call, &need);
        db.audited(&call, allowed).await?;
        let before = diff(&latest, &self.target())?;
        let undeclared_tables = before.undeclared;
        if before.actions.is_empty() {
            return Ok(SchemaPlan {
                steps: Vec::new(),
                undeclared_tables,
                commit: None,
            });
        }
        let steps = Arc::new(Mutex::new(Vec::new()));
        let (spec, record) = (self.clone(), steps.clone());
        let compose: Composed = Box::new(move |ctx: &mut WriteCtx<'_, '_>| {
            let mut steps = record.lock().unwrap_or_else(PoisonError::into_inner);
            steps.clear();
            execute(ctx, &spec.target(), &mut steps)
        });
        let plan = WritePlan {
            mutations: Vec::new(),
            conditions: Conditions::default(),
            finality: CommitFinality::Durable,
            dry_run,
            checkpoint: None,
            compose: Some(compose),
        };
        let result = db.write_planned(call, plan).await?;
        let steps = std::mem::take(&mut *steps.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(SchemaPlan {
            steps,
            undeclared_tables,
            commit: (!dry_run).then_some(result),
        })
    }
}
