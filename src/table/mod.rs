//! Tables on trees: the primary key and index key of a row, row encoding, and
//! (in `write`) the row operations every mutation is built from.
//!
//! Not a public path: only `fuzzing`, the harness door for the fuzz target and
//! `tests/fuzz_replay.rs`, is reachable from outside (`#[doc(hidden)]`).

pub(crate) mod check;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod key;
pub(crate) mod row;
pub(crate) mod write;

use crate::catalog::TableInfo;
use crate::error::AedbError;
use crate::storage::{StorageError, TreeMut, WriteTransaction};
use crate::vocab::types::Value;
use key::{encode_key, encode_nullable, encoded_nullable_len};

/// A stored row with its encoded primary key.
pub(crate) type KeyedRow = (Vec<u8>, Vec<Value>);

/// An index entry: (key, value).
pub(crate) type IndexEntry = (Vec<u8>, Vec<u8>);

/// The encoded primary key of a (checked) row.
pub(crate) fn pk_key(t: &TableInfo, values: &[Value]) -> Vec<u8> {
    let cells: Vec<&Value> = t.pk.iter().map(|&i| &values[i]).collect();
    encode_key(&cells)
}

/// Decodes a stored row of `t`, naming the table and key when it is damaged.
pub(crate) fn decode(t: &TableInfo, key: &[u8], bytes: &[u8]) -> Result<Vec<Value>, AedbError> {
    decode_versioned(t, key, bytes).map(|(_, values)| values)
}

/// `decode`, with the seq of the commit that last wrote the row.
pub(crate) fn decode_versioned(
    t: &TableInfo,
    key: &[u8],
    bytes: &[u8],
) -> Result<(u64, Vec<Value>), AedbError> {
    row::split_version(bytes)
        .and_then(|(version, cells)| Ok((version, row::decode_row(&t.types, cells)?)))
        .map_err(|e| {
            AedbError::Decode(format!(
                "row of table '{}' at key {key:02x?}: {e}",
                t.name()
            ))
        })
}

/// Opens a tree the catalog names, for reading on the write side. Unlike
/// `open_tree` it never creates one: a missing tree is damage, reported as the
/// read side reports it (`IntegrityError`), not silently made empty.
pub(crate) fn existing_tree<'t, 'db>(
    txn: &'t mut WriteTransaction<'db>,
    name: &str,
) -> Result<TreeMut<'t, 'db>, AedbError> {
    txn.existing_tree(name)?
        .ok_or_else(|| missing_tree(name, StorageError::TreeNotFound(name.to_string())))
}

/// A tree the catalog names must exist; its absence means damage, not user error.
pub(crate) fn missing_tree(tree: &str, e: StorageError) -> AedbError {
    match e {
        StorageError::TreeNotFound(_) => AedbError::IntegrityError {
            message: format!("tree {tree:?} named by the catalog does not exist"),
        },
        other => other.into(),
    }
}

/// The entry of index `i` for a row: `Some((key, value))`, or `None` when the row is
/// not indexed (a partial filter excludes it, or a unique index sees a NULL).
/// Unique index: key = columns, value = primary key. Other: key = columns ++
/// primary key, empty value.
pub(crate) fn index_entry(
    t: &TableInfo,
    i: usize,
    values: &[Value],
    pk: &[u8],
) -> Result<Option<IndexEntry>, AedbError> {
    let ix = &t.record.indexes[i];
    if let Some(filter) = &t.partial_filters[i] {
        let compiled = filter
            .as_ref()
            .map_err(|e| AedbError::Validation(e.clone()))?;
        if !compiled.matches(values) {
            return Ok(None);
        }
    }
    let cols = &t.index_columns[i];
    let unique = ix.def.index_type.is_unique();
    if unique && cols.iter().any(|&c| values[c].is_null()) {
        return Ok(None);
    }
    let mut key = Vec::with_capacity(cols.len() * 10 + pk.len());
    for &c in cols {
        encode_nullable(&mut key, &values[c]);
    }
    if unique {
        Ok(Some((key, pk.to_vec())))
    } else {
        key.extend_from_slice(pk);
        Ok(Some((key, Vec::new())))
    }
}

/// The primary key an index entry points at.
pub(crate) fn pk_of_index_entry(
    t: &TableInfo,
    i: usize,
    key: &[u8],
    value: &[u8],
) -> Result<Vec<u8>, AedbError> {
    if t.record.indexes[i].def.index_type.is_unique() {
        return Ok(value.to_vec());
    }
    let mut at = 0;
    for &c in &t.index_columns[i] {
        at += encoded_nullable_len(t.types[c], &key[at..]).ok_or_else(|| {
            AedbError::IntegrityError {
                message: format!(
                    "index '{}' of table '{}' holds a malformed key {key:02x?}",
                    t.record.indexes[i].def.index_name,
                    t.name()
                ),
            }
        })?;
    }
    Ok(key[at..].to_vec())
}
