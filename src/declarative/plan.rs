//! `SchemaPlan` and `SchemaStep`: what a declared schema's plan would do or
//! its apply did, and how they print (one line per step).

use std::fmt;

use crate::catalog::DdlOperation;
use crate::catalog::schema::TableAlteration;
use crate::commit::CommitResult;

/// One step of a schema plan.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaStep {
    /// A DDL operation, applied as it is.
    Ddl(DdlOperation),
    /// The table dropped and created again in the declared shape, its rows
    /// copied (no row dropped, no value altered: a value the new type cannot
    /// hold exactly fails the plan).
    Rebuild {
        /// The table rebuilt.
        table_name: String,
        /// What no alteration reaches (primary key, column order, a type or
        /// nullability), as the plan prints it.
        reason: String,
        /// Rows copied into the new shape.
        rows: u64,
    },
}

impl fmt::Display for SchemaStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DdlOperation as D;
        match self {
            SchemaStep::Rebuild {
                table_name,
                reason,
                rows,
            } => write!(
                f,
                "rebuild table {table_name} ({reason}; {rows} rows copied)"
            ),
            SchemaStep::Ddl(op) => match op {
                D::CreateProject { project_id, .. } => write!(f, "create project {project_id}"),
                D::CreateScope { scope_id, .. } => write!(f, "create scope {scope_id}"),
                D::CreateTable {
                    table_name,
                    columns,
                    primary_key,
                    ..
                } => {
                    let cols: Vec<String> = columns
                        .iter()
                        .map(|c| {
                            let null = if c.nullable { " null" } else { "" };
                            format!("{} {:?}{null}", c.name, c.col_type)
                        })
                        .collect();
                    write!(
                        f,
                        "create table {table_name} ({}; primary key {})",
                        cols.join(", "),
                        primary_key.join(", ")
                    )
                }
                D::DropTable { table_name, .. } => write!(f, "drop table {table_name}"),
                D::AlterTable {
                    table_name,
                    alteration,
                    ..
                } => match alteration {
                    TableAlteration::AddColumn(c) => {
                        let null = if c.nullable { " null" } else { "" };
                        write!(
                            f,
                            "alter table {table_name}: add column {} {:?}{null}",
                            c.name, c.col_type
                        )
                    }
                    TableAlteration::DropColumn { name } => {
                        write!(f, "alter table {table_name}: drop column {name}")
                    }
                    TableAlteration::AddConstraint(c) => {
                        write!(f, "alter table {table_name}: add constraint {c:?}")
                    }
                    TableAlteration::DropConstraint { name } => {
                        write!(f, "alter table {table_name}: drop constraint {name}")
                    }
                    other => write!(f, "alter table {table_name}: {other:?}"),
                },
                D::CreateIndex {
                    table_name,
                    index_name,
                    columns,
                    index_type,
                    ..
                } => write!(
                    f,
                    "create {index_type:?} index {index_name} on {table_name} ({})",
                    columns.join(", ")
                ),
                D::DropIndex {
                    table_name,
                    index_name,
                    ..
                } => write!(f, "drop index {index_name} on {table_name}"),
                D::TransferOwnership {
                    table_name,
                    new_owner_id,
                    ..
                } => write!(
                    f,
                    "transfer table {} to owner {new_owner_id}",
                    table_name.as_deref().unwrap_or("?")
                ),
                other => write!(f, "{other:?}"),
            },
        }
    }
}

/// What a `SchemaSpec`'s `plan` would do or its `apply` did.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaPlan {
    /// In the order they run.
    pub steps: Vec<SchemaStep>,
    /// Stored tables the spec does not declare, left as they are.
    pub undeclared_tables: Vec<String>,
    /// The commit that applied the steps (`None` for a plan, or when there was
    /// nothing to do).
    pub commit: Option<CommitResult>,
}

impl SchemaPlan {
    /// Whether the stored schema is the declared one already.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl fmt::Display for SchemaPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            writeln!(f, "nothing to do")?;
        }
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "{}. {step}", i + 1)?;
        }
        for t in &self.undeclared_tables {
            writeln!(f, "kept: table {t} (not declared)")?;
        }
        Ok(())
    }
}
