//! `TableSpec` and `IndexSpec`: a table as code declares it, and the DDL that
//! creates or drops it.

use std::collections::BTreeSet;

use crate::catalog::schema::{ColumnDef, Constraint, IndexType};
use crate::catalog::types::ColumnType;
use crate::catalog::{DdlOperation, ResourceType, check_name};
use crate::error::AedbError;
use crate::vocab::expr::Expr;

/// A secondary index as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    /// Unique among the table's indexes.
    pub index_name: String,
    /// Indexed columns, in key order.
    pub columns: Vec<String>,
    /// How the index is kept (`UniqueHash` allows one row per non-NULL tuple).
    pub index_type: IndexType,
    /// For `to_ddl`: an index of that name already there is no error.
    pub if_not_exists: bool,
    /// Only rows matching it are indexed.
    pub partial_filter: Option<Expr>,
}

impl IndexSpec {
    /// An index over `columns`, failing on an existing name, covering every row.
    pub fn new(index_name: impl Into<String>, columns: &[&str], index_type: IndexType) -> Self {
        IndexSpec {
            index_name: index_name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            index_type,
            if_not_exists: false,
            partial_filter: None,
        }
    }

    /// With `true`, `to_ddl`'s `CreateIndex` accepts an index of that name
    /// already there (a declared schema's plan ignores it: it creates only
    /// what is missing).
    pub fn if_not_exists(mut self, if_not_exists: bool) -> Self {
        self.if_not_exists = if_not_exists;
        self
    }

    /// Indexes only the rows matching `partial_filter`.
    pub fn partial_filter(mut self, partial_filter: Expr) -> Self {
        self.partial_filter = Some(partial_filter);
        self
    }

    /// The `CreateIndex` of this index on a table.
    pub fn create_op(&self, project_id: &str, scope_id: &str, table_name: &str) -> DdlOperation {
        DdlOperation::CreateIndex {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: table_name.into(),
            index_name: self.index_name.clone(),
            if_not_exists: self.if_not_exists,
            columns: self.columns.clone(),
            index_type: self.index_type,
            partial_filter: self.partial_filter.clone(),
        }
    }
}

/// A table as declared: columns in row order, primary key, constraints and
/// secondary indexes. (0.1.9's `if_not_exists` and async indexes are not
/// here: `CreateTable` has no `if_not_exists`, and there are no async
/// indexes; a declared schema's plan creates only what is missing.)
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Unique in its scope.
    pub table_name: String,
    /// Owner of a table the spec creates (or transfers it to, in a plan).
    pub owner_id: Option<String>,
    /// Columns in row order (rows are written and read positionally).
    pub columns: Vec<ColumnDef>,
    /// Primary-key columns, in key order; each must be a non-nullable column.
    pub primary_key: Vec<String>,
    /// Secondary indexes, by name.
    pub indexes: Vec<IndexSpec>,
    /// Unique, check, not-null and default constraints, by name.
    pub constraints: Vec<Constraint>,
}

impl TableSpec {
    /// A table with no columns yet.
    pub fn new(table_name: impl Into<String>) -> Self {
        TableSpec {
            table_name: table_name.into(),
            owner_id: None,
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            constraints: Vec::new(),
        }
    }

    /// Makes `owner_id` the table's owner (at creation, or by a transfer).
    pub fn owner_id(mut self, owner_id: impl Into<String>) -> Self {
        self.owner_id = Some(owner_id.into());
        self
    }

    /// Appends a column.
    pub fn column(mut self, name: impl Into<String>, col_type: ColumnType, nullable: bool) -> Self {
        self.columns.push(ColumnDef {
            name: name.into(),
            col_type,
            nullable,
        });
        self
    }

    /// Sets the primary-key columns, in key order.
    pub fn primary_key(mut self, primary_key: &[&str]) -> Self {
        self.primary_key = primary_key.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Declares a secondary index.
    pub fn add_index(mut self, index: IndexSpec) -> Self {
        self.indexes.push(index);
        self
    }

    /// Adds a constraint (unique, check, not-null or default).
    pub fn constraint(mut self, constraint: Constraint) -> Self {
        self.constraints.push(constraint);
        self
    }

    fn invalid(&self, what: String) -> AedbError {
        AedbError::Validation(format!("table spec '{}': {what}", self.table_name))
    }

    /// Checks what the catalog would refuse, before anything is committed:
    /// names, at least one column, no repeated column, index or constraint
    /// name, a primary key of existing non-nullable columns, and indexes and
    /// constraints over existing columns.
    pub fn validate(&self) -> Result<(), AedbError> {
        check_name("table", &self.table_name)?;
        if self.columns.is_empty() {
            return Err(self.invalid("no columns".into()));
        }
        let mut names = BTreeSet::new();
        for c in &self.columns {
            check_name("column", &c.name)?;
            if !names.insert(c.name.as_str()) {
                return Err(self.invalid(format!("column '{}' is declared twice", c.name)));
            }
        }
        let known = |c: &String| names.contains(c.as_str());
        if self.primary_key.is_empty() {
            return Err(self.invalid("no primary key".into()));
        }
        for k in &self.primary_key {
            match self.columns.iter().find(|c| &c.name == k) {
                None => {
                    return Err(self.invalid(format!("primary-key column '{k}' is not a column")));
                }
                Some(c) if c.nullable => {
                    return Err(self.invalid(format!("primary-key column '{k}' is nullable")));
                }
                Some(_) => {}
            }
        }
        let mut index_names = BTreeSet::new();
        for ix in &self.indexes {
            check_name("index", &ix.index_name)?;
            if !index_names.insert(ix.index_name.as_str()) {
                return Err(self.invalid(format!("index '{}' is declared twice", ix.index_name)));
            }
            if ix.columns.is_empty() {
                return Err(self.invalid(format!("index '{}' has no columns", ix.index_name)));
            }
            if let Some(c) = ix.columns.iter().find(|c| !known(c)) {
                return Err(self.invalid(format!(
                    "index '{}' names column '{c}', which is not a column",
                    ix.index_name
                )));
            }
        }
        let mut constraint_names = BTreeSet::new();
        for c in &self.constraints {
            let name = c.name();
            if !constraint_names.insert(name.clone()) {
                return Err(self.invalid(format!("constraint '{name}' is declared twice")));
            }
            let columns: Vec<&String> = match c {
                Constraint::Unique { columns, .. } => columns.iter().collect(),
                Constraint::NotNull { column } | Constraint::Default { column, .. } => vec![column],
                Constraint::Check { .. } => Vec::new(),
            };
            if let Some(col) = columns.into_iter().find(|c| !known(c)) {
                return Err(self.invalid(format!(
                    "constraint '{name}' names column '{col}', which is not a column"
                )));
            }
        }
        Ok(())
    }

    /// The DDL that creates the table, its constraints and its indexes.
    pub fn to_ddl(&self, project_id: &str, scope_id: &str) -> Result<Vec<DdlOperation>, AedbError> {
        self.validate()?;
        let mut ops = vec![DdlOperation::CreateTable {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: self.table_name.clone(),
            owner_id: self.owner_id.clone(),
            columns: self.columns.clone(),
            primary_key: self.primary_key.clone(),
        }];
        ops.extend(self.constraints.iter().map(|c| DdlOperation::AlterTable {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: self.table_name.clone(),
            alteration: crate::catalog::schema::TableAlteration::AddConstraint(c.clone()),
        }));
        ops.extend(
            self.indexes
                .iter()
                .map(|ix| ix.create_op(project_id, scope_id, &self.table_name)),
        );
        Ok(ops)
    }

    /// The DDL that drops the table (its indexes go with it).
    pub fn drop_ops(&self, project_id: &str, scope_id: &str, if_exists: bool) -> Vec<DdlOperation> {
        vec![DdlOperation::DropTable {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: self.table_name.clone(),
            if_exists,
        }]
    }
}

/// The DDL that makes `new_owner_id` the owner of a table.
pub fn transfer_table_ownership(
    project_id: impl Into<String>,
    scope_id: impl Into<String>,
    table_name: impl Into<String>,
    new_owner_id: impl Into<String>,
) -> DdlOperation {
    DdlOperation::TransferOwnership {
        resource_type: ResourceType::Table,
        project_id: project_id.into(),
        scope_id: Some(scope_id.into()),
        table_name: Some(table_name.into()),
        new_owner_id: new_owner_id.into(),
        actor_id: None,
    }
}
