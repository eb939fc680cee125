//! The table invariants `check_invariants` verifies on a snapshot: every row
//! decodes under the table's schema and sits under the key its values make,
//! and every index holds exactly the entries a rebuild from the rows would
//! write (nothing missing, nothing extra, the same primary key).

use std::ops::Bound;

use crate::catalog::{TableInfo, index_tree};
use crate::error::AedbError;
use crate::storage::{ReadTransaction, StorageError};
use crate::table::{IndexEntry, decode, index_entry, pk_key};

/// What one table's check counted.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TableCounts {
    pub(crate) rows: u64,
    pub(crate) index_entries: u64,
}

fn tree_entries(
    txn: &ReadTransaction,
    name: &str,
    problems: &mut Vec<String>,
    what: &str,
) -> Result<Option<Vec<IndexEntry>>, AedbError> {
    let h = match txn.tree_handle(name) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => {
            problems.push(format!("{what}: its tree {name:?} does not exist"));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let tree = txn.tree(h)?;
    let mut out = Vec::with_capacity(tree.len() as usize);
    for item in tree.range(&(Bound::<&[u8]>::Unbounded, Bound::Unbounded))? {
        let (k, v) = item?;
        out.push((k.into_owned(), v.into_owned()));
    }
    Ok(Some(out))
}

/// Checks table `t` on `txn`, adding one line per broken invariant (at most
/// a few per index: the first differences) to `problems`.
pub(crate) fn check_table(
    txn: &ReadTransaction,
    t: &TableInfo,
    problems: &mut Vec<String>,
) -> Result<TableCounts, AedbError> {
    let name = t.name().to_string();
    let mut counts = TableCounts::default();
    let Some(rows) = tree_entries(txn, &t.rows_tree, problems, &format!("table {name}"))? else {
        return Ok(counts);
    };
    let mut expected: Vec<Vec<IndexEntry>> = vec![Vec::new(); t.record.indexes.len()];
    for (key, bytes) in &rows {
        counts.rows += 1;
        let values = match decode(t, key, bytes) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("table {name}: {e}"));
                continue;
            }
        };
        if pk_key(t, &values) != *key {
            problems.push(format!(
                "table {name}: the row under key {key:02x?} holds another key's values"
            ));
        }
        for (i, out) in expected.iter_mut().enumerate() {
            if let Some(entry) = index_entry(t, i, &values, key)? {
                out.push(entry);
            }
        }
    }
    for (i, mut want) in expected.into_iter().enumerate() {
        let ix = &t.record.indexes[i].def.index_name;
        let what = format!("index {ix} of {name}");
        let Some(got) = tree_entries(txn, &index_tree(t.record.indexes[i].id), problems, &what)?
        else {
            continue;
        };
        counts.index_entries += got.len() as u64;
        want.sort();
        if got != want {
            let first = got
                .iter()
                .zip(&want)
                .position(|(g, w)| g != w)
                .unwrap_or(got.len().min(want.len()));
            problems.push(format!(
                "{what}: {} entries, a rebuild from the rows has {}; first difference at entry {first}: holds {:02x?}, the rebuild {:02x?}",
                got.len(),
                want.len(),
                got.get(first).map(|e| &e.0),
                want.get(first).map(|e| &e.0),
            ));
        }
    }
    Ok(counts)
}
