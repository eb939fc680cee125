//! Row operations inside a write transaction: checking a row against its table
//! (types, NULLs, defaults, checks, size), and writing or removing it together
//! with every index entry, enforcing unique indexes.
//!
//! Every function takes the engine's write transaction and the `TableInfo` it
//! works on, nothing else: the catalog and the mutation being applied are the
//! caller's (`commit`).
//!
//! Invariants (facade invariant 3, "indexes follow rows"):
//! 1. `put_row` and `remove_row` are the only writers of rows; each updates every
//!    index entry whose key changes, in the same transaction, and refuses a
//!    duplicate in a unique index before writing the row.
//! 2. DDL that touches rows (`build_index`, `drop_column`) goes through this file
//!    too, so the row and index layouts are written in one place.
//! 3. Reads here never create a tree (`existing_tree`): a tree the catalog names
//!    and the directory lacks is damage, reported as `IntegrityError`.

use crate::catalog::TableInfo;
use crate::catalog::index_tree;
use crate::catalog::schema::Constraint;
use crate::error::AedbError;
use crate::storage::WriteTransaction;
use crate::table::row::{encode_row, encode_stored};
use crate::table::{KeyedRow, decode, decode_versioned, existing_tree, index_entry, pk_key};
use crate::vocab::types::{Row, Value};

/// Checks a row against `t`: arity, defaults for NULLs, types (integers convert
/// between integer types when they fit), NOT NULL, CHECK, and size. Returns the
/// values as stored.
pub(crate) fn check_row(
    t: &TableInfo,
    row: Row,
    max_row_bytes: usize,
) -> Result<Vec<Value>, AedbError> {
    let table = t.name();
    let cols = &t.schema().columns;
    let mut values = row.values;
    if values.len() > cols.len() {
        return Err(AedbError::Validation(format!(
            "row for table '{table}' has {} values; the table has {} columns",
            values.len(),
            cols.len()
        )));
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
            let not_null = !col.nullable
                || t.schema()
                    .constraints
                    .iter()
                    .any(|c| matches!(c, Constraint::NotNull { column } if *column == col.name));
            if not_null {
                return Err(AedbError::NotNullViolation {
                    table: table.to_string(),
                    column: col.name.clone(),
                });
            }
            continue;
        }
        values[i] = values[i]
            .coerce_to(col.col_type)
            .ok_or_else(|| AedbError::TypeMismatch {
                table: table.to_string(),
                column: col.name.clone(),
                expected: col.col_type.to_string(),
                actual: values[i].kind_name().to_string(),
            })?;
    }
    for (name, check) in &t.checks {
        let compiled = check
            .as_ref()
            .map_err(|e| AedbError::Validation(e.clone()))?;
        if !compiled.matches(&values) {
            return Err(AedbError::CheckConstraintFailed {
                table: table.to_string(),
                constraint: name.clone(),
            });
        }
    }
    let size = encode_row(&values).len();
    if size > max_row_bytes {
        return Err(AedbError::Validation(format!(
            "row of table '{table}' is {size} bytes; max_table_value_bytes is {max_row_bytes}"
        )));
    }
    Ok(values)
}

/// Coerces caller-given primary-key values to the key's column types.
pub(crate) fn pk_from_values(t: &TableInfo, pk: &[Value]) -> Result<Vec<u8>, AedbError> {
    if pk.len() != t.pk.len() {
        return Err(AedbError::Validation(format!(
            "table '{}' has a {}-column primary key; {} values given",
            t.name(),
            t.pk.len(),
            pk.len()
        )));
    }
    let mut cells = Vec::with_capacity(pk.len());
    for (v, &i) in pk.iter().zip(&t.pk) {
        let c = Some(coerce_cell(t, i, v)?)
            .filter(|c| !c.is_null())
            .ok_or_else(|| mismatch(t, i, v))?;
        cells.push(c);
    }
    Ok(crate::table::key::encode_key(
        &cells.iter().collect::<Vec<_>>(),
    ))
}

/// A caller-given value as column `c`'s type (`TypeMismatch` naming the
/// column if it cannot be).
pub(crate) fn coerce_cell(t: &TableInfo, c: usize, v: &Value) -> Result<Value, AedbError> {
    v.coerce_to(t.types[c]).ok_or_else(|| mismatch(t, c, v))
}

fn mismatch(t: &TableInfo, c: usize, v: &Value) -> AedbError {
    let col = &t.schema().columns[c];
    AedbError::TypeMismatch {
        table: t.name().to_string(),
        column: col.name.clone(),
        expected: col.col_type.to_string(),
        actual: v.kind_name().to_string(),
    }
}

/// The stored row under `pk`.
pub(crate) fn get_row(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
    pk: &[u8],
) -> Result<Option<Vec<Value>>, AedbError> {
    Ok(get_row_versioned(txn, t, pk)?.map(|(_, row)| row))
}

/// The stored row under `pk` and the seq of the commit that last wrote it.
pub(crate) fn get_row_versioned(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
    pk: &[u8],
) -> Result<Option<(u64, Vec<Value>)>, AedbError> {
    match existing_tree(txn, &t.rows_tree)?.get(pk)? {
        Some(bytes) => Ok(Some(decode_versioned(t, pk, &bytes)?)),
        None => Ok(None),
    }
}

/// Writes a checked row (replacing `old`, the row stored under the same key,
/// if any) and brings every index up to date.
pub(crate) fn put_row(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
    values: &[Value],
    old: Option<&[Value]>,
) -> Result<(), AedbError> {
    let pk = pk_key(t, values);
    let limit = crate::btree::TreeConfig::default().key_limit;
    if pk.len() > limit {
        return Err(AedbError::Validation(format!(
            "primary key of table '{}' encodes to {} bytes; the limit is {limit}",
            t.name(),
            pk.len()
        )));
    }
    for i in 0..t.record.indexes.len() {
        let before = old
            .map(|o| index_entry(t, i, o, &pk))
            .transpose()?
            .flatten();
        let after = index_entry(t, i, values, &pk)?;
        if before == after {
            continue;
        }
        let ix = &t.record.indexes[i];
        let mut tree = txn.open_tree(&index_tree(ix.id))?;
        if let Some((k, _)) = &before {
            tree.remove(k)?;
        }
        if let Some((k, v)) = after {
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
                return Err(t.unique_violation(i, values));
            }
            tree.insert(&k, &v)?;
        }
    }
    let stored = encode_stored(txn.seq(), values);
    txn.open_tree(&t.rows_tree)?.insert(&pk, &stored)?;
    Ok(())
}

/// Removes the row stored under `pk` (whose values are `old`) and its index entries.
pub(crate) fn remove_row(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
    pk: &[u8],
    old: &[Value],
) -> Result<(), AedbError> {
    for i in 0..t.record.indexes.len() {
        if let Some((k, _)) = index_entry(t, i, old, pk)? {
            txn.open_tree(&index_tree(t.record.indexes[i].id))?
                .remove(&k)?;
        }
    }
    txn.open_tree(&t.rows_tree)?.remove(pk)?;
    Ok(())
}

/// Every stored row of `t` (for DDL that rewrites or checks a table).
pub(crate) fn all_rows(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
) -> Result<Vec<KeyedRow>, AedbError> {
    let mut out = Vec::new();
    existing_tree(txn, &t.rows_tree)?.read(|tree| -> Result<(), AedbError> {
        for e in tree.iter()? {
            let (k, v) = e?;
            out.push((k.to_vec(), decode(t, &k, &v)?));
        }
        Ok(())
    })??;
    Ok(out)
}

/// Fills index `i` of `t` (a new, empty index) from the table's rows; a unique
/// index fails on the first duplicate.
pub(crate) fn build_index(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
    i: usize,
) -> Result<(), AedbError> {
    let tree = index_tree(t.record.indexes[i].id);
    txn.open_tree(&tree)?;
    let unique = t.record.indexes[i].def.index_type.is_unique();
    for (pk, row) in all_rows(txn, t)? {
        // Only the new index changes: `put_row` with the row as its own `old`
        // would skip it, so write its entry directly.
        if let Some((k, v)) = index_entry(t, i, &row, &pk)? {
            let mut tree = txn.open_tree(&tree)?;
            if unique && tree.get(&k)?.is_some() {
                return Err(t.unique_violation(i, &row));
            }
            tree.insert(&k, &v)?;
        }
    }
    Ok(())
}

/// Rewrites every row of `t` without the column at `pos` (`t` still has it).
pub(crate) fn drop_column(
    txn: &mut WriteTransaction<'_>,
    t: &TableInfo,
    pos: usize,
) -> Result<(), AedbError> {
    // Rewriting a row is writing it: its version becomes this commit's.
    let seq = txn.seq();
    for (pk, mut row) in all_rows(txn, t)? {
        row.remove(pos);
        txn.open_tree(&t.rows_tree)?
            .insert(&pk, &encode_stored(seq, &row))?;
    }
    Ok(())
}
