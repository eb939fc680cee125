//! The difference between what a scope holds and what a `SchemaSpec`
//! declares, as the actions that close it, and their execution inside a write
//! transaction.
//!
//! Invariants:
//! 1. Applying the actions to the catalog they were computed from yields a
//!    catalog for which `diff` returns none (a second run plans nothing).
//! 2. Tables are matched by name, columns by name: a column missing from the
//!    spec is dropped and a new one added, never guessed to be a rename.
//! 3. What an alteration reaches is altered (indexes and constraints dropped
//!    before the columns they may name, columns dropped, columns appended,
//!    constraints and indexes added); anything else rebuilds the table
//!    (`rebuild`).

use std::sync::Arc;

use crate::catalog::schema::{IndexDef, TableAlteration, TableSchema};
use crate::catalog::{Catalog, DdlOperation, ResourceType, TableInfo};
use crate::commit::context::WriteCtx;
use crate::commit::mutation::Mutation;
use crate::error::AedbError;

use super::plan::SchemaStep;
use super::rebuild::rebuild;
use super::spec::{IndexSpec, TableSpec};

/// One action of a plan.
pub(crate) enum Action {
    Ddl(DdlOperation),
    /// Rebuild the stored table as the spec declares it, for `reason`.
    Rebuild {
        spec: TableSpec,
        reason: String,
    },
}

/// What closes the gap, and the stored tables left undeclared.
pub(crate) struct Diff {
    pub actions: Vec<Action>,
    pub undeclared: Vec<String>,
}

fn same_index(stored: &IndexDef, spec: &IndexSpec) -> bool {
    stored.columns == spec.columns
        && stored.index_type == spec.index_type
        && stored.partial_filter == spec.partial_filter
}

/// Why `stored` cannot be altered into `spec`, if it cannot.
fn rebuild_reason(stored: &TableSchema, spec: &TableSpec) -> Option<String> {
    if stored.primary_key != spec.primary_key {
        return Some(format!(
            "primary key ({}) becomes ({})",
            stored.primary_key.join(", "),
            spec.primary_key.join(", ")
        ));
    }
    let declared = |name: &str| spec.columns.iter().any(|c| c.name == name);
    // The columns as dropping and appending would leave them.
    let altered = stored.columns.iter().filter(|c| declared(&c.name)).chain(
        spec.columns
            .iter()
            .filter(|c| stored.column_index(&c.name).is_none()),
    );
    for (have, want) in altered.zip(&spec.columns) {
        if have.name != want.name {
            return Some(format!(
                "column order: '{}' where '{}' is declared",
                have.name, want.name
            ));
        }
        if have.col_type != want.col_type {
            return Some(format!(
                "column '{}' changes type {:?} -> {:?}",
                want.name, have.col_type, want.col_type
            ));
        }
        if have.nullable != want.nullable {
            let null = |n| if n { "nullable" } else { "not nullable" };
            return Some(format!(
                "column '{}' changes {} -> {}",
                want.name,
                null(have.nullable),
                null(want.nullable)
            ));
        }
    }
    None
}

/// The alterations that take the stored table `t` to `spec`.
fn alter(t: &TableInfo, spec: &TableSpec, out: &mut Vec<Action>) {
    let s = t.schema();
    let (project, scope, table) = (&s.project_id, &s.scope_id, &s.table_name);
    let alteration = |alteration| {
        Action::Ddl(DdlOperation::AlterTable {
            project_id: project.to_string(),
            scope_id: scope.to_string(),
            table_name: table.clone(),
            alteration,
        })
    };
    let stored_indexes: Vec<&IndexDef> = t
        .record
        .indexes
        .iter()
        .filter(|ix| ix.constraint.is_none())
        .map(|ix| &ix.def)
        .collect();
    let kept = |ix: &IndexDef| {
        spec.indexes
            .iter()
            .any(|d| d.index_name == ix.index_name && same_index(ix, d))
    };
    for ix in stored_indexes.iter().filter(|ix| !kept(ix)) {
        out.push(Action::Ddl(DdlOperation::DropIndex {
            project_id: project.to_string(),
            scope_id: scope.to_string(),
            table_name: table.clone(),
            index_name: ix.index_name.clone(),
            if_exists: false,
        }));
    }
    for c in s
        .constraints
        .iter()
        .filter(|c| !spec.constraints.contains(c))
    {
        out.push(alteration(TableAlteration::DropConstraint {
            name: c.name(),
        }));
    }
    for c in s.columns.iter() {
        if !spec.columns.iter().any(|d| d.name == c.name) {
            out.push(alteration(TableAlteration::DropColumn {
                name: c.name.clone(),
            }));
        }
    }
    for c in &spec.columns {
        if s.column_index(&c.name).is_none() {
            out.push(alteration(TableAlteration::AddColumn(c.clone())));
        }
    }
    for c in spec
        .constraints
        .iter()
        .filter(|c| !s.constraints.contains(c))
    {
        out.push(alteration(TableAlteration::AddConstraint(c.clone())));
    }
    for ix in &spec.indexes {
        if !stored_indexes
            .iter()
            .any(|st| st.index_name == ix.index_name && same_index(st, ix))
        {
            let mut ix = ix.clone();
            ix.if_not_exists = false;
            out.push(Action::Ddl(ix.create_op(project, scope, table)));
        }
    }
    if spec.owner_id.is_some() && spec.owner_id != s.owner_id {
        out.push(Action::Ddl(DdlOperation::TransferOwnership {
            resource_type: ResourceType::Table,
            project_id: project.to_string(),
            scope_id: Some(scope.clone()),
            table_name: Some(table.clone()),
            new_owner_id: spec.owner_id.clone().unwrap_or_default(),
            actor_id: None,
        }));
    }
}

/// What a declared schema asks of one scope.
pub(crate) struct Target<'a> {
    pub project: &'a str,
    pub scope: &'a str,
    /// Validated.
    pub tables: &'a [TableSpec],
    pub drop_undeclared: bool,
}

/// The actions that take what `catalog` holds to `spec`.
pub(crate) fn diff(catalog: &Catalog, spec: &Target<'_>) -> Result<Diff, AedbError> {
    let (project, scope) = (spec.project, spec.scope);
    let mut actions = Vec::new();
    if catalog.project(project).is_err() {
        actions.push(Action::Ddl(DdlOperation::CreateProject {
            project_id: project.to_string(),
            owner_id: None,
            if_not_exists: true,
        }));
    }
    let stored: Vec<Arc<TableInfo>> = if catalog.scope(project, scope).is_ok() {
        catalog.tables_in(project, scope)
    } else {
        actions.push(Action::Ddl(DdlOperation::CreateScope {
            project_id: project.to_string(),
            scope_id: scope.to_string(),
            owner_id: None,
            if_not_exists: true,
        }));
        Vec::new()
    };
    let mut undeclared = Vec::new();
    for t in &stored {
        if !spec.tables.iter().any(|d| d.table_name == t.name()) {
            if spec.drop_undeclared {
                actions.push(Action::Ddl(DdlOperation::DropTable {
                    project_id: project.to_string(),
                    scope_id: scope.to_string(),
                    table_name: t.name().to_string(),
                    if_exists: false,
                }));
            } else {
                undeclared.push(t.name().to_string());
            }
        }
    }
    for d in spec.tables {
        match stored.iter().find(|t| t.name() == d.table_name) {
            None => actions.extend(d.to_ddl(project, scope)?.into_iter().map(Action::Ddl)),
            Some(t) => match rebuild_reason(t.schema(), d) {
                Some(reason) => actions.push(Action::Rebuild {
                    spec: d.clone(),
                    reason,
                }),
                None => alter(t, d, &mut actions),
            },
        }
    }
    Ok(Diff {
        actions,
        undeclared,
    })
}

/// Plans `spec` against the state `ctx`'s transaction sees and applies it
/// there (every DDL and row write authorized for the call), recording each
/// step in `steps`. Returns the rows rebuilt.
pub(crate) fn execute(
    ctx: &mut WriteCtx<'_, '_>,
    spec: &Target<'_>,
    steps: &mut Vec<SchemaStep>,
) -> Result<u64, AedbError> {
    let Diff { actions, .. } = diff(ctx.cat.catalog(), spec)?;
    let mut rows = 0;
    for action in actions {
        match action {
            Action::Ddl(op) => {
                ctx.apply(Mutation::Ddl(op.clone()))?;
                steps.push(SchemaStep::Ddl(op));
            }
            Action::Rebuild {
                spec: table,
                reason,
            } => {
                let t = ctx
                    .cat
                    .catalog()
                    .table(spec.project, spec.scope, &table.table_name)?
                    .clone();
                let copied = rebuild(ctx, &t, &table)?;
                rows += copied;
                steps.push(SchemaStep::Rebuild {
                    table_name: table.table_name,
                    reason,
                    rows: copied,
                });
            }
        }
    }
    Ok(rows)
}
