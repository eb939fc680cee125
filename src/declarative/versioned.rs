//! Builders of versioned migrations: `MigrationSpec` (a version's DDL up and
//! down), `TableMigrationBuilder` (one table's changes, with the down DDL
//! derived), and `SchemaMigrationPlan` (a scope's specs as `Migration`s, run
//! through `AedbInstance::run_migrations`).

use std::collections::BTreeSet;

use crate::catalog::DdlOperation;
use crate::catalog::schema::{ColumnDef, TableAlteration};
use crate::commit::mutation::Mutation;
use crate::error::AedbError;
use crate::instance::AedbInstance;
use crate::migration::{Migration, MigrationReport};

use super::spec::{IndexSpec, TableSpec};

/// One version's DDL: what applying it does, and what rolling it back does.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationSpec {
    /// Place in the scope's history, from 1.
    pub version: u64,
    /// Shown in reports and the history (part of the checksum).
    pub name: String,
    /// What applying it does, in order, in one commit.
    pub up: Vec<DdlOperation>,
    /// Empty: the migration cannot be rolled back.
    pub down: Vec<DdlOperation>,
}

impl MigrationSpec {
    /// A migration with no steps yet.
    pub fn new(version: u64, name: impl Into<String>) -> Self {
        MigrationSpec {
            version,
            name: name.into(),
            up: Vec::new(),
            down: Vec::new(),
        }
    }

    /// Appends a step to what applying does.
    pub fn up_ddl(mut self, ddl: DdlOperation) -> Self {
        self.up.push(ddl);
        self
    }

    /// Appends a step to what rolling back does.
    pub fn down_ddl(mut self, ddl: DdlOperation) -> Self {
        self.down.push(ddl);
        self
    }

    /// Creates `table` (validated first) when applied.
    pub fn up_table(
        mut self,
        project_id: &str,
        scope_id: &str,
        table: &TableSpec,
    ) -> Result<Self, AedbError> {
        self.up.extend(table.to_ddl(project_id, scope_id)?);
        Ok(self)
    }

    /// Drops `table` when rolled back.
    pub fn down_drop_table(mut self, project_id: &str, scope_id: &str, table: &TableSpec) -> Self {
        self.down
            .extend(table.drop_ops(project_id, scope_id, false));
        self
    }
}

/// One step of a table migration, with what undoes it.
#[derive(Debug, Clone)]
enum TableStep {
    AddColumn(ColumnDef),
    DropColumn { name: String, restore_as: ColumnDef },
    RenameColumn { from: String, to: String },
    AddIndex(IndexSpec),
    DropIndex { name: String, restore_as: IndexSpec },
}

/// The changes of one table in one version; `build` derives the down DDL
/// (each step's inverse, last step first).
#[derive(Debug, Clone)]
pub struct TableMigrationBuilder {
    version: u64,
    name: String,
    project_id: String,
    scope_id: String,
    table_name: String,
    steps: Vec<TableStep>,
}

impl TableMigrationBuilder {
    /// Changes of `table_name` as migration `version`.
    pub fn new(
        version: u64,
        name: impl Into<String>,
        project_id: impl Into<String>,
        scope_id: impl Into<String>,
        table_name: impl Into<String>,
    ) -> Self {
        TableMigrationBuilder {
            version,
            name: name.into(),
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: table_name.into(),
            steps: Vec::new(),
        }
    }

    /// Appends a column (nullable, unless the table is empty).
    pub fn add_column(mut self, column: ColumnDef) -> Self {
        self.steps.push(TableStep::AddColumn(column));
        self
    }

    /// Drops a column; rolling back adds `restore_as` (its values are gone).
    pub fn drop_column(mut self, name: impl Into<String>, restore_as: ColumnDef) -> Self {
        let name = name.into();
        self.steps.push(TableStep::DropColumn { name, restore_as });
        self
    }

    /// Renames a column everywhere the catalog names it (values kept);
    /// rolling back renames it back.
    pub fn rename_column(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        let (from, to) = (from.into(), to.into());
        self.steps.push(TableStep::RenameColumn { from, to });
        self
    }

    /// Creates an index (built from the rows); rolling back drops it.
    pub fn add_index(mut self, index: IndexSpec) -> Self {
        self.steps.push(TableStep::AddIndex(index));
        self
    }

    /// Drops an index; rolling back creates `restore_as`.
    pub fn drop_index(mut self, index_name: impl Into<String>, restore_as: IndexSpec) -> Self {
        let name = index_name.into();
        self.steps.push(TableStep::DropIndex { name, restore_as });
        self
    }

    fn alter(&self, alteration: TableAlteration) -> DdlOperation {
        DdlOperation::AlterTable {
            project_id: self.project_id.clone(),
            scope_id: self.scope_id.clone(),
            table_name: self.table_name.clone(),
            alteration,
        }
    }

    fn drop_index_op(&self, index_name: &str) -> DdlOperation {
        DdlOperation::DropIndex {
            project_id: self.project_id.clone(),
            scope_id: self.scope_id.clone(),
            table_name: self.table_name.clone(),
            index_name: index_name.into(),
            if_exists: false,
        }
    }

    fn create_index_op(&self, index: &IndexSpec) -> DdlOperation {
        index.create_op(&self.project_id, &self.scope_id, &self.table_name)
    }

    /// The step's DDL and its inverse.
    fn ops(&self, step: &TableStep) -> (DdlOperation, DdlOperation) {
        match step {
            TableStep::AddColumn(c) => (
                self.alter(TableAlteration::AddColumn(c.clone())),
                self.alter(TableAlteration::DropColumn {
                    name: c.name.clone(),
                }),
            ),
            TableStep::DropColumn { name, restore_as } => (
                self.alter(TableAlteration::DropColumn { name: name.clone() }),
                self.alter(TableAlteration::AddColumn(restore_as.clone())),
            ),
            TableStep::RenameColumn { from, to } => (
                self.alter(TableAlteration::RenameColumn {
                    from: from.clone(),
                    to: to.clone(),
                }),
                self.alter(TableAlteration::RenameColumn {
                    from: to.clone(),
                    to: from.clone(),
                }),
            ),
            TableStep::AddIndex(ix) => {
                (self.create_index_op(ix), self.drop_index_op(&ix.index_name))
            }
            TableStep::DropIndex { name, restore_as } => {
                (self.drop_index_op(name), self.create_index_op(restore_as))
            }
        }
    }

    /// The migration: the steps in order up, their inverses in reverse down.
    /// Refused when there is no step, or a `restore_as` names a different
    /// column or index than the one dropped.
    pub fn build(self) -> Result<MigrationSpec, AedbError> {
        let invalid = |what: String| {
            AedbError::Validation(format!(
                "migration {} '{}' of table '{}': {what}",
                self.version, self.name, self.table_name
            ))
        };
        if self.steps.is_empty() {
            return Err(invalid("no changes".into()));
        }
        for step in &self.steps {
            match step {
                TableStep::DropColumn { name, restore_as } if &restore_as.name != name => {
                    return Err(invalid(format!(
                        "column '{name}' is dropped but restored as '{}'",
                        restore_as.name
                    )));
                }
                TableStep::DropIndex { name, restore_as } if &restore_as.index_name != name => {
                    return Err(invalid(format!(
                        "index '{name}' is dropped but restored as '{}'",
                        restore_as.index_name
                    )));
                }
                _ => {}
            }
        }
        let (up, mut down): (Vec<_>, Vec<_>) = self.steps.iter().map(|s| self.ops(s)).unzip();
        down.reverse();
        Ok(MigrationSpec {
            version: self.version,
            name: self.name,
            up,
            down,
        })
    }
}

/// A scope's migration specs, as the `Migration`s `run_migrations` applies.
#[derive(Debug, Clone)]
pub struct SchemaMigrationPlan {
    project_id: String,
    scope_id: String,
    include_namespace_bootstrap: bool,
    specs: Vec<MigrationSpec>,
}

impl SchemaMigrationPlan {
    /// A plan for one scope, with no migration yet and no namespace bootstrap.
    pub fn new(project_id: impl Into<String>, scope_id: impl Into<String>) -> Self {
        SchemaMigrationPlan {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            include_namespace_bootstrap: false,
            specs: Vec::new(),
        }
    }

    /// With `true`, the first migration also creates the project and scope
    /// when they are missing (part of its checksum).
    pub fn with_namespace_bootstrap(mut self, include_namespace_bootstrap: bool) -> Self {
        self.include_namespace_bootstrap = include_namespace_bootstrap;
        self
    }

    /// Adds a migration (any order: they run by version).
    pub fn with_spec(mut self, spec: MigrationSpec) -> Self {
        self.specs.push(spec);
        self
    }

    /// The same as `with_spec` (0.1.9's name; not `std::ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, spec: MigrationSpec) -> Self {
        self.with_spec(spec)
    }

    /// The migrations, in version order. Refused for a version 0, a repeated
    /// version or a spec with nothing to apply.
    pub fn migrations(&self) -> Result<Vec<Migration>, AedbError> {
        let mut specs: Vec<&MigrationSpec> = self.specs.iter().collect();
        specs.sort_by_key(|s| s.version);
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let invalid = |what: &str| {
                AedbError::Validation(format!(
                    "migration {} '{}' of {}.{}: {what}",
                    spec.version, spec.name, self.project_id, self.scope_id
                ))
            };
            if spec.version == 0 {
                return Err(invalid("versions start at 1"));
            }
            if !seen.insert(spec.version) {
                return Err(invalid("the version is used twice"));
            }
            if spec.up.is_empty() {
                return Err(invalid("nothing to apply"));
            }
            let mut mutations = Vec::new();
            if i == 0 && self.include_namespace_bootstrap {
                mutations.push(Mutation::Ddl(DdlOperation::CreateProject {
                    project_id: self.project_id.clone(),
                    owner_id: None,
                    if_not_exists: true,
                }));
                mutations.push(Mutation::Ddl(DdlOperation::CreateScope {
                    project_id: self.project_id.clone(),
                    scope_id: self.scope_id.clone(),
                    owner_id: None,
                    if_not_exists: true,
                }));
            }
            mutations.extend(spec.up.iter().cloned().map(Mutation::Ddl));
            let down = (!spec.down.is_empty())
                .then(|| spec.down.iter().cloned().map(Mutation::Ddl).collect());
            out.push(Migration {
                version: spec.version,
                name: spec.name.clone(),
                project_id: self.project_id.clone(),
                scope_id: self.scope_id.clone(),
                mutations,
                down_mutations: down,
            });
        }
        Ok(out)
    }

    /// Runs the migrations (`AedbInstance::run_migrations`).
    pub async fn run(&self, db: &AedbInstance) -> Result<MigrationReport, AedbError> {
        db.run_migrations(self.migrations()?).await
    }
}
