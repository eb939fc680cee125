//! Reading a tree from a snapshot: point gets, ranges both ways, prefix, first and
//! last, and the count-based operations (len, count_range, rank, nth) that the
//! subtree counts in branch entries make O(log n).
//!
//! Values come back as `Cow<'s, [u8]>`: borrowed straight from the mapped page for
//! inline values on the mmap path (zero copy, tied to the snapshot's lifetime), owned
//! when the value spans overflow pages or the page was read without a mapping.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::ops::Bound;

use aedb_pager::{PageBytes, PageId};

use crate::error::{BtreeError, Result};
use crate::node::{ChildRef, RawNode, StoredValue};
use crate::overflow;
use crate::source::PageSource;

/// A tree as a durable (or in-transaction) root: page, the generation that wrote it
/// (0 while dirty in a transaction) and the number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRoot {
    /// The root node's page id (a leaf or a branch).
    pub page: PageId,
    /// Generation that wrote the root page (0 while dirty in a transaction);
    /// reads check the page against it (P6).
    pub generation: u64,
    /// Number of entries in the whole tree.
    pub count: u64,
}

impl TreeRoot {
    pub(crate) fn child(self) -> ChildRef {
        ChildRef {
            page: self.page.0,
            generation: self.generation,
            count: self.count,
        }
    }
}

/// A key-value pair read from a tree.
pub type Entry<'s> = (Cow<'s, [u8]>, Cow<'s, [u8]>);

/// A read-only handle on one tree in one snapshot.
#[derive(Debug)]
pub struct Tree<'s, S: PageSource> {
    pub(crate) src: &'s S,
    pub(crate) root: Option<TreeRoot>,
    pub(crate) owner: u64,
}

impl<'s, S: PageSource> Clone for Tree<'s, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<'s, S: PageSource> Copy for Tree<'s, S> {}

fn sub<'s>(page: &PageBytes<'s>, start: usize, end: usize) -> Cow<'s, [u8]> {
    page.slice(start, end)
}

impl<'s, S: PageSource> Tree<'s, S> {
    /// The tree rooted at `root` (`None`: empty) whose pages carry `owner`.
    pub fn new(src: &'s S, root: Option<TreeRoot>, owner: u64) -> Self {
        Tree { src, root, owner }
    }

    /// The root this handle reads (`None`: the tree is empty).
    pub fn root(&self) -> Option<TreeRoot> {
        self.root
    }

    /// Number of entries (O(1): recorded with the root).
    pub fn len(&self) -> u64 {
        self.root.map_or(0, |r| r.count)
    }

    /// True when the tree has no entries (O(1)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads a node page, checked against its referrer (P6) and its header (N1–N3).
    pub(crate) fn load(&self, child: ChildRef) -> Result<PageBytes<'s>> {
        let page = self.fetch(child)?;
        RawNode::parse(&page).map_err(|f| self.fault(child.page, f))?;
        Ok(page)
    }

    /// The page `child` refers to, checked against the reference (P6) only: the
    /// caller parses it (N1–N3) before reading it.
    #[inline]
    fn fetch(&self, child: ChildRef) -> Result<PageBytes<'s>> {
        Ok(self
            .src
            .page(PageId(child.page), child.expect(self.owner))?
            .into_bytes())
    }

    /// The one descent loop: from `child` down to a leaf, at most `MAX_DEPTH` levels
    /// (rule T1). At each branch, `choose` (given the branch's id and node) picks the
    /// child to follow, and `keep` then receives the branch's id, bytes and that
    /// choice. Returns the leaf's id and bytes; one page load per level.
    #[inline]
    pub(crate) fn descend(
        &self,
        mut child: ChildRef,
        mut choose: impl FnMut(u64, &RawNode<'_>) -> Result<usize>,
        mut keep: impl FnMut(u64, PageBytes<'s>, usize),
    ) -> Result<(u64, PageBytes<'s>)> {
        for _ in 0..crate::MAX_DEPTH {
            let page = self.fetch(child)?;
            let node = self.node(child.page, &page)?;
            if node.leaf {
                return Ok((child.page, page));
            }
            let i = choose(child.page, &node)?;
            let next = node.child(i).map_err(|f| self.fault(child.page, f))?;
            keep(child.page, page, i);
            child = next;
        }
        Err(self.depth_fault(child.page))
    }

    /// `descend` following separators towards `key`, keeping nothing.
    fn leaf_for_key(&self, root: TreeRoot, key: &[u8]) -> Result<(u64, PageBytes<'s>)> {
        let choose =
            |id, node: &RawNode<'_>| node.search_branch(key).map_err(|f| self.fault(id, f));
        self.descend(root.child(), choose, |_, _, _| {})
    }

    pub(crate) fn fault(&self, page: u64, f: crate::node::Fault) -> BtreeError {
        BtreeError::fault(self.src.file(), page, self.src.page_size(), f)
    }

    pub(crate) fn node<'b>(&self, id: u64, bytes: &'b [u8]) -> Result<RawNode<'b>> {
        RawNode::parse(bytes).map_err(|f| self.fault(id, f))
    }

    fn value(
        &self,
        id: u64,
        page: &PageBytes<'s>,
        node: &RawNode<'_>,
        i: usize,
    ) -> Result<Cow<'s, [u8]>> {
        match node.value(i).map_err(|f| self.fault(id, f))? {
            StoredValue::Inline { start, end } => Ok(sub(page, start, end)),
            StoredValue::Overflow {
                first,
                len,
                generation,
            } => Ok(Cow::Owned(overflow::read(
                self.src, self.owner, first, len, generation,
            )?)),
        }
    }

    #[inline]
    fn entry_of(
        &self,
        id: u64,
        page: &PageBytes<'s>,
        node: &RawNode<'_>,
        i: usize,
    ) -> Result<Entry<'s>> {
        let (key_start, key_end, value) = node.leaf_entry(i).map_err(|f| self.fault(id, f))?;
        let value = match value {
            StoredValue::Inline { start, end } => sub(page, start, end),
            StoredValue::Overflow {
                first,
                len,
                generation,
            } => Cow::Owned(overflow::read(
                self.src, self.owner, first, len, generation,
            )?),
        };
        Ok((sub(page, key_start, key_end), value))
    }

    /// Follows separators from the root to the leaf that would hold `key`.
    fn leaf_for(&self, key: &[u8]) -> Result<Option<(u64, PageBytes<'s>)>> {
        let Some(root) = self.root else {
            return Ok(None);
        };
        self.leaf_for_key(root, key).map(Some)
    }

    pub(crate) fn depth_fault(&self, page: u64) -> BtreeError {
        self.fault(
            page,
            crate::node::fault(
                "T1",
                0,
                format!("a tree at most {} levels deep", crate::MAX_DEPTH),
                "a deeper path (a cycle?)",
            ),
        )
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Cow<'s, [u8]>>> {
        let Some((id, page)) = self.leaf_for(key)? else {
            return Ok(None);
        };
        let node = self.node(id, &page)?;
        match node.search_leaf(key).map_err(|f| self.fault(id, f))? {
            Ok(i) => Ok(Some(self.value(id, &page, &node, i)?)),
            Err(_) => Ok(None),
        }
    }

    /// Whether `key` is present; reads no value, so no overflow chain.
    pub fn contains_key(&self, key: &[u8]) -> Result<bool> {
        let Some((id, page)) = self.leaf_for(key)? else {
            return Ok(false);
        };
        Ok(self
            .node(id, &page)?
            .search_leaf(key)
            .map_err(|f| self.fault(id, f))?
            .is_ok())
    }

    /// Number of keys strictly below `key`, and whether `key` is present.
    fn position(&self, key: &[u8]) -> Result<(u64, bool)> {
        let Some(root) = self.root else {
            return Ok((0, false));
        };
        let mut below = 0u64;
        let choose = |id, node: &RawNode<'_>| {
            let fault = |f| self.fault(id, f);
            let i = node.search_branch(key).map_err(fault)?;
            for j in 0..i {
                let c = node.child(j).map_err(fault)?.count;
                below = below
                    .checked_add(c)
                    .ok_or_else(|| fault(count_overflow()))?;
            }
            Ok(i)
        };
        let (id, page) = self.descend(root.child(), choose, |_, _, _| {})?;
        let node = self.node(id, &page)?;
        Ok(
            match node.search_leaf(key).map_err(|f| self.fault(id, f))? {
                Ok(i) => (below + i as u64, true),
                Err(i) => (below + i as u64, false),
            },
        )
    }

    /// Number of keys strictly below `key` (its index if present).
    pub fn rank(&self, key: &[u8]) -> Result<u64> {
        Ok(self.position(key)?.0)
    }

    fn keys_before(&self, bound: Bound<&[u8]>, upper: bool) -> Result<u64> {
        Ok(match (bound, upper) {
            (Bound::Unbounded, false) => 0,
            (Bound::Unbounded, true) => self.len(),
            (Bound::Included(k), false) | (Bound::Excluded(k), true) => self.position(k)?.0,
            (Bound::Excluded(k), false) | (Bound::Included(k), true) => {
                let (below, found) = self.position(k)?;
                below + u64::from(found)
            }
        })
    }

    /// Number of keys inside the bounds, in O(log n).
    pub fn count_range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        let start = self.keys_before(lo, false)?;
        let end = self.keys_before(hi, true)?;
        Ok(end.saturating_sub(start))
    }

    /// The entry at index `n` in key order.
    pub fn nth(&self, mut n: u64) -> Result<Option<Entry<'s>>> {
        let Some(root) = self.root else {
            return Ok(None);
        };
        if n >= root.count {
            return Ok(None);
        }
        let choose = |id, node: &RawNode<'_>| {
            for j in 0..node.len() {
                let c = node.child(j).map_err(|f| self.fault(id, f))?;
                if n < c.count {
                    return Ok(j);
                }
                n -= c.count;
            }
            let expected = "children counts covering the parent's";
            Err(self.fault(id, crate::node::fault("B3", 0, expected, "less")))
        };
        let (id, page) = self.descend(root.child(), choose, |_, _, _| {})?;
        let node = self.node(id, &page)?;
        let i = n as usize;
        if i >= node.len() {
            let expected = "a subtree as large as its recorded count";
            let found = format!("{} entries", node.len());
            return Err(self.fault(id, crate::node::fault("B3", 0, expected, found)));
        }
        Ok(Some(self.entry_of(id, &page, &node, i)?))
    }

    /// The entry with the smallest key (`None`: empty tree).
    pub fn first(&self) -> Result<Option<Entry<'s>>> {
        self.nth(0)
    }

    /// The entry with the largest key (`None`: empty tree).
    pub fn last(&self) -> Result<Option<Entry<'s>>> {
        match self.len() {
            0 => Ok(None),
            n => self.nth(n - 1),
        }
    }

    /// Entries inside the bounds, in ascending order.
    pub fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<Range<'s, S>> {
        Range::new(*self, lo, hi, false)
    }

    /// Entries inside the bounds, in descending order.
    pub fn range_rev(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<Range<'s, S>> {
        Range::new(*self, lo, hi, true)
    }

    /// Every entry.
    pub fn iter(&self) -> Result<Range<'s, S>> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// Entries whose key starts with `prefix`, ascending.
    pub fn prefix(&self, prefix: &[u8]) -> Result<Range<'s, S>> {
        match prefix_successor(prefix) {
            Some(end) => {
                let mut r = Range::new(*self, Bound::Included(prefix), Bound::Unbounded, false)?;
                r.end = Bound::Excluded(end);
                Ok(r)
            }
            None => self.range(Bound::Included(prefix), Bound::Unbounded),
        }
    }
}

/// The root of the tree whose root node is `page` (written by `generation`, owned
/// by `owner`), with its entry count summed from the root node.
pub fn load_root<S: PageSource>(
    src: &S,
    page: PageId,
    generation: u64,
    owner: u64,
) -> Result<TreeRoot> {
    let tree = Tree {
        src,
        root: None,
        owner,
    };
    let bytes = tree.load(ChildRef {
        page: page.0,
        generation,
        count: 0,
    })?;
    let node = tree.node(page.0, &bytes)?;
    let count = if node.leaf {
        node.len() as u64
    } else {
        let mut total = 0u64;
        for i in 0..node.len() {
            let c = node.child(i).map_err(|f| tree.fault(page.0, f))?.count;
            total = total
                .checked_add(c)
                .ok_or_else(|| tree.fault(page.0, count_overflow()))?;
        }
        total
    };
    Ok(TreeRoot {
        page,
        generation,
        count,
    })
}

/// Children counts whose sum does not fit a u64 (crc-valid but damaged counts).
fn count_overflow() -> crate::node::Fault {
    crate::node::fault(
        "B3",
        0,
        "children counts summing within 2^64",
        "an overflowing sum",
    )
}

/// The smallest key above every key that starts with `prefix` (None: no such key).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads one byte per cache line of a leaf, front to back, before a scan visits its
/// entries in slot order (which jumps around the page): the sequential pass lets the
/// hardware prefetcher bring the page in, instead of one miss per entry.
#[inline]
fn warm(page: &[u8]) {
    let mut acc = 0u8;
    for line in page.chunks(64) {
        acc ^= line[0];
    }
    std::hint::black_box(acc);
}

/// A cursor over a key range; yields `Result<Entry>`.
pub struct Range<'s, S: PageSource> {
    tree: Tree<'s, S>,
    /// Root-to-leaf path: page id, bytes, and the position (branch: the child taken;
    /// leaf: the next entry, or for a reverse range one past it).
    stack: Vec<(u64, PageBytes<'s>, usize)>,
    end: Bound<Vec<u8>>,
    reverse: bool,
    done: bool,
}

impl<'s, S: PageSource> Range<'s, S> {
    fn new(tree: Tree<'s, S>, lo: Bound<&[u8]>, hi: Bound<&[u8]>, reverse: bool) -> Result<Self> {
        let (start, end) = if reverse { (hi, lo) } else { (lo, hi) };
        let mut r = Range {
            tree,
            stack: Vec::new(),
            end: end.map(<[u8]>::to_vec),
            reverse,
            done: tree.root.is_none(),
        };
        if let Some(root) = tree.root {
            r.descend(root.child(), start)?;
        }
        Ok(r)
    }

    /// Pushes the path from `child` down to the leaf position for `start`.
    fn descend(&mut self, child: ChildRef, start: Bound<&[u8]>) -> Result<()> {
        let (tree, reverse, stack) = (self.tree, self.reverse, &mut self.stack);
        let choose = |id, node: &RawNode<'_>| match start {
            Bound::Unbounded if reverse => Ok(node.len() - 1),
            Bound::Unbounded => Ok(0),
            Bound::Included(k) | Bound::Excluded(k) => {
                node.search_branch(k).map_err(|f| tree.fault(id, f))
            }
        };
        let (id, page) = tree.descend(child, choose, |id, page, i| stack.push((id, page, i)))?;
        let node = tree.node(id, &page)?;
        let pos = match start {
            Bound::Unbounded if reverse => node.len(),
            Bound::Unbounded => 0,
            Bound::Included(k) | Bound::Excluded(k) => {
                let inclusive = matches!(start, Bound::Included(_));
                match (node.search_leaf(k).map_err(|f| tree.fault(id, f))?, reverse) {
                    (Ok(i), false) => i + usize::from(!inclusive),
                    (Err(i), false) => i,
                    (Ok(i), true) => i + usize::from(inclusive),
                    (Err(i), true) => i,
                }
            }
        };
        warm(&page);
        self.stack.push((id, page, pos));
        Ok(())
    }

    fn past_end(&self, key: &[u8]) -> bool {
        match (&self.end, self.reverse) {
            (Bound::Unbounded, _) => false,
            (Bound::Included(e), false) => key > e.as_slice(),
            (Bound::Excluded(e), false) => key >= e.as_slice(),
            (Bound::Included(e), true) => key < e.as_slice(),
            (Bound::Excluded(e), true) => key <= e.as_slice(),
        }
    }

    fn step(&mut self) -> Result<Option<Entry<'s>>> {
        loop {
            let Some((id, page, pos)) = self.stack.last_mut() else {
                return Ok(None);
            };
            let node = RawNode::parse(page).map_err(|f| self.tree.fault(*id, f))?;
            let have = if self.reverse {
                *pos > 0
            } else {
                *pos < node.len()
            };
            if have {
                let i = if self.reverse { *pos - 1 } else { *pos };
                if self.reverse {
                    *pos -= 1;
                } else {
                    *pos += 1;
                }
                let entry = self.tree.entry_of(*id, page, &node, i)?;
                if self.past_end(&entry.0) {
                    return Ok(None);
                }
                return Ok(Some(entry));
            }
            // Leaf exhausted: climb to the next branch position, then go down.
            self.stack.pop();
            loop {
                let Some((id, page, pos)) = self.stack.last_mut() else {
                    return Ok(None);
                };
                let node = RawNode::parse(page).map_err(|f| self.tree.fault(*id, f))?;
                let more = if self.reverse {
                    *pos > 0
                } else {
                    *pos + 1 < node.len()
                };
                if !more {
                    self.stack.pop();
                    continue;
                }
                if self.reverse {
                    *pos -= 1;
                } else {
                    *pos += 1;
                }
                let child = node.child(*pos).map_err(|f| self.tree.fault(*id, f))?;
                self.descend(child, Bound::Unbounded)?;
                break;
            }
        }
    }
}

impl<'s, S: PageSource> Iterator for Range<'s, S> {
    type Item = Result<Entry<'s>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
