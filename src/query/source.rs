//! Where the executor reads trees from: a read snapshot (queries) or a write
//! transaction (predicated mutations, which must see their own transaction's
//! edits). Both go through this one trait so the planner and executor serve both.
#![forbid(unsafe_code)]

use std::ops::Bound;

use aedb_btree::{PageSource, Tree};

use crate::error::AedbError;
use crate::storage::{ReadTransaction, StorageError, WriteTransaction};

/// Visitor of scanned entries; returns false to stop.
pub type Visit<'f> = dyn FnMut(&[u8], &[u8]) -> Result<bool, AedbError> + 'f;

pub trait Source {
    /// The snapshot's commit seq (the transaction's seq for a write).
    fn seq(&self) -> u64;
    /// Visits the entries of `tree` in [lo, hi), ascending or (`rev`) descending.
    fn scan(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>, rev: bool, visit: &mut Visit<'_>) -> Result<(), AedbError>;
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AedbError>;
    /// Entries in [lo, hi), in O(log n).
    fn count(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64, AedbError>;
}

fn scan_tree<S: PageSource>(t: &Tree<'_, S>, lo: Bound<&[u8]>, hi: Bound<&[u8]>, rev: bool, visit: &mut Visit<'_>) -> Result<(), AedbError> {
    let iter = if rev { t.range_rev(lo, hi)? } else { t.range(lo, hi)? };
    for entry in iter {
        let (k, v) = entry?;
        if !visit(&k, &v)? {
            break;
        }
    }
    Ok(())
}

/// A tree the catalog names must exist; its absence means damage, not user error.
fn missing(tree: &str, e: StorageError) -> AedbError {
    match e {
        StorageError::TreeNotFound(_) => AedbError::IntegrityError { message: format!("tree {tree:?} named by the catalog does not exist") },
        other => other.into(),
    }
}

impl Source for ReadTransaction {
    fn seq(&self) -> u64 {
        ReadTransaction::seq(self)
    }

    fn scan(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>, rev: bool, visit: &mut Visit<'_>) -> Result<(), AedbError> {
        let t = self.open_tree(tree).map_err(|e| missing(tree, e))?;
        scan_tree(t.raw(), lo, hi, rev, visit)
    }

    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AedbError> {
        let t = self.open_tree(tree).map_err(|e| missing(tree, e))?;
        Ok(t.get(key)?.map(|v| v.into_owned()))
    }

    fn count(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64, AedbError> {
        let t = self.open_tree(tree).map_err(|e| missing(tree, e))?;
        Ok(t.raw().count_range(lo, hi)?)
    }
}

impl Source for WriteTransaction<'_> {
    fn seq(&self) -> u64 {
        WriteTransaction::seq(self)
    }

    fn scan(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>, rev: bool, visit: &mut Visit<'_>) -> Result<(), AedbError> {
        self.open_tree(tree)?.read(|t| scan_tree(t, lo, hi, rev, visit))?
    }

    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AedbError> {
        Ok(self.open_tree(tree)?.get(key)?)
    }

    fn count(&mut self, tree: &str, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64, AedbError> {
        Ok(self.open_tree(tree)?.read(|t| t.count_range(lo, hi))??)
    }
}
