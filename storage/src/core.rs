//! One commit's copy-on-write edits of the root directory and the named trees,
//! without the WAL: shared by a write transaction and by recovery replay (which
//! has effects but no WAL to write), so replay is the commit (engine invariant 9).
//! Dropping it leaves nothing behind: its fresh pages go back to the pager.
#![forbid(unsafe_code)]

use aedb_pager::format::read_u64;
use std::collections::BTreeMap;

use aedb_btree::{Tree, TreeRoot, WriteTxn, bulk_load_tracked, check};
use aedb_pager::{PageId, Pager, PagerError, ReadView};

use crate::catalog::{NEXT_ID_KEY, ROOT_DIR_OWNER, TreeEntry, tree_entries};
use crate::effects::Effect;
use crate::error::{Result, StorageError};
use crate::options::StorageOptions;

/// A tree open in a transaction: its entry in the base root directory (None if
/// created by this transaction) and its edits.
struct OpenTree<'db> {
    id: u64,
    txn: WriteTxn<'db>,
}

/// The edits of one commit, without the WAL.
pub(crate) struct TxnCore<'db> {
    pager: &'db Pager,
    options: &'db StorageOptions,
    view: ReadView,
    pub(crate) seq: u64,
    base_dir: Option<TreeRoot>,
    dir: WriteTxn<'db>,
    trees: BTreeMap<Vec<u8>, OpenTree<'db>>,
    /// Base trees dropped by this transaction (by id) and their pages, each one
    /// verified by the checker; they are retired at commit.
    dropped: BTreeMap<u64, Vec<PageId>>,
    /// Pages of trees rebuilt by compaction.
    rebuilt: Rebuilt<'db>,
}

/// Pages of trees rebuilt by compaction: written already, given back if the
/// transaction is dropped before commit (nothing reaches them then).
struct Rebuilt<'db> {
    pager: &'db Pager,
    seq: u64,
    pages: Vec<PageId>,
}

impl Drop for Rebuilt<'_> {
    fn drop(&mut self) {
        for id in self.pages.drain(..) {
            let _ = self.pager.retire(id, self.seq);
        }
    }
}

impl<'db> TxnCore<'db> {
    pub(crate) fn new(
        pager: &'db Pager,
        options: &'db StorageOptions,
        root_dir: Option<TreeRoot>,
        seq: u64,
    ) -> Result<Self> {
        let view = pager.view()?;
        let dir = WriteTxn::new(
            pager,
            view.clone(),
            ROOT_DIR_OWNER,
            root_dir,
            aedb_btree::TreeConfig::default(),
            seq,
        )?;
        Ok(TxnCore {
            pager,
            options,
            view,
            seq,
            base_dir: root_dir,
            dir,
            trees: BTreeMap::new(),
            dropped: BTreeMap::new(),
            rebuilt: Rebuilt {
                pager,
                seq,
                pages: Vec::new(),
            },
        })
    }

    /// Whether tree `name` exists as this transaction sees it (a tree it already
    /// opened needs no directory lookup).
    pub(crate) fn exists(&self, name: &[u8]) -> Result<bool> {
        Ok(self.trees.contains_key(name) || self.entry(name)?.is_some())
    }

    fn entry(&self, name: &[u8]) -> Result<Option<TreeEntry>> {
        match self.dir.get(name)? {
            Some(v) => Ok(Some(TreeEntry::decode(name, &v)?)),
            None => Ok(None),
        }
    }

    /// The open tree `name`, opening (and with `create`, creating) it first.
    pub(crate) fn tree(&mut self, name: &[u8], create: bool) -> Result<Option<&mut WriteTxn<'db>>> {
        if !self.trees.contains_key(name) {
            let (id, root) = match self.entry(name)? {
                Some(e) => (e.id, e.root),
                None if create => {
                    let next = match self.dir.get(NEXT_ID_KEY)? {
                        Some(v) if v.len() == 8 => read_u64(&v, 0),
                        None => 1,
                        Some(v) => {
                            return Err(StorageError::Pager(aedb_pager::PagerError::corruption(
                                "root directory",
                                None,
                                0,
                                "C1",
                                "an 8-byte next tree id",
                                format!("{} bytes", v.len()),
                            )));
                        }
                    };
                    self.dir.put(NEXT_ID_KEY, &(next + 1).to_le_bytes())?;
                    self.dir.put(
                        name,
                        &TreeEntry {
                            id: next,
                            root: None,
                        }
                        .encode(),
                    )?;
                    (next, None)
                }
                None => return Ok(None),
            };
            let txn = WriteTxn::new(
                self.pager,
                self.view.clone(),
                id,
                root,
                self.options.tree,
                self.seq,
            )?;
            self.trees.insert(name.to_vec(), OpenTree { id, txn });
        }
        Ok(self.trees.get_mut(name).map(|t| &mut t.txn))
    }

    /// Drops tree `name`; false if it did not exist.
    pub(crate) fn drop_tree(&mut self, name: &[u8]) -> Result<bool> {
        let Some(entry) = self.entry(name)? else {
            return Ok(false);
        };
        // Edits made in this transaction vanish with their fresh pages; the base
        // tree's pages (if it predates this transaction) are retired at commit.
        self.trees.remove(name);
        if !self.dropped.contains_key(&entry.id) {
            if let Some(root) = self.base_root(name, entry.id)? {
                let pages = verified_pages(&self.view, name, root, entry.id)?;
                self.dropped.insert(entry.id, pages);
            }
        }
        self.dir.delete(name)?;
        Ok(true)
    }

    /// The root the tree had before this transaction, if it is the same tree (id).
    fn base_root(&self, name: &[u8], id: u64) -> Result<Option<TreeRoot>> {
        let tree = Tree::new(&self.view, self.base_dir, ROOT_DIR_OWNER);
        match tree.get(name)? {
            Some(v) => {
                let e = TreeEntry::decode(name, &v)?;
                Ok(if e.id == id { e.root } else { None })
            }
            None => Ok(None),
        }
    }

    /// Names of the trees, as this transaction sees them.
    pub(crate) fn list(&self) -> Result<Vec<Vec<u8>>> {
        self.dir
            .read(|t| Ok(tree_entries(t)?.into_iter().map(|(k, _)| k).collect()))
    }

    /// Compaction: rebuilds base tree `name` from its entries into full pages
    /// (`bulk_load`, the pager's lowest free ids first), points the directory
    /// at the new root and retires every old page at commit, as a drop does
    /// (after the checker verified them, rule C2). Logs no effect: the contents
    /// are the same. False when the tree does not exist, is empty, or was
    /// edited in this transaction.
    pub(crate) fn rebuild_tree(&mut self, name: &[u8]) -> Result<bool> {
        if self.trees.contains_key(name) {
            return Ok(false);
        }
        let Some(entry) = self.entry(name)? else {
            return Ok(false);
        };
        let Some(root) = self.base_root(name, entry.id)? else {
            return Ok(false);
        };
        let old = verified_pages(&self.view, name, root, entry.id)?;
        let tree = Tree::new(&self.view, Some(root), entry.id);
        let mut failed = None;
        let entries = tree
            .iter()?
            .map_while(|r| r.map_err(|e| failed = Some(e)).ok());
        let (new_root, pages) =
            bulk_load_tracked(self.pager, entry.id, self.options.tree, entries)?;
        self.rebuilt.pages.extend(pages);
        if let Some(e) = failed {
            return Err(e.into());
        }
        self.dir.put(
            name,
            &TreeEntry {
                id: entry.id,
                root: new_root,
            }
            .encode(),
        )?;
        self.dropped.insert(entry.id, old);
        Ok(true)
    }

    /// Compaction: every tree's pages at or above `threshold`, and the root
    /// directory's, copied to the lowest free ids (`WriteTxn::relocate_above`)
    /// until about `max_dirty` pages are copied; returns whether all were.
    /// Logs no effect: nothing logical changes, so a replay of this commit
    /// applies nothing and reads the same.
    pub(crate) fn relocate_above(&mut self, threshold: u64, max_dirty: usize) -> Result<bool> {
        for name in self.list()? {
            let held = self.dirty_pages();
            let Some(tree) = self.tree(&name, false)? else {
                continue;
            };
            if !tree.relocate_above(threshold, max_dirty.saturating_sub(held))? {
                return Ok(false);
            }
        }
        let held = self.dirty_pages() - self.dir.dirty_pages();
        Ok(self
            .dir
            .relocate_above(threshold, max_dirty.saturating_sub(held))?)
    }

    /// Spills every open tree's copied pages but its root to the page file
    /// (btree write invariant 7); returns the pages written.
    pub(crate) fn spill(&mut self) -> Result<usize> {
        let mut written = 0;
        for open in self.trees.values_mut() {
            written += open.txn.spill()?;
        }
        Ok(written)
    }

    /// Pages copied into memory by this transaction's edits, not yet written.
    pub(crate) fn dirty_pages(&self) -> usize {
        self.dir.dirty_pages()
            + self
                .trees
                .values()
                .map(|t| t.txn.dirty_pages())
                .sum::<usize>()
    }

    /// Commits every edit (its pages staged, pager invariant 10) and returns
    /// the new root directory and the pages it produced.
    pub(crate) fn finish(mut self) -> Result<(Option<TreeRoot>, usize)> {
        let mut written = 0;
        let seq = self.seq;
        for (name, open) in std::mem::take(&mut self.trees) {
            let commit = open.txn.commit()?;
            written += commit.written;
            for id in commit.retired {
                self.pager.retire(id, seq)?;
            }
            self.dir.put(
                &name,
                &TreeEntry {
                    id: open.id,
                    root: commit.root,
                }
                .encode(),
            )?;
        }
        for pages in std::mem::take(&mut self.dropped).into_values() {
            for id in pages {
                self.pager.retire(id, seq)?;
            }
        }
        let commit = self.dir.commit()?;
        written += commit.written;
        for id in commit.retired {
            self.pager.retire(id, seq)?;
        }
        // Rebuilt trees are reachable now: their pages stay.
        written += std::mem::take(&mut self.rebuilt.pages).len();
        Ok((commit.root, written))
    }
}

/// The pages of the dropped tree `name` (id `owner`), for retiring: only when the
/// checker walked the whole tree and every page verified with this tree's owner
/// (rule C2). A damaged tree, or a pointer into another tree, would otherwise free
/// pages something live still reaches; the drop is refused instead.
fn verified_pages(view: &ReadView, name: &[u8], root: TreeRoot, owner: u64) -> Result<Vec<PageId>> {
    let report = check(view, Some(root), owner);
    match report.problems.first() {
        None => Ok(report.pages),
        Some(first) => Err(StorageError::Pager(PagerError::corruption(
            aedb_pager::DATA_FILE_NAME,
            Some(root.page),
            0,
            "C2",
            format!(
                "every page of dropped tree {:?} verified",
                String::from_utf8_lossy(name)
            ),
            format!("{} problem(s), the first: {first}", report.problems.len()),
        ))),
    }
}

/// Applies logged effects (recovery replay), exactly as the original commit did.
pub(crate) fn apply(core: &mut TxnCore<'_>, effects: Vec<Effect>) -> Result<()> {
    for e in effects {
        match e {
            Effect::CreateTree { name } => {
                core.tree(&name, true)?;
            }
            Effect::DropTree { name } => {
                core.drop_tree(&name)?;
            }
            Effect::Put { tree, key, value } => {
                if let Some(t) = core.tree(&tree, true)? {
                    t.put(&key, &value)?;
                }
            }
            Effect::Delete { tree, key } => {
                if let Some(t) = core.tree(&tree, false)? {
                    t.delete(&key)?;
                }
            }
            // Recovery never hands one over (rule W12 cuts it above the
            // checkpoint; at or below it, nothing is replayed).
            Effect::LargeCommit { .. } => {
                return Err(StorageError::Task(format!(
                    "commit {} is a large commit, which only its metas hold: it cannot be replayed",
                    core.seq
                )));
            }
        }
    }
    Ok(())
}
