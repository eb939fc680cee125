//! Write transactions: copy-on-write edits of one tree.
//!
//! Invariants:
//! 1. A page reachable from the base root is never modified: the first edit under
//!    it copies it to a fresh page id (`make_dirty`), records the old id as retired,
//!    and repoints the (already dirty) parent. A page copied once is edited in place.
//! 2. Every page copied into the transaction is validated whole first, so in-place
//!    edits never index outside a page; pages the transaction builds are valid by
//!    construction (a page it spilled is one of those: read back, only its crc,
//!    id, owner and generation are checked, invariant 7).
//! 3. Branch entries carry the subtree count of their child; every edit on a path
//!    fixes the counts on that path (insert +1, delete −1, splits and merges recount).
//! 4. Dirty children are recorded with generation 0; `commit` fills in the
//!    generation that writes them before sealing the parents.
//! 5. Pages this transaction allocated and then dropped (merged nodes, replaced
//!    overflow chains) go straight back to the pager; pages of the base tree it no
//!    longer references are returned from `commit` for the caller to retire.
//! 6. Dropping the transaction without `commit` returns every page it allocated.
//! 7. **Spill.** `spill` writes every copied page but the root to its own (fresh)
//!    id and drops it from memory, children before parents, recording in each
//!    parent the generation the child was written with. A spilled page is
//!    reachable from no meta (its id is fresh), and is read back into memory,
//!    under the same id, the next time an edit reaches it (`make_dirty`), so
//!    memory stays bounded while the tree's shape is unchanged.
#![forbid(unsafe_code)]

use aedb_pager::{
    Expect, PageId, PageIdMap, PageIdSet, PageKind, PageRef, Pager, PagerError, ReadView,
};

use crate::config::{TreeConfig, capacity, is_inline};
use crate::error::{BtreeError, Result};
use crate::node::{self, BRANCH, ChildRef, EntryValue, LEAF, RawNode, StoredValue};
use crate::overflow;
use crate::read::{Tree, TreeRoot};
use crate::source::PageSource;

/// Reads through a transaction: its dirty pages first, then the snapshot.
pub struct TxnSource<'t> {
    dirty: &'t PageIdMap<Box<[u8]>>,
    view: &'t ReadView,
}

impl PageSource for TxnSource<'_> {
    #[inline]
    fn page(&self, id: PageId, expect: Expect) -> Result<PageRef<'_>, PagerError> {
        match self.dirty.get(&id.0) {
            Some(bytes) => Ok(PageRef::in_memory(id, bytes)),
            None => self.view.page_expect(id, expect),
        }
    }

    fn file(&self) -> &std::path::Path {
        self.view.path()
    }

    fn page_size(&self) -> u32 {
        self.view.page_size()
    }
}

/// What a committed transaction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The new root (`None`: the tree is empty).
    pub root: Option<TreeRoot>,
    /// Pages of the base tree the new tree no longer reaches; retire them with the
    /// pager once no reader needs them.
    pub retired: Vec<PageId>,
    /// Pages this commit wrote.
    pub written: usize,
}

type Split = (Vec<u8>, u64);

/// A write transaction on one tree.
pub struct WriteTxn<'p> {
    pager: &'p Pager,
    view: ReadView,
    pub(crate) owner: u64,
    config: TreeConfig,
    epoch: u64,
    page_size: u32,
    pub(crate) root: Option<ChildRef>,
    dirty: PageIdMap<Box<[u8]>>,
    /// Every id this transaction allocated: the pages in `dirty`, and those
    /// spilled to the file (invariant 7).
    fresh: PageIdSet,
    retired: Vec<PageId>,
    /// Page writes made by `spill` (counted with the commit's own).
    spilled_writes: usize,
    finished: bool,
}

/// Branch entry `e` with its key replaced by `key`.
fn with_key(e: &[u8], key: &[u8]) -> Vec<u8> {
    let mut out = e[..node::BRANCH_ENTRY_FIXED].to_vec();
    let len_at = node::BRANCH_KEY_LEN_AT;
    out[len_at..len_at + 2].copy_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key);
    out
}

/// Branch entry `e` with an empty key (a node's entry 0).
fn with_empty_key(e: &[u8]) -> Vec<u8> {
    with_key(e, &[])
}

/// Where to cut `entries` into two nodes that each fit in `cap` bytes, as balanced
/// as possible, with at least `min` entries on each side. Entry sizes are bounded
/// (TreeConfig) so such a cut always exists.
fn split_point(entries: &[Vec<u8>], cap: usize, min: usize) -> usize {
    let sizes: Vec<usize> = entries.iter().map(|e| e.len() + 2).collect();
    let total: usize = sizes.iter().sum();
    let mut best = entries.len() / 2;
    let mut best_gap = usize::MAX;
    // `left` is the byte size of entries[..k] for each cut k.
    let cuts = std::iter::once(0).chain(sizes.iter().scan(0, |acc, s| {
        *acc += s;
        Some(*acc)
    }));
    for (k, left) in cuts.enumerate() {
        if k >= min && entries.len() - k >= min && left <= cap && total - left <= cap {
            let gap = left.abs_diff(total - left);
            if gap < best_gap {
                best = k;
                best_gap = gap;
            }
        }
    }
    best
}

fn search_trusted(page: &[u8], key: &[u8]) -> std::result::Result<usize, usize> {
    let (mut lo, mut hi) = (0, node::count(page));
    while lo < hi {
        let mid = (lo + hi) / 2;
        match node::key_of(page, mid).cmp(key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

pub(crate) fn search_branch_trusted(page: &[u8], key: &[u8]) -> usize {
    let (mut lo, mut hi) = (1, node::count(page));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if node::key_of(page, mid) <= key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo - 1
}

impl<'p> WriteTxn<'p> {
    /// Starts editing the tree at `root`, reading unchanged pages through `view`.
    /// `epoch` is passed to the pager when the transaction frees pages it allocated.
    pub fn new(
        pager: &'p Pager,
        view: ReadView,
        owner: u64,
        root: Option<TreeRoot>,
        config: TreeConfig,
        epoch: u64,
    ) -> Result<Self> {
        config.validate(pager.page_size())?;
        Ok(WriteTxn {
            page_size: pager.page_size(),
            pager,
            view,
            owner,
            config,
            epoch,
            root: root.map(TreeRoot::child),
            dirty: PageIdMap::default(),
            fresh: PageIdSet::default(),
            retired: Vec::new(),
            spilled_writes: 0,
            finished: false,
        })
    }

    pub(crate) fn source(&self) -> TxnSource<'_> {
        TxnSource {
            dirty: &self.dirty,
            view: &self.view,
        }
    }

    /// Runs `f` with a reader that sees this transaction's uncommitted state.
    pub fn read<R>(&self, f: impl FnOnce(&Tree<'_, TxnSource<'_>>) -> R) -> R {
        let src = self.source();
        let tree = Tree::new(&src, self.root(), self.owner);
        f(&tree)
    }

    /// The current root (generation 0 when dirty).
    pub fn root(&self) -> Option<TreeRoot> {
        self.root.map(|c| TreeRoot {
            page: PageId(c.page),
            generation: c.generation,
            count: c.count,
        })
    }

    /// Number of entries as this transaction sees them (O(1), from the root).
    pub fn len(&self) -> u64 {
        self.root.map_or(0, |r| r.count)
    }

    /// How many copied pages this transaction holds in memory (overflow pages go
    /// straight to the pager and are not counted).
    pub fn dirty_pages(&self) -> usize {
        self.dirty.len()
    }

    /// True when the tree has no entries as this transaction sees them.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under `key`, as this transaction sees it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.read(|t| t.get(key).map(|v| v.map(|c| c.into_owned())))
    }

    pub(crate) fn page(&self, id: u64) -> &[u8] {
        self.dirty.get(&id).map_or(&[][..], |b| &b[..])
    }

    /// A page this transaction owns (invariant 2: only those are edited).
    fn page_mut(&mut self, id: u64) -> &mut [u8] {
        let page = self.dirty.get_mut(&id);
        debug_assert!(
            page.is_some(),
            "edit of page {id}, which the transaction does not own"
        );
        page.map_or(&mut [][..], |b| &mut b[..])
    }

    fn new_page(&mut self, kind: PageKind) -> Result<u64> {
        let id = self.pager.allocate()?.0;
        let mut buf = vec![0u8; self.page_size as usize].into_boxed_slice();
        node::init(&mut buf, kind);
        self.dirty.insert(id, buf);
        self.fresh.insert(id);
        Ok(id)
    }

    /// Gives back a page this transaction allocated (invariant 5).
    fn free_fresh(&mut self, id: u64) -> Result<()> {
        self.dirty.remove(&id);
        if self.fresh.remove(&id) {
            self.pager.retire(PageId(id), self.epoch)?;
        }
        Ok(())
    }

    /// Copies `child` into the transaction unless it is already there (invariant
    /// 1); a page this transaction spilled comes back under its own id
    /// (invariant 7).
    fn make_dirty(&mut self, child: ChildRef) -> Result<u64> {
        if self.dirty.contains_key(&child.page) {
            return Ok(child.page);
        }
        let page = self
            .view
            .page_expect(PageId(child.page), child.expect(self.owner))?;
        if self.fresh.contains(&child.page) {
            // Spilled by this transaction: its crc, id, owner and generation
            // just verified, it holds the node this transaction built (valid
            // by construction, invariant 2), so the whole-node walk is skipped.
            self.dirty.insert(child.page, page.bytes().into());
            return Ok(child.page);
        }
        let raw = RawNode::parse(page.bytes()).and_then(|n| n.validate().map(|()| n));
        if let Err(f) = raw {
            return Err(BtreeError::fault(
                self.view.path(),
                child.page,
                self.page_size,
                f,
            ));
        }
        let copy: Box<[u8]> = page.bytes().into();
        let id = self.pager.allocate()?.0;
        self.dirty.insert(id, copy);
        self.fresh.insert(id);
        self.retired.push(PageId(child.page));
        Ok(id)
    }

    pub(crate) fn dirty_root(&mut self) -> Result<Option<u64>> {
        let Some(root) = self.root else {
            return Ok(None);
        };
        let id = self.make_dirty(root)?;
        self.root = Some(ChildRef {
            page: id,
            generation: 0,
            count: root.count,
        });
        Ok(Some(id))
    }

    /// Inserts or replaces; returns whether a value was replaced.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<bool> {
        Ok(self.upsert(key, value, false)?.0)
    }

    /// Inserts or replaces; returns the value replaced, if any.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.upsert(key, value, true)?.1)
    }

    fn upsert(
        &mut self,
        key: &[u8],
        value: &[u8],
        want_old: bool,
    ) -> Result<(bool, Option<Vec<u8>>)> {
        self.config.check_key(key)?;
        self.config.check_value(value)?;
        let entry = if is_inline(self.page_size, key, value) {
            node::leaf_entry(key, EntryValue::Inline(value))
        } else {
            let mut ids = Vec::new();
            let written = overflow::write_chain(self.pager, self.owner, value, &mut ids);
            self.fresh.extend(ids); // given back at drop if anything fails
            let first = written?;
            let generation = self.pager.building_generation();
            node::leaf_entry(
                key,
                EntryValue::Overflow {
                    first,
                    len: value.len() as u64,
                    generation,
                },
            )
        };
        let Some(root_id) = self.dirty_root()? else {
            let id = self.new_page(LEAF)?;
            node::insert(self.page_mut(id), 0, &entry);
            self.root = Some(ChildRef {
                page: id,
                generation: 0,
                count: 1,
            });
            return Ok((false, None));
        };
        let (added, old, split) = self.insert_rec(root_id, key, &entry)?;
        if let Some(split) = split {
            // The new root counts its children afresh.
            self.grow_root(root_id, split)?;
        } else if let Some(root) = &mut self.root {
            root.count = root.count.saturating_add(u64::from(added));
        }
        let old_value = match old {
            Some(stored) => Some(self.release_value(stored, want_old)?),
            None => None,
        };
        Ok((!added, old_value.flatten()))
    }

    /// Adds a level above `left` and the split-off `right` node.
    fn grow_root(&mut self, left: u64, (sep, right): Split) -> Result<()> {
        let lc = ChildRef {
            page: left,
            generation: 0,
            count: node::subtree_count(self.page(left)),
        };
        let rc = ChildRef {
            page: right,
            generation: 0,
            count: node::subtree_count(self.page(right)),
        };
        let id = self.new_page(BRANCH)?;
        let page = self.page_mut(id);
        node::insert(page, 0, &node::branch_entry(lc, &[]));
        node::insert(page, 1, &node::branch_entry(rc, &sep));
        self.root = Some(ChildRef {
            page: id,
            generation: 0,
            count: lc.count.saturating_add(rc.count),
        });
        Ok(())
    }

    /// A replaced or deleted value: read it if asked, and give back its overflow pages.
    fn release_value(&mut self, stored: OldValue, want: bool) -> Result<Option<Vec<u8>>> {
        match stored {
            OldValue::Inline(v) => Ok(Some(v)),
            OldValue::Overflow {
                first,
                len,
                generation,
            } => {
                let src = self.source();
                let value = if want {
                    Some(overflow::read(&src, self.owner, first, len, generation)?)
                } else {
                    None
                };
                let ids = overflow::pages(&src, self.owner, first, len, generation)?;
                for id in ids {
                    if self.fresh.contains(&id) {
                        self.free_fresh(id)?;
                    } else {
                        self.retired.push(PageId(id));
                    }
                }
                Ok(value)
            }
        }
    }

    fn old_value(&self, id: u64, i: usize) -> Result<OldValue> {
        let page = self.page(id);
        let raw = RawNode::parse(page)
            .map_err(|f| BtreeError::fault(self.view.path(), id, self.page_size, f))?;
        Ok(
            match raw
                .value(i)
                .map_err(|f| BtreeError::fault(self.view.path(), id, self.page_size, f))?
            {
                StoredValue::Inline { start, end } => OldValue::Inline(page[start..end].to_vec()),
                StoredValue::Overflow {
                    first,
                    len,
                    generation,
                } => OldValue::Overflow {
                    first,
                    len,
                    generation,
                },
            },
        )
    }

    fn insert_rec(
        &mut self,
        id: u64,
        key: &[u8],
        entry: &[u8],
    ) -> Result<(bool, Option<OldValue>, Option<Split>)> {
        if node::is_leaf(self.page(id)) {
            return match search_trusted(self.page(id), key) {
                Ok(i) => {
                    let old = self.old_value(id, i)?;
                    node::remove(self.page_mut(id), i);
                    let split = self.insert_or_split(id, i, entry.to_vec())?;
                    Ok((false, Some(old), split))
                }
                Err(i) => Ok((true, None, self.insert_or_split(id, i, entry.to_vec())?)),
            };
        }
        let i = search_branch_trusted(self.page(id), key);
        let (child, cid) = self.dirty_child(id, i)?;
        let (added, old, split) = self.insert_rec(cid, key, entry)?;
        let my_split = match split {
            Some(split) => self.child_split(id, i, cid, split)?,
            None => {
                let count = child.count.saturating_add(u64::from(added));
                node::set_child(
                    self.page_mut(id),
                    i,
                    ChildRef {
                        page: cid,
                        generation: 0,
                        count,
                    },
                );
                None
            }
        };
        Ok((added, old, my_split))
    }

    /// Copies child `i` of `parent` into the transaction (invariant 1) and points the
    /// parent at the copy; returns the old reference and the copy's id.
    pub(crate) fn dirty_child(&mut self, parent: u64, i: usize) -> Result<(ChildRef, u64)> {
        let child = node::child_of(self.page(parent), i);
        let cid = self.make_dirty(child)?;
        let dirty = ChildRef {
            page: cid,
            generation: 0,
            count: child.count,
        };
        node::set_child(self.page_mut(parent), i, dirty);
        Ok((child, cid))
    }

    /// Child `i` (page `cid`) of `parent` split off `right` under separator `sep`:
    /// recount both halves (invariant 3) and insert `right` after it, splitting the
    /// parent in turn if it is full.
    fn child_split(
        &mut self,
        parent: u64,
        i: usize,
        cid: u64,
        (sep, right): Split,
    ) -> Result<Option<Split>> {
        let left_count = node::subtree_count(self.page(cid));
        let right_count = node::subtree_count(self.page(right));
        let left = ChildRef {
            page: cid,
            generation: 0,
            count: left_count,
        };
        node::set_child(self.page_mut(parent), i, left);
        let right = ChildRef {
            page: right,
            generation: 0,
            count: right_count,
        };
        self.insert_or_split(parent, i + 1, node::branch_entry(right, &sep))
    }

    /// Inserts `entry` at slot `i` of node `id`, splitting the node if it is full.
    fn insert_or_split(&mut self, id: u64, i: usize, entry: Vec<u8>) -> Result<Option<Split>> {
        if node::fits(self.page(id), entry.len()) {
            node::insert(self.page_mut(id), i, &entry);
            return Ok(None);
        }
        let page = self.page(id);
        let leaf = node::is_leaf(page);
        let mut entries: Vec<Vec<u8>> = (0..node::count(page))
            .map(|j| node::entry_bytes(page, j).to_vec())
            .collect();
        entries.insert(i, entry);
        let k = split_point(&entries, capacity(self.page_size), if leaf { 1 } else { 2 });
        let mut right = entries.split_off(k);
        let sep = node::entry_key(leaf, &right[0]).to_vec();
        if !leaf {
            right[0] = with_empty_key(&right[0]);
        }
        node::rebuild(self.page_mut(id), &entries);
        let rid = self.new_page(if leaf { LEAF } else { BRANCH })?;
        node::rebuild(self.page_mut(rid), &right);
        Ok(Some((sep, rid)))
    }

    /// Deletes `key`; returns whether it was present.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        Ok(self.remove_inner(key, false)?.0)
    }

    /// Deletes `key`; returns its value if it was present.
    pub fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.remove_inner(key, true)?.1)
    }

    fn remove_inner(&mut self, key: &[u8], want_old: bool) -> Result<(bool, Option<Vec<u8>>)> {
        // Look first, so a miss copies nothing.
        if !self.read(|t| t.contains_key(key))? {
            return Ok((false, None));
        }
        let Some(root_id) = self.dirty_root()? else {
            return Ok((false, None));
        };
        let (old, split) = self.delete_rec(root_id, key)?;
        if let Some(split) = split {
            self.grow_root(root_id, split)?;
        } else if let Some(root) = &mut self.root {
            root.count = root.count.saturating_sub(u64::from(old.is_some()));
        }
        self.shrink_root()?;
        let value = match old {
            Some(stored) => self.release_value(stored, want_old)?,
            None => None,
        };
        Ok((true, value))
    }

    /// Drops a root branch left with one child, and an empty root leaf.
    fn shrink_root(&mut self) -> Result<()> {
        while let Some(root) = self.root {
            let page = self.page(root.page);
            if page.is_empty() {
                return Ok(());
            }
            if node::is_leaf(page) {
                if node::count(page) == 0 {
                    self.free_fresh(root.page)?;
                    self.root = None;
                }
                return Ok(());
            }
            if node::count(page) != 1 {
                return Ok(());
            }
            let child = node::child_of(page, 0);
            self.free_fresh(root.page)?;
            self.root = Some(child);
        }
        Ok(())
    }

    fn underfull(&self, id: u64) -> bool {
        let page = self.page(id);
        let n = node::count(page);
        n == 0 || (!node::is_leaf(page) && n < 2) || node::used(page) < self.page_size as usize / 4
    }

    fn delete_rec(&mut self, id: u64, key: &[u8]) -> Result<(Option<OldValue>, Option<Split>)> {
        if node::is_leaf(self.page(id)) {
            return match search_trusted(self.page(id), key) {
                Ok(i) => {
                    let old = self.old_value(id, i)?;
                    node::remove(self.page_mut(id), i);
                    Ok((Some(old), None))
                }
                Err(_) => Ok((None, None)),
            };
        }
        let i = search_branch_trusted(self.page(id), key);
        let (child, cid) = self.dirty_child(id, i)?;
        let (old, split) = self.delete_rec(cid, key)?;
        let count = child.count.saturating_sub(u64::from(old.is_some()));
        node::set_child(
            self.page_mut(id),
            i,
            ChildRef {
                page: cid,
                generation: 0,
                count,
            },
        );
        if let Some(split) = split {
            return Ok((old, self.child_split(id, i, cid, split)?));
        }
        if self.underfull(cid) {
            return Ok((old, self.rebalance(id, i)?));
        }
        Ok((old, None))
    }

    /// Merges child `i` of `parent` with a sibling, or evens them out.
    fn rebalance(&mut self, parent: u64, i: usize) -> Result<Option<Split>> {
        let n = node::count(self.page(parent));
        if n < 2 {
            return Ok(None);
        }
        let (l, r) = if i + 1 < n { (i, i + 1) } else { (i - 1, i) };
        let (_, lid) = self.dirty_child(parent, l)?;
        let (_, rid) = self.dirty_child(parent, r)?;
        let leaf = node::is_leaf(self.page(lid));
        let left = self.page(lid);
        let right = self.page(rid);
        let mut all: Vec<Vec<u8>> = (0..node::count(left))
            .map(|j| node::entry_bytes(left, j).to_vec())
            .collect();
        let left_len = all.len();
        all.extend((0..node::count(right)).map(|j| node::entry_bytes(right, j).to_vec()));
        if !leaf && left_len < all.len() {
            // The right node's first child moves under the parent's separator.
            all[left_len] = with_key(&all[left_len], node::key_of(self.page(parent), r));
        }
        let total: usize = all.iter().map(|e| e.len() + 2).sum();
        let cap = capacity(self.page_size);
        if total <= cap {
            node::rebuild(self.page_mut(lid), &all);
            node::remove(self.page_mut(parent), r);
            self.free_fresh(rid)?;
            let count = node::subtree_count(self.page(lid));
            node::set_child(
                self.page_mut(parent),
                l,
                ChildRef {
                    page: lid,
                    generation: 0,
                    count,
                },
            );
            return Ok(None);
        }
        let k = split_point(&all, cap, if leaf { 1 } else { 2 });
        let mut right_entries = all.split_off(k);
        let sep = node::entry_key(leaf, &right_entries[0]).to_vec();
        if !leaf {
            right_entries[0] = with_empty_key(&right_entries[0]);
        }
        node::rebuild(self.page_mut(lid), &all);
        node::rebuild(self.page_mut(rid), &right_entries);
        let lcount = node::subtree_count(self.page(lid));
        let rcount = node::subtree_count(self.page(rid));
        node::set_child(
            self.page_mut(parent),
            l,
            ChildRef {
                page: lid,
                generation: 0,
                count: lcount,
            },
        );
        // The new separator may be longer than the old one: replace, splitting the
        // parent if it no longer fits.
        node::remove(self.page_mut(parent), r);
        let e = node::branch_entry(
            ChildRef {
                page: rid,
                generation: 0,
                count: rcount,
            },
            &sep,
        );
        self.insert_or_split(parent, r, e)
    }

    /// Invariant 7: writes every copied page but the root to the file and
    /// lets it go from memory; returns how many were written. A failed write
    /// leaves that page (and its ancestors) in memory, consistent.
    pub fn spill(&mut self) -> Result<usize> {
        let Some(root) = self.root.filter(|r| self.dirty.contains_key(&r.page)) else {
            return Ok(0);
        };
        let generation = self.pager.building_generation();
        let written = self.spill_children(root.page, generation)?;
        self.spilled_writes += written;
        Ok(written)
    }

    /// Spills the dirty children of dirty branch `id`, each after its own.
    fn spill_children(&mut self, id: u64, generation: u64) -> Result<usize> {
        if node::is_leaf(self.page(id)) {
            return Ok(0);
        }
        let mut written = 0;
        for i in 0..node::count(self.page(id)) {
            let c = node::child_of(self.page(id), i);
            if !self.dirty.contains_key(&c.page) {
                continue;
            }
            written += self.spill_children(c.page, generation)?;
            let kind = if node::is_leaf(self.page(c.page)) {
                LEAF
            } else {
                BRANCH
            };
            let owner = self.owner;
            if let Some(buf) = self.dirty.get_mut(&c.page) {
                self.pager.write_page(PageId(c.page), kind, owner, buf)?;
            }
            self.dirty.remove(&c.page);
            node::set_child(self.page_mut(id), i, ChildRef { generation, ..c });
            written += 1;
        }
        Ok(written)
    }

    /// Stages every dirty page (the pager writes them at its next meta
    /// commit) and returns the new root and the retired pages.
    pub fn commit(mut self) -> Result<Commit> {
        let generation = self.pager.building_generation();
        let ids: Vec<u64> = self.dirty.keys().copied().collect();
        for &id in &ids {
            if node::is_leaf(self.page(id)) {
                continue;
            }
            for i in 0..node::count(self.page(id)) {
                let c = node::child_of(self.page(id), i);
                if self.dirty.contains_key(&c.page) {
                    debug_assert_eq!(c.generation, 0, "a dirty child with a generation (inv. 4)");
                    node::set_child(self.page_mut(id), i, ChildRef { generation, ..c });
                }
            }
        }
        let root = self.root.map(|c| TreeRoot {
            page: PageId(c.page),
            generation: if self.dirty.contains_key(&c.page) {
                generation
            } else {
                c.generation
            },
            count: c.count,
        });
        let written = self.dirty.len() + self.spilled_writes;
        // Staged, not written (pager invariant 10): the next meta commit
        // writes them; readers find them in the stage until then.
        for id in ids {
            let kind = if node::is_leaf(self.page(id)) {
                LEAF
            } else {
                BRANCH
            };
            if let Some(buf) = self.dirty.remove(&id) {
                self.pager.stage_page(PageId(id), kind, self.owner, buf)?;
            }
        }
        self.finished = true;
        Ok(Commit {
            root,
            retired: std::mem::take(&mut self.retired),
            written,
        })
    }
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Invariant 6; errors (a poisoned pager) leave the ids to the next open,
            // where they are unreachable and so free.
            for id in self.fresh.drain() {
                let _ = self.pager.retire(PageId(id), self.epoch);
            }
        }
    }
}

/// A value leaving the tree.
enum OldValue {
    Inline(Vec<u8>),
    Overflow {
        first: u64,
        len: u64,
        generation: u64,
    },
}
