//! Compaction support: moving a tree off the high end of the file.
//!
//! `WriteTxn::relocate_above(threshold)` finds every page of the tree whose id
//! is at or above `threshold` (tree pages by a read-only walk, overflow pages
//! through their chains) and copies it, with the path above it, into pages the
//! pager hands out now — its lowest free ids first (alloc invariant 4). The old
//! ids are retired like any copy-on-write edit, so once readers and the two-meta
//! rule let them go, the file's tail is free and the pager cuts it. Nothing
//! logical changes: same keys, values, counts, owner.
#![forbid(unsafe_code)]

use aedb_pager::PageId;

use crate::error::{BtreeError, Result};
use crate::node::{self, ChildRef, RawNode, StoredValue};
use crate::overflow;
use crate::source::PageSource;
use crate::write::{WriteTxn, search_branch_trusted};

/// What a walk found above the threshold.
#[derive(Default)]
struct High {
    /// A key leading to each high tree page (any key routed to it reaches it).
    paths: Vec<Vec<u8>>,
    /// Keys whose overflow value has a high page.
    values: Vec<Vec<u8>>,
}

impl WriteTxn<'_> {
    /// Copies the pages of the tree at or above `threshold` to the ids the
    /// pager hands out now, until the transaction holds `max_dirty` copied
    /// pages (bounded memory: call again in a later transaction); returns
    /// whether every high page was moved.
    pub fn relocate_above(&mut self, threshold: u64, max_dirty: usize) -> Result<bool> {
        let Some(root) = self.root else {
            return Ok(true);
        };
        let mut high = High::default();
        {
            let src = self.source();
            walk(&src, self.owner, root, threshold, &mut high)?;
        }
        if root.page >= threshold {
            // Any path copies the root.
            high.paths.push(Vec::new());
        }
        for key in std::mem::take(&mut high.paths) {
            if self.dirty_pages() >= max_dirty {
                return Ok(false);
            }
            self.touch(&key)?;
        }
        for key in std::mem::take(&mut high.values) {
            if self.dirty_pages() >= max_dirty {
                return Ok(false);
            }
            // Writing the value again gives it a new chain from the lowest ids
            // and retires the old one.
            if let Some(value) = self.get(&key)? {
                self.put(&key, &value)?;
            }
        }
        Ok(true)
    }

    /// Copies the path from the root to the leaf `key` routes to.
    fn touch(&mut self, key: &[u8]) -> Result<()> {
        let Some(mut id) = self.dirty_root()? else {
            return Ok(());
        };
        while !node::is_leaf(self.page(id)) {
            let i = search_branch_trusted(self.page(id), key);
            id = self.dirty_child(id, i)?.1;
        }
        Ok(())
    }
}

/// Records what is at or above `threshold` below `child` (read-only).
fn walk<S: PageSource>(
    src: &S,
    owner: u64,
    child: ChildRef,
    threshold: u64,
    high: &mut High,
) -> Result<()> {
    let page = src.page(PageId(child.page), child.expect(owner))?;
    let fault = |f| BtreeError::fault(src.file(), child.page, src.page_size(), f);
    let raw = RawNode::parse(page.bytes()).map_err(fault)?;
    for i in 0..raw.len() {
        if raw.leaf {
            if let StoredValue::Overflow {
                first,
                len,
                generation,
            } = raw.value(i).map_err(fault)?
            {
                let ids = overflow::pages(src, owner, first, len, generation)?;
                if ids.iter().any(|&id| id >= threshold) {
                    high.values.push(raw.key(i).map_err(fault)?.to_vec());
                }
            }
        } else {
            let c = raw.child(i).map_err(fault)?;
            if c.page >= threshold {
                high.paths.push(raw.key(i).map_err(fault)?.to_vec());
            }
            walk(src, owner, c, threshold, high)?;
        }
    }
    Ok(())
}
