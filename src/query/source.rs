//! Where the executor reads trees from: a read snapshot (queries) or a write
//! transaction (predicated mutations, which must see their own transaction's
//! edits). Both go through this one trait so the planner and executor serve both.
//!
//! Invariant: neither side creates a tree. A tree the catalog names and the
//! snapshot or transaction lacks is `IntegrityError` on both (`missing_tree`).

use std::ops::Bound;

use aedb_btree::{PageSource, Tree};

use crate::error::AedbError;
use crate::storage::{ReadTransaction, TreeHandle, WriteTransaction};
use crate::table::{existing_tree, missing_tree};
use crate::vocab::types::Value;

/// Decoder of a stored row.
pub(crate) type Decode<'f> = dyn FnMut(&[u8]) -> Result<Vec<Value>, AedbError> + 'f;

/// Visitor of scanned entries; returns false to stop.
pub(crate) type Visit<'f> = dyn FnMut(&[u8], &[u8]) -> Result<bool, AedbError> + 'f;

pub(crate) trait Source {
    /// The snapshot's commit seq (the transaction's seq for a write).
    fn seq(&self) -> u64;
    /// Visits the entries of `tree` in [lo, hi), ascending or (`rev`) descending.
    fn scan(
        &mut self,
        tree: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), AedbError>;
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AedbError>;
    /// The row under `key` decoded in place by `f` (no copy of the stored bytes
    /// where the engine can lend them).
    fn get_with(
        &mut self,
        tree: &str,
        key: &[u8],
        f: &mut Decode<'_>,
    ) -> Result<Option<Vec<Value>>, AedbError> {
        self.get(tree, key)?.map(|v| f(&v)).transpose()
    }
    /// Entries in [lo, hi), in O(log n).
    fn count(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64, AedbError>;
}

fn scan_tree<S: PageSource>(
    t: &Tree<'_, S>,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    rev: bool,
    visit: &mut Visit<'_>,
) -> Result<(), AedbError> {
    let iter = if rev {
        t.range_rev(lo, hi)?
    } else {
        t.range(lo, hi)?
    };
    for entry in iter {
        let (k, v) = entry?;
        if !visit(&k, &v)? {
            break;
        }
    }
    Ok(())
}

/// A read snapshot as a [`Source`], resolving each tree once.
pub(crate) struct SnapshotSource {
    pub(crate) txn: ReadTransaction,
    trees: Vec<(String, TreeHandle)>,
}

impl SnapshotSource {
    pub(crate) fn new(txn: ReadTransaction) -> Self {
        SnapshotSource {
            txn,
            trees: Vec::new(),
        }
    }

    fn handle(&mut self, tree: &str) -> Result<TreeHandle, AedbError> {
        if let Some((_, h)) = self.trees.iter().find(|(n, _)| n == tree) {
            return Ok(*h);
        }
        let h = self
            .txn
            .tree_handle(tree)
            .map_err(|e| missing_tree(tree, e))?;
        self.trees.push((tree.to_string(), h));
        Ok(h)
    }
}

impl Source for SnapshotSource {
    fn seq(&self) -> u64 {
        self.txn.seq()
    }

    fn scan(
        &mut self,
        tree: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), AedbError> {
        let h = self.handle(tree)?;
        scan_tree(self.txn.tree(h)?.raw(), lo, hi, rev, visit)
    }

    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AedbError> {
        let h = self.handle(tree)?;
        Ok(self.txn.tree(h)?.get(key)?.map(|v| v.into_owned()))
    }

    fn get_with(
        &mut self,
        tree: &str,
        key: &[u8],
        f: &mut Decode<'_>,
    ) -> Result<Option<Vec<Value>>, AedbError> {
        let h = self.handle(tree)?;
        self.txn.tree(h)?.get(key)?.map(|v| f(&v)).transpose()
    }

    fn count(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64, AedbError> {
        let h = self.handle(tree)?;
        Ok(self.txn.tree(h)?.raw().count_range(lo, hi)?)
    }
}

impl Source for WriteTransaction<'_> {
    fn seq(&self) -> u64 {
        WriteTransaction::seq(self)
    }

    fn scan(
        &mut self,
        tree: &str,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        rev: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), AedbError> {
        existing_tree(self, tree)?.read(|t| scan_tree(t, lo, hi, rev, visit))?
    }

    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AedbError> {
        Ok(existing_tree(self, tree)?.get(key)?)
    }

    fn count(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64, AedbError> {
        Ok(existing_tree(self, tree)?.read(|t| t.count_range(lo, hi))??)
    }
}
