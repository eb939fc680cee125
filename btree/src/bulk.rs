//! Bulk load: builds a tree from sorted input bottom-up, filling every page.
//!
//! Leaves are written as soon as they are full, so memory stays at one leaf plus
//! one reference per page of the levels above. This is the path for large loads:
//! no copy-on-write, no splits, pages written once and in order.
#![forbid(unsafe_code)]

use aedb_pager::{PageId, Pager};

use crate::config::{TreeConfig, capacity, is_inline};
use crate::error::{BtreeError, Result};
use crate::node::{self, BRANCH, ChildRef, EntryValue, LEAF};
use crate::overflow;
use crate::read::TreeRoot;

/// A finished node of the level being built: its reference and its first key.
struct Built {
    child: ChildRef,
    first_key: Vec<u8>,
}

/// Builds a new tree owned by `owner` from `entries`, which must be in strictly
/// ascending key order. Returns its root (`None` for empty input). The pages are
/// written in the pager's current generation; commit a meta to make them durable.
pub fn bulk_load<I, K, V>(
    pager: &Pager,
    owner: u64,
    config: TreeConfig,
    entries: I,
) -> Result<Option<TreeRoot>>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    bulk_load_tracked(pager, owner, config, entries).map(|(root, _)| root)
}

/// [`bulk_load`], also returning every page it wrote, for a caller that may
/// still abandon the tree (its pages must then go back to the pager).
pub fn bulk_load_tracked<I, K, V>(
    pager: &Pager,
    owner: u64,
    config: TreeConfig,
    entries: I,
) -> Result<(Option<TreeRoot>, Vec<PageId>)>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut allocated = Vec::new();
    match load(pager, owner, config, entries, &mut allocated) {
        Ok(root) => Ok((root, allocated.into_iter().map(PageId).collect())),
        Err(e) => {
            // Nothing references the pages written so far: give every one back.
            for id in allocated {
                let _ = pager.retire(PageId(id), 0);
            }
            Err(e)
        }
    }
}

fn load<I, K, V>(
    pager: &Pager,
    owner: u64,
    config: TreeConfig,
    entries: I,
    allocated: &mut Vec<u64>,
) -> Result<Option<TreeRoot>>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let page_size = pager.page_size();
    config.validate(page_size)?;
    let generation = pager.building_generation();
    let mut level: Vec<Built> = Vec::new();
    let mut leaf = pager.page_buffer();
    node::init(&mut leaf, LEAF);
    let mut first_key: Option<Vec<u8>> = None;
    let mut prev: Option<Vec<u8>> = None;
    let mut total = 0u64;
    for (index, (key, value)) in entries.into_iter().enumerate() {
        let (key, value) = (key.as_ref(), value.as_ref());
        config.check_key(key)?;
        config.check_value(value)?;
        if prev.as_deref().is_some_and(|p| p >= key) {
            return Err(BtreeError::UnsortedBulkLoad {
                index: index as u64,
            });
        }
        let entry = if is_inline(page_size, key, value) {
            node::leaf_entry(key, EntryValue::Inline(value))
        } else {
            let first = overflow::write_chain(pager, owner, value, allocated)?;
            node::leaf_entry(
                key,
                EntryValue::Overflow {
                    first,
                    len: value.len() as u64,
                    generation,
                },
            )
        };
        if !node::fits(&leaf, entry.len()) {
            level.push(flush(
                pager,
                owner,
                generation,
                &mut leaf,
                LEAF,
                first_key.take().unwrap_or_default(),
                allocated,
            )?);
        }
        let n = node::count(&leaf);
        node::insert(&mut leaf, n, &entry);
        if first_key.is_none() {
            first_key = Some(key.to_vec());
        }
        prev = Some(key.to_vec());
        total += 1;
    }
    if node::count(&leaf) > 0 {
        level.push(flush(
            pager,
            owner,
            generation,
            &mut leaf,
            LEAF,
            first_key.take().unwrap_or_default(),
            allocated,
        )?);
    }
    while level.len() > 1 {
        level = build_level(pager, owner, generation, level, allocated)?;
    }
    Ok(level.pop().map(|b| TreeRoot {
        page: PageId(b.child.page),
        generation,
        count: total,
    }))
}

fn flush(
    pager: &Pager,
    owner: u64,
    generation: u64,
    page: &mut [u8],
    kind: aedb_pager::PageKind,
    first_key: Vec<u8>,
    allocated: &mut Vec<u64>,
) -> Result<Built> {
    let id = pager.allocate()?;
    allocated.push(id.0);
    let count = node::subtree_count(page);
    pager.write_page(id, kind, owner, page)?;
    node::init(page, kind);
    Ok(Built {
        child: ChildRef {
            page: id.0,
            generation,
            count,
        },
        first_key,
    })
}

/// Packs one level of children into full branch pages.
fn build_level(
    pager: &Pager,
    owner: u64,
    generation: u64,
    children: Vec<Built>,
    allocated: &mut Vec<u64>,
) -> Result<Vec<Built>> {
    let cap = capacity(pager.page_size());
    // Group children greedily, by the bytes their entries take.
    let mut groups: Vec<Vec<Built>> = vec![Vec::new()];
    let mut used = 0;
    for b in children {
        let size = node::BRANCH_ENTRY_FIXED
            + 2
            + if groups.last().is_some_and(Vec::is_empty) {
                0
            } else {
                b.first_key.len()
            };
        if used + size > cap {
            groups.push(Vec::new());
            used = node::BRANCH_ENTRY_FIXED + 2;
        } else {
            used += size;
        }
        if let Some(g) = groups.last_mut() {
            g.push(b);
        }
    }
    // A branch needs two children: lend the last group one from its neighbour
    // (which has many: it was filled to capacity).
    if groups.len() >= 2 && groups.last().is_some_and(|g| g.len() < 2) {
        let n = groups.len();
        if let Some(moved) = groups[n - 2].pop() {
            groups[n - 1].insert(0, moved);
        }
    }
    let mut page = pager.page_buffer();
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        node::init(&mut page, BRANCH);
        let mut first_key = Vec::new();
        for (i, b) in group.into_iter().enumerate() {
            let key: &[u8] = if i == 0 { &[] } else { &b.first_key };
            node::insert(&mut page, i, &node::branch_entry(b.child, key));
            if i == 0 {
                first_key = b.first_key;
            }
        }
        out.push(flush(
            pager, owner, generation, &mut page, BRANCH, first_key, allocated,
        )?);
    }
    Ok(out)
}
