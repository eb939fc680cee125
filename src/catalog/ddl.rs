//! DDL: applying a `DdlOperation` to the catalog and the trees in one write
//! transaction. Creating an index (or a unique constraint) builds it from the
//! table's rows in the same commit; dropping a column rewrites the rows.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::sync::Arc;

use crate::catalog::schema::{ColumnDef, Constraint, IndexDef, IndexType, TableAlteration, TableSchema};
use crate::catalog::types::Value;
use crate::catalog::{
    DEFAULT_SCOPE_ID, DdlOperation, IndexRecord, ProjectRecord, ScopeRecord, TableInfo, TableRecord, check_name, encode_record, index_tree, kv_tree,
    project_key, rows_tree, scope_key, table_key,
};
use crate::commit::context::WriteCtx;
use crate::error::{AedbError, ResourceType};
use crate::query::eval::compile;
use crate::query::plan::Expr;
use crate::table::TableColumns;
use crate::table::write::check_row;

pub(crate) fn now_micros() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Renames column `from` to `to` inside a predicate.
fn rename_in_expr(e: &mut Expr, from: &str, to: &str) {
    match e {
        Expr::Eq(c, _) | Expr::Ne(c, _) | Expr::Lt(c, _) | Expr::Lte(c, _) | Expr::Gt(c, _) | Expr::Gte(c, _) | Expr::In(c, _) | Expr::Between(c, _, _) | Expr::IsNull(c) | Expr::IsNotNull(c) | Expr::Like(c, _) => {
            if c == from {
                *c = to.to_string();
            }
        }
        Expr::And(l, r) | Expr::Or(l, r) => {
            rename_in_expr(l, from, to);
            rename_in_expr(r, from, to);
        }
        Expr::Not(x) => rename_in_expr(x, from, to),
    }
}

/// Whether a predicate names column `col`.
fn expr_mentions(e: &Expr, col: &str) -> bool {
    match e {
        Expr::Eq(c, _) | Expr::Ne(c, _) | Expr::Lt(c, _) | Expr::Lte(c, _) | Expr::Gt(c, _) | Expr::Gte(c, _) | Expr::In(c, _) | Expr::Between(c, _, _) | Expr::IsNull(c) | Expr::IsNotNull(c) | Expr::Like(c, _) => c == col,
        Expr::And(l, r) | Expr::Or(l, r) => expr_mentions(l, col) || expr_mentions(r, col),
        Expr::Not(x) => expr_mentions(x, col),
    }
}

impl WriteCtx<'_, '_> {
    pub fn apply_ddl(&mut self, op: DdlOperation) -> Result<(), AedbError> {
        match op {
            DdlOperation::CreateProject { project_id, owner_id, if_not_exists } => {
                check_name("project", &project_id)?;
                if self.catalog.projects.contains_key(&project_id) {
                    return if if_not_exists { Ok(()) } else { Err(AedbError::exists(ResourceType::Project, project_id)) };
                }
                let rec = ProjectRecord { owner_id: owner_id.clone(), created_at_micros: now_micros() };
                self.put_catalog(&project_key(&project_id), &encode_record(&rec)?)?;
                self.catalog_mut().projects.insert(project_id.clone(), rec);
                self.create_scope(&project_id, DEFAULT_SCOPE_ID, owner_id, true)
            }
            DdlOperation::DropProject { project_id, if_exists } => {
                if !self.catalog.projects.contains_key(&project_id) {
                    return if if_exists { Ok(()) } else { Err(AedbError::not_found(ResourceType::Project, project_id)) };
                }
                for scope in self.catalog.scope_ids(&project_id) {
                    self.drop_scope(&project_id, &scope)?;
                }
                self.delete_catalog(&project_key(&project_id))?;
                self.catalog_mut().projects.remove(&project_id);
                Ok(())
            }
            DdlOperation::CreateScope { project_id, scope_id, owner_id, if_not_exists } => self.create_scope(&project_id, &scope_id, owner_id, if_not_exists),
            DdlOperation::DropScope { project_id, scope_id, if_exists } => {
                match self.catalog.scope(&project_id, &scope_id) {
                    Ok(_) => {}
                    Err(_) if if_exists => return Ok(()),
                    Err(e) => return Err(e),
                }
                self.drop_scope(&project_id, &scope_id)
            }
            DdlOperation::CreateTable { project_id, scope_id, table_name, owner_id, columns, primary_key } => {
                self.create_table(project_id, scope_id, table_name, owner_id, columns, primary_key)
            }
            DdlOperation::AlterTable { project_id, scope_id, table_name, alteration } => {
                let t = self.catalog.table(&project_id, &scope_id, &table_name)?.clone();
                self.alter_table(&t, alteration)
            }
            DdlOperation::DropTable { project_id, scope_id, table_name, if_exists } => {
                let t = match self.catalog.table(&project_id, &scope_id, &table_name) {
                    Ok(t) => t.clone(),
                    Err(AedbError::NotFound { resource_type: ResourceType::Table, .. }) if if_exists => return Ok(()),
                    Err(e) => return Err(e),
                };
                self.drop_table(&t)
            }
            DdlOperation::CreateIndex { project_id, scope_id, table_name, index_name, if_not_exists, columns, index_type, partial_filter } => {
                let t = self.catalog.table(&project_id, &scope_id, &table_name)?.clone();
                check_name("index", &index_name)?;
                if t.record.indexes.iter().any(|ix| ix.def.index_name == index_name) {
                    return if if_not_exists { Ok(()) } else { Err(AedbError::exists(ResourceType::Index, format!("{table_name}.{index_name}"))) };
                }
                let def = IndexDef { project_id, scope_id, table_name, index_name, columns, index_type, partial_filter };
                self.add_index(&t, def, None)
            }
            DdlOperation::DropIndex { project_id, scope_id, table_name, index_name, if_exists } => {
                let t = self.catalog.table(&project_id, &scope_id, &table_name)?.clone();
                match t.record.indexes.iter().position(|ix| ix.def.index_name == index_name && ix.constraint.is_none()) {
                    Some(i) => self.remove_index(&t, i),
                    None if if_exists => Ok(()),
                    None => Err(AedbError::not_found(ResourceType::Index, format!("{table_name}.{index_name}"))),
                }
            }
        }
    }

    fn create_scope(&mut self, project: &str, scope: &str, owner_id: Option<String>, if_not_exists: bool) -> Result<(), AedbError> {
        check_name("scope", scope)?;
        self.catalog.project(project)?;
        let key = (project.to_string(), scope.to_string());
        if self.catalog.scopes.contains_key(&key) {
            return if if_not_exists { Ok(()) } else { Err(AedbError::exists(ResourceType::Scope, format!("{project}.{scope}"))) };
        }
        let rec = ScopeRecord { id: self.alloc_id(), owner_id, created_at_micros: now_micros() };
        self.put_catalog(&scope_key(project, scope), &encode_record(&rec)?)?;
        self.catalog_mut().scopes.insert(key, rec);
        Ok(())
    }

    fn drop_scope(&mut self, project: &str, scope: &str) -> Result<(), AedbError> {
        for t in self.catalog.tables_in(project, scope) {
            self.drop_table(&t)?;
        }
        let rec = self.catalog.scope(project, scope)?.clone();
        self.txn.delete_tree(&kv_tree(rec.id))?;
        self.delete_catalog(&scope_key(project, scope))?;
        self.catalog_mut().scopes.remove(&(project.to_string(), scope.to_string()));
        Ok(())
    }

    fn create_table(&mut self, project: String, scope: String, table: String, owner_id: Option<String>, columns: Vec<ColumnDef>, primary_key: Vec<String>) -> Result<(), AedbError> {
        check_name("table", &table)?;
        self.catalog.scope(&project, &scope)?;
        if self.catalog.tables.contains_key(&(project.clone(), scope.clone(), table.clone())) {
            return Err(AedbError::exists(ResourceType::Table, format!("{project}.{scope}.{table}")));
        }
        if columns.is_empty() {
            return Err(AedbError::Validation(format!("table '{table}' needs at least one column")));
        }
        let mut seen = HashSet::new();
        for c in &columns {
            check_name("column", &c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(AedbError::Validation(format!("table '{table}' names column '{}' twice", c.name)));
            }
        }
        if primary_key.is_empty() {
            return Err(AedbError::Validation(format!("table '{table}' needs a primary key")));
        }
        let mut pk_seen = HashSet::new();
        for k in &primary_key {
            let col = columns.iter().find(|c| &c.name == k).ok_or_else(|| AedbError::UnknownColumn { table: table.clone(), column: k.clone() })?;
            if col.nullable {
                return Err(AedbError::Validation(format!("primary-key column '{k}' of table '{table}' must not be nullable")));
            }
            if !pk_seen.insert(k) {
                return Err(AedbError::Validation(format!("primary key of table '{table}' names '{k}' twice")));
            }
        }
        let schema = TableSchema { project_id: project.clone(), scope_id: scope.clone(), table_name: table.clone(), owner_id, columns, primary_key, constraints: Vec::new() };
        let record = TableRecord { id: self.alloc_id(), schema, indexes: Vec::new(), created_at_micros: now_micros() };
        self.txn.open_tree(&rows_tree(record.id))?;
        self.save_table(record)
    }

    /// Writes a table record and updates the in-memory catalog.
    fn save_table(&mut self, record: TableRecord) -> Result<(), AedbError> {
        let s = &record.schema;
        let key = (s.project_id.clone(), s.scope_id.clone(), s.table_name.clone());
        self.put_catalog(&table_key(&key.0, &key.1, &key.2), &encode_record(&record)?)?;
        self.catalog_mut().tables.insert(key, Arc::new(TableInfo::new(record)));
        Ok(())
    }

    fn drop_table(&mut self, t: &TableInfo) -> Result<(), AedbError> {
        for ix in &t.record.indexes {
            self.txn.delete_tree(&index_tree(ix.id))?;
        }
        self.txn.delete_tree(&t.rows_tree)?;
        let s = t.schema();
        self.delete_catalog(&table_key(&s.project_id, &s.scope_id, &s.table_name))?;
        self.catalog_mut().tables.remove(&(s.project_id.clone(), s.scope_id.clone(), s.table_name.clone()));
        Ok(())
    }

    /// Adds an index (built from the current rows; a unique one fails on duplicates).
    fn add_index(&mut self, t: &TableInfo, def: IndexDef, constraint: Option<String>) -> Result<(), AedbError> {
        if def.columns.is_empty() {
            return Err(AedbError::Validation(format!("index '{}' needs at least one column", def.index_name)));
        }
        for c in &def.columns {
            if t.column(c).is_none() {
                return Err(AedbError::UnknownColumn { table: t.name().to_string(), column: c.clone() });
            }
        }
        if let Some(f) = &def.partial_filter {
            compile(f, &TableColumns(t)).map_err(|e| AedbError::Validation(format!("partial filter of index '{}': {e}", def.index_name)))?;
        }
        let mut record = t.record.clone();
        let id = self.alloc_id();
        record.indexes.push(IndexRecord { id, def, constraint });
        let info = TableInfo::new(record.clone());
        self.txn.open_tree(&index_tree(id))?;
        let i = info.record.indexes.len() - 1;
        for (pk, row) in self.all_rows(t)? {
            // Only the new index changes: `put_row` with the row as its own `old`
            // would skip it, so write its entry directly.
            if let Some((k, v)) = crate::table::index_entry(&info, i, &row, &pk)? {
                let mut tree = self.txn.open_tree(&index_tree(id))?;
                if info.record.indexes[i].def.index_type.is_unique() && tree.get(&k)?.is_some() {
                    let cols: Vec<&Value> = info.index_columns[i].iter().map(|&c| &row[c]).collect();
                    return Err(AedbError::UniqueViolation {
                        table: t.name().to_string(),
                        index: info.record.indexes[i].constraint.clone().unwrap_or_else(|| info.record.indexes[i].def.index_name.clone()),
                        key: crate::table::write::show_values(&cols),
                    });
                }
                tree.insert(&k, &v)?;
            }
        }
        self.save_table(record)
    }

    fn remove_index(&mut self, t: &TableInfo, i: usize) -> Result<(), AedbError> {
        let mut record = t.record.clone();
        let ix = record.indexes.remove(i);
        self.txn.delete_tree(&index_tree(ix.id))?;
        self.save_table(record)
    }

    fn alter_table(&mut self, t: &Arc<TableInfo>, alteration: TableAlteration) -> Result<(), AedbError> {
        let table = t.name().to_string();
        let mut record = t.record.clone();
        match alteration {
            TableAlteration::AddColumn(col) => {
                check_name("column", &col.name)?;
                if t.column(&col.name).is_some() {
                    return Err(AedbError::Validation(format!("table '{table}' already has a column '{}'", col.name)));
                }
                if !col.nullable && self.txn.open_tree(&t.rows_tree)?.len()? > 0 {
                    return Err(AedbError::Validation(format!(
                        "cannot add non-nullable column '{}' to table '{table}', which has rows: add it nullable",
                        col.name
                    )));
                }
                record.schema.columns.push(col);
                self.save_table(record)
            }
            TableAlteration::DropColumn { name } => {
                let pos = t.column(&name).ok_or_else(|| AedbError::UnknownColumn { table: table.clone(), column: name.clone() })?;
                let used = record.schema.primary_key.contains(&name)
                    || record.indexes.iter().any(|ix| ix.def.columns.contains(&name) || ix.def.partial_filter.as_ref().is_some_and(|f| expr_mentions(f, &name)))
                    || record.schema.constraints.iter().any(|c| match c {
                        Constraint::Unique { columns, .. } => columns.contains(&name),
                        Constraint::Check { expr, .. } => expr_mentions(expr, &name),
                        Constraint::NotNull { column } | Constraint::Default { column, .. } => *column == name,
                    });
                if used {
                    return Err(AedbError::Validation(format!("column '{name}' of table '{table}' is used by the primary key, an index or a constraint; drop those first")));
                }
                let rows = self.all_rows(t)?;
                record.schema.columns.remove(pos);
                let info = TableInfo::new(record.clone());
                for (pk, mut row) in rows {
                    row.remove(pos);
                    self.txn.open_tree(&info.rows_tree)?.insert(&pk, &crate::table::row::encode_row(&row))?;
                }
                self.save_table(record)
            }
            TableAlteration::RenameColumn { from, to } => {
                check_name("column", &to)?;
                let pos = t.column(&from).ok_or_else(|| AedbError::UnknownColumn { table: table.clone(), column: from.clone() })?;
                if t.column(&to).is_some() {
                    return Err(AedbError::Validation(format!("table '{table}' already has a column '{to}'")));
                }
                let s = &mut record.schema;
                s.columns[pos].name = to.clone();
                for k in s.primary_key.iter_mut().filter(|k| **k == from) {
                    *k = to.clone();
                }
                for c in &mut s.constraints {
                    match c {
                        Constraint::Unique { columns, .. } => columns.iter_mut().filter(|k| **k == from).for_each(|k| *k = to.clone()),
                        Constraint::Check { expr, .. } => rename_in_expr(expr, &from, &to),
                        Constraint::NotNull { column } | Constraint::Default { column, .. } => {
                            if *column == from {
                                *column = to.clone();
                            }
                        }
                    }
                }
                for ix in &mut record.indexes {
                    ix.def.columns.iter_mut().filter(|k| **k == from).for_each(|k| *k = to.clone());
                    if let Some(f) = &mut ix.def.partial_filter {
                        rename_in_expr(f, &from, &to);
                    }
                }
                self.save_table(record)
            }
            TableAlteration::AddConstraint(c) => {
                if let Constraint::Check { name, expr } = &c {
                    compile(expr, &TableColumns(t)).map_err(|e| AedbError::Validation(format!("check constraint '{name}' of table '{table}': {e}")))?;
                }
                let name = c.name();
                if record.schema.constraints.iter().any(|x| x.name() == name) {
                    return Err(AedbError::Validation(format!("table '{table}' already has a constraint '{name}'")));
                }
                record.schema.constraints.push(c.clone());
                let checked = TableInfo::new(record.clone());
                // Existing rows must satisfy the new rule.
                for (_, row) in self.all_rows(t)? {
                    check_row(&checked, crate::catalog::types::Row::from_values(row), usize::MAX)?;
                }
                self.save_table(record.clone())?;
                if let Constraint::Unique { name, columns } = c {
                    let def = IndexDef {
                        project_id: record.schema.project_id.clone(),
                        scope_id: record.schema.scope_id.clone(),
                        table_name: table.clone(),
                        index_name: format!("__unique_{name}"),
                        columns,
                        index_type: IndexType::UniqueHash,
                        partial_filter: None,
                    };
                    let current = self.catalog.table(&record.schema.project_id, &record.schema.scope_id, &table)?.clone();
                    self.add_index(&current, def, Some(name))?;
                }
                Ok(())
            }
            TableAlteration::DropConstraint { name } => {
                let pos = record.schema.constraints.iter().position(|c| c.name() == name).ok_or_else(|| AedbError::Validation(format!("table '{table}' has no constraint '{name}'")))?;
                record.schema.constraints.remove(pos);
                if let Some(i) = record.indexes.iter().position(|ix| ix.constraint.as_deref() == Some(name.as_str())) {
                    let ix = record.indexes.remove(i);
                    self.txn.delete_tree(&index_tree(ix.id))?;
                }
                self.save_table(record)
            }
        }
    }
}
