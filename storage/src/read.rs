//! Read transactions: a registered snapshot and its named trees.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use aedb_btree::{Range, Tree};
use aedb_pager::ReadView;

use crate::catalog::{ROOT_DIR_OWNER, TreeEntry, check_name, tree_entries};
use crate::engine::Engine;
use crate::error::{Result, StorageError};
use crate::snapshot::Snapshot;

/// A consistent view of the database at one commit seq. Holding it keeps the pages
/// it reads from being reused.
pub struct ReadTransaction {
    engine: Arc<Engine>,
    snapshot: Arc<Snapshot>,
}

impl ReadTransaction {
    pub(crate) fn new(engine: Arc<Engine>, snapshot: Arc<Snapshot>) -> Self {
        ReadTransaction { engine, snapshot }
    }

    /// The commit seq this transaction reads.
    pub fn seq(&self) -> u64 {
        self.snapshot.seq
    }

    /// The WAL chain hash after this snapshot's commit.
    pub fn chain_hash(&self) -> [u8; 32] {
        self.snapshot.chain_hash
    }

    /// The directory entry of tree `name` in this snapshot. A caller's name is
    /// checked first, so it never reaches the directory's internal keys (F10).
    fn entry(&self, name: &str) -> Result<TreeEntry> {
        // A name found in the cache passed this check when it was looked up.
        if let Some(entry) = self.snapshot.entries.get(name) {
            return Ok(entry);
        }
        check_name(name)?;
        let dir = Tree::new(&self.snapshot.view, self.snapshot.root_dir, ROOT_DIR_OWNER);
        let value = dir
            .get(name.as_bytes())?
            .ok_or_else(|| StorageError::TreeNotFound(name.to_string()))?;
        let entry = TreeEntry::decode(name.as_bytes(), &value)?;
        self.snapshot.entries.remember(name, entry);
        Ok(entry)
    }

    /// Tree `name` as of this snapshot.
    pub fn open_tree(&self, name: &str) -> Result<ReadTree<'_>> {
        let entry = self.entry(name)?;
        Ok(ReadTree {
            tree: Tree::new(&self.snapshot.view, entry.root, entry.id),
        })
    }

    /// Resolves tree `name` once; [`ReadTransaction::tree`] then opens it with no
    /// directory lookup (for readers that visit one tree many times).
    pub fn tree_handle(&self, name: &str) -> Result<TreeHandle> {
        let entry = self.entry(name)?;
        Ok(TreeHandle {
            root: entry.root,
            id: entry.id,
            seq: self.snapshot.seq,
        })
    }

    /// The tree a handle of this snapshot names.
    pub fn tree(&self, handle: TreeHandle) -> Result<ReadTree<'_>> {
        if handle.seq != self.snapshot.seq {
            return Err(StorageError::Task(format!(
                "tree handle of seq {} used on a snapshot of seq {}",
                handle.seq, self.snapshot.seq
            )));
        }
        Ok(ReadTree {
            tree: Tree::new(&self.snapshot.view, handle.root, handle.id),
        })
    }

    /// Names of every tree in this snapshot.
    pub fn list_trees(&self) -> Result<Vec<String>> {
        let dir = Tree::new(&self.snapshot.view, self.snapshot.root_dir, ROOT_DIR_OWNER);
        Ok(tree_entries(&dir)?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }
}

impl Drop for ReadTransaction {
    fn drop(&mut self) {
        self.engine.readers.release(self.snapshot.seq);
    }
}

/// A tree resolved in one snapshot (see [`ReadTransaction::tree_handle`]).
#[derive(Debug, Clone, Copy)]
pub struct TreeHandle {
    root: Option<aedb_btree::TreeRoot>,
    id: u64,
    seq: u64,
}

/// A named tree in a read snapshot; values borrow from the snapshot (zero copy for
/// inline values on real files).
pub struct ReadTree<'r> {
    tree: Tree<'r, ReadView>,
}

fn bounds<R: RangeBounds<[u8]> + ?Sized>(range: &R) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (range.start_bound(), range.end_bound())
}

impl<'r> ReadTree<'r> {
    /// The value under `key`. An inline value borrows from the snapshot (on real
    /// files); a value in overflow pages is copied out.
    pub fn get(&self, key: &[u8]) -> Result<Option<Cow<'r, [u8]>>> {
        Ok(self.tree.get(key)?)
    }

    /// Entries in the tree at this snapshot (O(1): recorded with the root).
    pub fn len(&self) -> u64 {
        self.tree.len()
    }

    /// Whether the tree has no entries at this snapshot.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Entries in `range`, ascending.
    pub fn range<R: RangeBounds<[u8]> + ?Sized>(&self, range: &R) -> Result<Range<'r, ReadView>> {
        let (lo, hi) = bounds(range);
        Ok(self.tree.range(lo, hi)?)
    }

    /// Entries in `range`, descending.
    pub fn range_rev<R: RangeBounds<[u8]> + ?Sized>(
        &self,
        range: &R,
    ) -> Result<Range<'r, ReadView>> {
        let (lo, hi) = bounds(range);
        Ok(self.tree.range_rev(lo, hi)?)
    }

    /// Every entry, ascending by key.
    pub fn iter(&self) -> Result<Range<'r, ReadView>> {
        Ok(self.tree.iter()?)
    }

    /// Entries whose key starts with `prefix`, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> Result<Range<'r, ReadView>> {
        Ok(self.tree.prefix(prefix)?)
    }

    /// Keys in `range`, counted in O(log n).
    pub fn count_range<R: RangeBounds<[u8]> + ?Sized>(&self, range: &R) -> Result<u64> {
        let (lo, hi) = bounds(range);
        Ok(self.tree.count_range(lo, hi)?)
    }

    /// How many keys sort strictly below `key`: its index if present, where it
    /// would go if not (O(log n)).
    pub fn rank(&self, key: &[u8]) -> Result<u64> {
        Ok(self.tree.rank(key)?)
    }

    /// The entry at index `n` in key order, from 0 (O(log n)); `None` when
    /// `n >= len()`.
    pub fn nth(&self, n: u64) -> Result<Option<aedb_btree::Entry<'r>>> {
        Ok(self.tree.nth(n)?)
    }

    /// The entry with the smallest key; `None` when the tree is empty.
    pub fn first(&self) -> Result<Option<aedb_btree::Entry<'r>>> {
        Ok(self.tree.first()?)
    }

    /// The entry with the largest key; `None` when the tree is empty.
    pub fn last(&self) -> Result<Option<aedb_btree::Entry<'r>>> {
        Ok(self.tree.last()?)
    }

    /// The underlying tree (for checks).
    pub fn raw(&self) -> &Tree<'r, ReadView> {
        &self.tree
    }
}
