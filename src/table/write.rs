//! Row operations inside a write transaction: checking a row against its table
//! (types, NULLs, defaults, checks, size), and writing or removing it together
//! with every index entry, enforcing unique indexes.
#![forbid(unsafe_code)]

use crate::catalog::schema::Constraint;
use crate::catalog::types::{Row, Value};
use crate::catalog::{TableInfo, index_tree};
use crate::commit::context::WriteCtx;
use crate::error::AedbError;
use crate::table::{KeyedRow, decode, index_entry, pk_key, row::encode_row};

/// Renders key values for error messages: `(1, "alice")`.
pub fn show_values(values: &[&Value]) -> String {
    let parts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    format!("({})", parts.join(", "))
}

/// The primary-key values of a row, for messages.
pub fn show_pk(t: &TableInfo, values: &[Value]) -> String {
    show_values(&t.pk.iter().map(|&i| &values[i]).collect::<Vec<_>>())
}

/// Checks a row against `t`: arity, defaults for NULLs, types (integers convert
/// between integer types when they fit), NOT NULL, CHECK, and size. Returns the
/// values as stored.
pub fn check_row(t: &TableInfo, row: Row, max_row_bytes: usize) -> Result<Vec<Value>, AedbError> {
    let table = t.name();
    let cols = &t.schema().columns;
    let mut values = row.values;
    if values.len() > cols.len() {
        return Err(AedbError::Validation(format!("row for table '{table}' has {} values; the table has {} columns", values.len(), cols.len())));
    }
    values.resize(cols.len(), Value::Null);
    for c in &t.schema().constraints {
        if let Constraint::Default { column, value } = c
            && let Some(i) = t.column(column)
            && values[i].is_null()
        {
            values[i] = value.clone();
        }
    }
    for (i, col) in cols.iter().enumerate() {
        if values[i].is_null() {
            let not_null = !col.nullable || t.schema().constraints.iter().any(|c| matches!(c, Constraint::NotNull { column } if *column == col.name));
            if not_null {
                return Err(AedbError::NotNullViolation { table: table.to_string(), column: col.name.clone() });
            }
            continue;
        }
        values[i] = values[i].coerce_to(col.col_type).ok_or_else(|| AedbError::TypeMismatch {
            table: table.to_string(),
            column: col.name.clone(),
            expected: col.col_type.to_string(),
            actual: values[i].kind_name().to_string(),
        })?;
    }
    for (name, check) in &t.checks {
        let compiled = check.as_ref().map_err(|e| AedbError::Validation(e.clone()))?;
        if !compiled.matches(&values) {
            return Err(AedbError::CheckConstraintFailed { table: table.to_string(), constraint: name.clone() });
        }
    }
    let size = encode_row(&values).len();
    if size > max_row_bytes {
        return Err(AedbError::Validation(format!("row of table '{table}' is {size} bytes; max_table_value_bytes is {max_row_bytes}")));
    }
    Ok(values)
}

/// Coerces caller-given primary-key values to the key's column types.
pub fn pk_from_values(t: &TableInfo, pk: &[Value]) -> Result<Vec<u8>, AedbError> {
    if pk.len() != t.pk.len() {
        return Err(AedbError::Validation(format!("table '{}' has a {}-column primary key; {} values given", t.name(), t.pk.len(), pk.len())));
    }
    let mut cells = Vec::with_capacity(pk.len());
    for (v, &i) in pk.iter().zip(&t.pk) {
        let col = &t.schema().columns[i];
        let c = v.coerce_to(col.col_type).filter(|c| !c.is_null()).ok_or_else(|| AedbError::TypeMismatch {
            table: t.name().to_string(),
            column: col.name.clone(),
            expected: col.col_type.to_string(),
            actual: v.kind_name().to_string(),
        })?;
        cells.push(c);
    }
    Ok(crate::table::key::encode_key(&cells.iter().collect::<Vec<_>>()))
}

impl WriteCtx<'_, '_> {
    /// The stored row under `pk`.
    pub fn get_row(&mut self, t: &TableInfo, pk: &[u8]) -> Result<Option<Vec<Value>>, AedbError> {
        match self.txn.open_tree(&t.rows_tree)?.get(pk)? {
            Some(bytes) => Ok(Some(decode(t, pk, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Writes a checked row (replacing `old`, the row stored under the same key,
    /// if any) and brings every index up to date.
    pub fn put_row(&mut self, t: &TableInfo, values: &[Value], old: Option<&[Value]>) -> Result<(), AedbError> {
        let pk = pk_key(t, values);
        if pk.len() > crate::btree::TreeConfig::default().key_limit {
            return Err(AedbError::Validation(format!("primary key of table '{}' encodes to {} bytes; the limit is {}", t.name(), pk.len(), crate::btree::TreeConfig::default().key_limit)));
        }
        for i in 0..t.record.indexes.len() {
            let before = old.map(|o| index_entry(t, i, o, &pk)).transpose()?.flatten();
            let after = index_entry(t, i, values, &pk)?;
            if before == after {
                continue;
            }
            let ix = &t.record.indexes[i];
            let mut tree = self.txn.open_tree(&index_tree(ix.id))?;
            if let Some((k, _)) = &before {
                tree.remove(k)?;
            }
            if let Some((k, v)) = after {
                let limit = crate::btree::TreeConfig::default().key_limit;
                if k.len() > limit {
                    return Err(AedbError::Validation(format!(
                        "index '{}' of table '{}': the entry's key encodes to {} bytes; the limit is {limit}",
                        ix.def.index_name,
                        t.name(),
                        k.len()
                    )));
                }
                if ix.def.index_type.is_unique()
                    && let Some(other) = tree.get(&k)?
                    && other != pk
                {
                    let cols: Vec<&Value> = t.index_columns[i].iter().map(|&c| &values[c]).collect();
                    return Err(AedbError::UniqueViolation {
                        table: t.name().to_string(),
                        index: ix.constraint.clone().unwrap_or_else(|| ix.def.index_name.clone()),
                        key: show_values(&cols),
                    });
                }
                tree.insert(&k, &v)?;
            }
        }
        self.txn.open_tree(&t.rows_tree)?.insert(&pk, &encode_row(values))?;
        Ok(())
    }

    /// Removes the row stored under `pk` (whose values are `old`) and its index entries.
    pub fn remove_row(&mut self, t: &TableInfo, pk: &[u8], old: &[Value]) -> Result<(), AedbError> {
        for i in 0..t.record.indexes.len() {
            if let Some((k, _)) = index_entry(t, i, old, pk)? {
                self.txn.open_tree(&index_tree(t.record.indexes[i].id))?.remove(&k)?;
            }
        }
        self.txn.open_tree(&t.rows_tree)?.remove(pk)?;
        Ok(())
    }

    /// Every stored row of `t` (for DDL that rewrites or checks a table).
    pub fn all_rows(&mut self, t: &TableInfo) -> Result<Vec<KeyedRow>, AedbError> {
        let mut out = Vec::new();
        self.txn.open_tree(&t.rows_tree)?.read(|tree| -> Result<(), AedbError> {
            for e in tree.iter()? {
                let (k, v) = e?;
                out.push((k.to_vec(), decode(t, &k, &v)?));
            }
            Ok(())
        })??;
        Ok(out)
    }
}
