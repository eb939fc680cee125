//! DDL: applying a `DdlOperation` on a `CatalogTxn` (the catalog plus the
//! commit's write transaction). Creating an index (or a unique constraint)
//! builds it from the table's rows in the same commit; dropping a column
//! rewrites the rows. Row-level work goes through `table::write`.
//!
//! Invariants:
//! 1. A DDL either applies whole or fails the commit: every check runs before
//!    the record it guards is written, and any error drops the transaction.
//! 2. Each `TableAlteration` has its own function; a record changes only through
//!    `save_table`, which also refreshes the in-memory `TableInfo`.

use std::collections::HashSet;
use std::sync::Arc;

use crate::catalog::schema::{
    ColumnDef, Constraint, IndexDef, IndexType, TableAlteration, TableSchema,
};
use crate::catalog::{
    CatalogTxn, DEFAULT_SCOPE_ID, DdlOperation, IndexRecord, ProjectRecord, ScopeRecord,
    TableColumns, TableInfo, TableRecord, check_name, encode_record, index_tree, kv_tree,
    project_key, rows_tree, scope_key, table_key,
};
use crate::error::{AedbError, ResourceType};
use crate::eval::compile;
use crate::table::write::{all_rows, build_index, check_row};
use crate::vocab::types::Row;

pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub(crate) use crate::commit::ddl_accumulator::{accumulator_ddl, drop_accumulators_in};

pub(crate) fn apply_ddl(ct: &mut CatalogTxn<'_, '_>, op: DdlOperation) -> Result<(), AedbError> {
    match op {
        DdlOperation::CreateProject {
            project_id,
            owner_id,
            if_not_exists,
        } => {
            check_name("project", &project_id)?;
            if ct.catalog().projects.contains_key(&project_id) {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(AedbError::exists(ResourceType::Project, project_id))
                };
            }
            let rec = ProjectRecord {
                owner_id: owner_id.clone(),
                created_at_micros: now_micros(),
            };
            ct.put(&project_key(&project_id), &encode_record(&rec)?)?;
            ct.catalog_mut().projects.insert(project_id.clone(), rec);
            create_scope(ct, &project_id, DEFAULT_SCOPE_ID, owner_id, true)
        }
        DdlOperation::DropProject {
            project_id,
            if_exists,
        } => {
            if !ct.catalog().projects.contains_key(&project_id) {
                return if if_exists {
                    Ok(())
                } else {
                    Err(AedbError::not_found(ResourceType::Project, project_id))
                };
            }
            for scope in ct.catalog().scope_ids(&project_id) {
                drop_scope(ct, &project_id, &scope)?;
            }
            ct.delete(&project_key(&project_id))?;
            ct.catalog_mut().projects.remove(&project_id);
            Ok(())
        }
        DdlOperation::CreateScope {
            project_id,
            scope_id,
            owner_id,
            if_not_exists,
        } => create_scope(ct, &project_id, &scope_id, owner_id, if_not_exists),
        DdlOperation::DropScope {
            project_id,
            scope_id,
            if_exists,
        } => {
            match ct.catalog().scope(&project_id, &scope_id) {
                Ok(_) => {}
                Err(_) if if_exists => return Ok(()),
                Err(e) => return Err(e),
            }
            drop_scope(ct, &project_id, &scope_id)
        }
        op @ (DdlOperation::CreateAccumulator { .. } | DdlOperation::DropAccumulator { .. }) => {
            accumulator_ddl(ct, op)
        }
        DdlOperation::CreateTable {
            project_id,
            scope_id,
            table_name,
            owner_id,
            columns,
            primary_key,
        } => create_table(
            ct,
            project_id,
            scope_id,
            table_name,
            owner_id,
            columns,
            primary_key,
        ),
        DdlOperation::AlterTable {
            project_id,
            scope_id,
            table_name,
            alteration,
        } => {
            let t = ct
                .catalog()
                .table(&project_id, &scope_id, &table_name)?
                .clone();
            alter_table(ct, &t, alteration)
        }
        DdlOperation::DropTable {
            project_id,
            scope_id,
            table_name,
            if_exists,
        } => {
            let t = match ct.catalog().table(&project_id, &scope_id, &table_name) {
                Ok(t) => t.clone(),
                Err(AedbError::NotFound {
                    resource_type: ResourceType::Table,
                    ..
                }) if if_exists => return Ok(()),
                Err(e) => return Err(e),
            };
            drop_table(ct, &t)
        }
        DdlOperation::CreateIndex {
            project_id,
            scope_id,
            table_name,
            index_name,
            if_not_exists,
            columns,
            index_type,
            partial_filter,
        } => {
            let t = ct
                .catalog()
                .table(&project_id, &scope_id, &table_name)?
                .clone();
            check_name("index", &index_name)?;
            if t.record
                .indexes
                .iter()
                .any(|ix| ix.def.index_name == index_name)
            {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(AedbError::exists(
                        ResourceType::Index,
                        format!("{table_name}.{index_name}"),
                    ))
                };
            }
            let def = IndexDef {
                project_id,
                scope_id,
                table_name,
                index_name,
                columns,
                index_type,
                partial_filter,
            };
            add_index(ct, &t, def, None)
        }
        DdlOperation::DropIndex {
            project_id,
            scope_id,
            table_name,
            index_name,
            if_exists,
        } => {
            let t = ct
                .catalog()
                .table(&project_id, &scope_id, &table_name)?
                .clone();
            match t
                .record
                .indexes
                .iter()
                .position(|ix| ix.def.index_name == index_name && ix.constraint.is_none())
            {
                Some(i) => remove_index(ct, &t, i),
                None if if_exists => Ok(()),
                None => Err(AedbError::not_found(
                    ResourceType::Index,
                    format!("{table_name}.{index_name}"),
                )),
            }
        }
        // They write an audit row, so they run on the whole `WriteCtx`
        // (`commit::access`), which never sends them here.
        op @ (DdlOperation::GrantPermission { .. }
        | DdlOperation::RevokePermission { .. }
        | DdlOperation::TransferOwnership { .. }
        | DdlOperation::SetReadPolicy { .. }
        | DdlOperation::ClearReadPolicy { .. }) => Err(AedbError::Validation(format!(
            "{op:?} is an access-control operation and runs through WriteCtx::apply_ddl_as"
        ))),
    }
}

fn create_scope(
    ct: &mut CatalogTxn<'_, '_>,
    project: &str,
    scope: &str,
    owner_id: Option<String>,
    if_not_exists: bool,
) -> Result<(), AedbError> {
    check_name("scope", scope)?;
    ct.catalog().project(project)?;
    let key = (project.to_string(), scope.to_string());
    if ct.catalog().scopes.contains_key(&key) {
        return if if_not_exists {
            Ok(())
        } else {
            Err(AedbError::exists(
                ResourceType::Scope,
                format!("{project}.{scope}"),
            ))
        };
    }
    let rec = ScopeRecord {
        id: ct.alloc_id(),
        owner_id,
        created_at_micros: now_micros(),
    };
    ct.put(&scope_key(project, scope), &encode_record(&rec)?)?;
    ct.catalog_mut().scopes.insert(key, rec);
    Ok(())
}

fn drop_scope(ct: &mut CatalogTxn<'_, '_>, project: &str, scope: &str) -> Result<(), AedbError> {
    for t in ct.catalog().tables_in(project, scope) {
        drop_table(ct, &t)?;
    }
    drop_accumulators_in(ct, project, scope)?;
    let rec = ct.catalog().scope(project, scope)?.clone();
    ct.txn.delete_tree(&kv_tree(rec.id))?;
    ct.delete(&scope_key(project, scope))?;
    ct.catalog_mut()
        .scopes
        .remove(&(project.to_string(), scope.to_string()));
    Ok(())
}

fn create_table(
    ct: &mut CatalogTxn<'_, '_>,
    project: String,
    scope: String,
    table: String,
    owner_id: Option<String>,
    columns: Vec<ColumnDef>,
    primary_key: Vec<String>,
) -> Result<(), AedbError> {
    check_name("table", &table)?;
    ct.catalog().scope(&project, &scope)?;
    if ct
        .catalog()
        .tables
        .contains_key(&(project.clone(), scope.clone(), table.clone()))
    {
        return Err(AedbError::exists(
            ResourceType::Table,
            format!("{project}.{scope}.{table}"),
        ));
    }
    if columns.is_empty() {
        return Err(AedbError::Validation(format!(
            "table '{table}' needs at least one column"
        )));
    }
    let mut seen = HashSet::new();
    for c in &columns {
        check_name("column", &c.name)?;
        if !seen.insert(c.name.as_str()) {
            return Err(AedbError::Validation(format!(
                "table '{table}' names column '{}' twice",
                c.name
            )));
        }
    }
    if primary_key.is_empty() {
        return Err(AedbError::Validation(format!(
            "table '{table}' needs a primary key"
        )));
    }
    let mut pk_seen = HashSet::new();
    for k in &primary_key {
        let col =
            columns
                .iter()
                .find(|c| &c.name == k)
                .ok_or_else(|| AedbError::UnknownColumn {
                    table: table.clone(),
                    column: k.clone(),
                })?;
        if col.nullable {
            return Err(AedbError::Validation(format!(
                "primary-key column '{k}' of table '{table}' must not be nullable"
            )));
        }
        if !pk_seen.insert(k) {
            return Err(AedbError::Validation(format!(
                "primary key of table '{table}' names '{k}' twice"
            )));
        }
    }
    let schema = TableSchema {
        project_id: project.clone(),
        scope_id: scope.clone(),
        table_name: table.clone(),
        owner_id,
        columns,
        primary_key,
        constraints: Vec::new(),
    };
    let record = TableRecord {
        id: ct.alloc_id(),
        schema,
        indexes: Vec::new(),
        created_at_micros: now_micros(),
    };
    ct.txn.open_tree(&rows_tree(record.id))?;
    save_table(ct, record)
}

/// Writes a table record and updates the in-memory catalog.
fn save_table(ct: &mut CatalogTxn<'_, '_>, record: TableRecord) -> Result<(), AedbError> {
    let s = &record.schema;
    let key = (
        s.project_id.clone(),
        s.scope_id.clone(),
        s.table_name.clone(),
    );
    ct.put(&table_key(&key.0, &key.1, &key.2), &encode_record(&record)?)?;
    ct.catalog_mut()
        .tables
        .insert(key, Arc::new(TableInfo::new(record)));
    Ok(())
}

fn drop_table(ct: &mut CatalogTxn<'_, '_>, t: &TableInfo) -> Result<(), AedbError> {
    for ix in &t.record.indexes {
        ct.txn.delete_tree(&index_tree(ix.id))?;
    }
    ct.txn.delete_tree(&t.rows_tree)?;
    let s = t.schema();
    ct.delete(&table_key(&s.project_id, &s.scope_id, &s.table_name))?;
    ct.catalog_mut().tables.remove(&(
        s.project_id.clone(),
        s.scope_id.clone(),
        s.table_name.clone(),
    ));
    Ok(())
}

/// Adds an index (built from the current rows; a unique one fails on duplicates).
fn add_index(
    ct: &mut CatalogTxn<'_, '_>,
    t: &TableInfo,
    def: IndexDef,
    constraint: Option<String>,
) -> Result<(), AedbError> {
    if def.columns.is_empty() {
        return Err(AedbError::Validation(format!(
            "index '{}' needs at least one column",
            def.index_name
        )));
    }
    for c in &def.columns {
        if t.column(c).is_none() {
            return Err(t.unknown_column(c));
        }
    }
    if let Some(f) = &def.partial_filter {
        compile(f, &TableColumns(t)).map_err(|e| {
            AedbError::Validation(format!("partial filter of index '{}': {e}", def.index_name))
        })?;
    }
    let mut record = t.record.clone();
    let id = ct.alloc_id();
    record.indexes.push(IndexRecord {
        id,
        def,
        constraint,
    });
    let info = TableInfo::new(record.clone());
    build_index(ct.txn, &info, info.record.indexes.len() - 1)?;
    save_table(ct, record)
}

fn remove_index(ct: &mut CatalogTxn<'_, '_>, t: &TableInfo, i: usize) -> Result<(), AedbError> {
    let mut record = t.record.clone();
    let ix = record.indexes.remove(i);
    ct.txn.delete_tree(&index_tree(ix.id))?;
    save_table(ct, record)
}

fn alter_table(
    ct: &mut CatalogTxn<'_, '_>,
    t: &Arc<TableInfo>,
    alteration: TableAlteration,
) -> Result<(), AedbError> {
    match alteration {
        TableAlteration::AddColumn(col) => add_column(ct, t, col),
        TableAlteration::DropColumn { name } => drop_column(ct, t, &name),
        TableAlteration::RenameColumn { from, to } => rename_column(ct, t, &from, &to),
        TableAlteration::AddConstraint(c) => add_constraint(ct, t, c),
        TableAlteration::DropConstraint { name } => drop_constraint(ct, t, &name),
    }
}

fn add_column(ct: &mut CatalogTxn<'_, '_>, t: &TableInfo, col: ColumnDef) -> Result<(), AedbError> {
    let table = t.name();
    check_name("column", &col.name)?;
    if t.column(&col.name).is_some() {
        return Err(AedbError::Validation(format!(
            "table '{table}' already has a column '{}'",
            col.name
        )));
    }
    if !col.nullable && crate::table::existing_tree(ct.txn, &t.rows_tree)?.len()? > 0 {
        return Err(AedbError::Validation(format!(
            "cannot add non-nullable column '{}' to table '{table}', which has rows: add it nullable",
            col.name
        )));
    }
    let mut record = t.record.clone();
    record.schema.columns.push(col);
    save_table(ct, record)
}

fn drop_column(ct: &mut CatalogTxn<'_, '_>, t: &TableInfo, name: &str) -> Result<(), AedbError> {
    let table = t.name();
    let pos = t.column_or_err(name)?;
    let record = &t.record;
    let in_index = |ix: &IndexRecord| {
        ix.def.columns.iter().any(|c| c == name)
            || ix
                .def
                .partial_filter
                .as_ref()
                .is_some_and(|f| f.mentions(name))
    };
    let used = record.schema.primary_key.iter().any(|c| c == name)
        || record.indexes.iter().any(in_index)
        || record.schema.constraints.iter().any(|c| match c {
            Constraint::Unique { columns, .. } => columns.iter().any(|c| c == name),
            Constraint::Check { expr, .. } => expr.mentions(name),
            Constraint::NotNull { column } | Constraint::Default { column, .. } => column == name,
        });
    if used {
        return Err(AedbError::Validation(format!(
            "column '{name}' of table '{table}' is used by the primary key, an index or a constraint; drop those first"
        )));
    }
    crate::table::write::drop_column(ct.txn, t, pos)?;
    let mut record = record.clone();
    record.schema.columns.remove(pos);
    save_table(ct, record)
}

fn rename_column(
    ct: &mut CatalogTxn<'_, '_>,
    t: &TableInfo,
    from: &str,
    to: &str,
) -> Result<(), AedbError> {
    let table = t.name();
    check_name("column", to)?;
    let pos = t.column_or_err(from)?;
    if t.column(to).is_some() {
        return Err(AedbError::Validation(format!(
            "table '{table}' already has a column '{to}'"
        )));
    }
    let rename = |c: &mut String| {
        if c == from {
            *c = to.to_string();
        }
    };
    let mut record = t.record.clone();
    let s = &mut record.schema;
    s.columns[pos].name = to.to_string();
    s.primary_key.iter_mut().for_each(rename);
    for c in &mut s.constraints {
        match c {
            Constraint::Unique { columns, .. } => columns.iter_mut().for_each(rename),
            Constraint::Check { expr, .. } => expr.rename_column(from, to),
            Constraint::NotNull { column } | Constraint::Default { column, .. } => rename(column),
        }
    }
    for ix in &mut record.indexes {
        ix.def.columns.iter_mut().for_each(rename);
        if let Some(f) = &mut ix.def.partial_filter {
            f.rename_column(from, to);
        }
    }
    save_table(ct, record)
}

fn add_constraint(
    ct: &mut CatalogTxn<'_, '_>,
    t: &TableInfo,
    c: Constraint,
) -> Result<(), AedbError> {
    let table = t.name();
    if let Constraint::Check { name, expr } = &c {
        compile(expr, &TableColumns(t)).map_err(|e| {
            AedbError::Validation(format!("check constraint '{name}' of table '{table}': {e}"))
        })?;
    }
    let name = c.name();
    let mut record = t.record.clone();
    if record.schema.constraints.iter().any(|x| x.name() == name) {
        return Err(AedbError::Validation(format!(
            "table '{table}' already has a constraint '{name}'"
        )));
    }
    record.schema.constraints.push(c.clone());
    let checked = TableInfo::new(record.clone());
    // Existing rows must satisfy the new rule.
    for (_, row) in all_rows(ct.txn, t)? {
        check_row(&checked, Row::from_values(row), usize::MAX)?;
    }
    save_table(ct, record.clone())?;
    if let Constraint::Unique { name, columns } = c {
        let s = &record.schema;
        let def = IndexDef {
            project_id: s.project_id.clone(),
            scope_id: s.scope_id.clone(),
            table_name: table.to_string(),
            index_name: format!("__unique_{name}"),
            columns,
            index_type: IndexType::UniqueHash,
            partial_filter: None,
        };
        let current = ct
            .catalog()
            .table(&s.project_id, &s.scope_id, table)?
            .clone();
        add_index(ct, &current, def, Some(name))?;
    }
    Ok(())
}

fn drop_constraint(
    ct: &mut CatalogTxn<'_, '_>,
    t: &TableInfo,
    name: &str,
) -> Result<(), AedbError> {
    let mut record = t.record.clone();
    let pos = record
        .schema
        .constraints
        .iter()
        .position(|c| c.name() == name)
        .ok_or_else(|| {
            AedbError::Validation(format!("table '{}' has no constraint '{name}'", t.name()))
        })?;
    record.schema.constraints.remove(pos);
    if let Some(i) = record
        .indexes
        .iter()
        .position(|ix| ix.constraint.as_deref() == Some(name))
    {
        let ix = record.indexes.remove(i);
        ct.txn.delete_tree(&index_tree(ix.id))?;
    }
    save_table(ct, record)
}
