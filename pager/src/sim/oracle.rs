//! The online write-order oracle (RELIABILITY G3), watching the page file.
//!
//! It knows the page file only through its name (`data.aedb`) and the meta-page
//! format; which pages a meta reaches beyond the pager's own (root page, free-list
//! chain) is told by the layer above through a [`ReachFn`].
//!
//! Checks:
//! - (a)+(b) when a meta page is written, no write or size change of the page file is
//!   unsynced, except whole pages sealed with a later generation (written beside a
//!   fuzzy checkpoint, pager invariant 8): everything the meta references, and the
//!   file length it needs, is already durable;
//! - (e) no `set_len` cuts the page file below what a durable meta's page count
//!   needs (tail truncation, pager invariant 9);
//! - (c) no write touches a page reachable from either durable meta. Once a silent
//!   fault (misdirected or lost write) has been injected, (c) is no longer judged:
//!   the durable image then reaches pages the pager never linked, by design of the
//!   fault.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::Inode;
use crate::format::meta::{self, MAGIC, Meta};
use crate::format::{freelist, is_valid_page_size, page, read_u32, read_u64};
use crate::{DATA_FILE_NAME, PageId};

/// Given a page reader and a durable meta, the page ids that meta reaches (besides
/// the root page and free-list chain, which the oracle finds itself).
pub type ReachFn = dyn Fn(&dyn Fn(u64) -> Option<Vec<u8>>, &Meta) -> Vec<u64> + Send + Sync;

#[derive(Default, Clone)]
pub(crate) struct Oracle {
    pub(crate) reach: Option<Arc<ReachFn>>,
    page_size: Option<u32>,
    protected: BTreeSet<u64>,
    /// The longest file a durable meta needs (page count × page size).
    needed_len: u64,
    pub(crate) image_damaged: bool,
    pub(crate) violations: Vec<String>,
}

impl std::fmt::Debug for Oracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oracle")
            .field("page_size", &self.page_size)
            .field("protected", &self.protected.len())
            .finish()
    }
}

fn is_page_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == DATA_FILE_NAME)
}

/// Whether `op` writes one whole page sealed with a generation above
/// `generation` (a page of a later generation, which a meta of `generation`
/// cannot reach).
fn is_newer_page(op: &super::Pending, page_size: u64, generation: u64) -> bool {
    match op {
        super::Pending::Write { offset, data } => {
            data.len() as u64 == page_size
                && offset % page_size == 0
                && read_u64(data, page::GENERATION_AT) > generation
        }
        super::Pending::SetLen(_) => false,
    }
}

impl Oracle {
    pub(crate) fn clone_for_image(&self) -> Oracle {
        Oracle {
            reach: self.reach.clone(),
            image_damaged: self.image_damaged,
            ..Oracle::default()
        }
    }

    /// Checks a write before it happens; returns the violation to panic with.
    pub(crate) fn before_write(
        &mut self,
        path: &Path,
        inode: &Inode,
        offset: u64,
        buf: &[u8],
        seed: u64,
    ) -> Option<String> {
        if !is_page_file(path) {
            return None;
        }
        let len = buf.len() as u64;
        let is_meta = (offset == 0 || offset == len)
            && is_valid_page_size(len as u32)
            && buf.len() >= 16
            && buf[..8] == MAGIC
            && read_u32(buf, 12) as u64 == len;
        let violation = if is_meta {
            self.page_size = Some(len as u32);
            let generation = read_u64(buf, meta::GENERATION_AT);
            // A fuzzy checkpoint (pager invariant 8) writes its meta while the next
            // generation's pages are being written: those may be unsynced, nothing
            // the meta can reach may.
            let unsynced: Vec<&super::Pending> = inode
                .pending
                .iter()
                .filter(|p| !is_newer_page(p, len, generation))
                .collect();
            if unsynced.is_empty() {
                None
            } else {
                let growth = unsynced
                    .iter()
                    .any(|p| matches!(p, super::Pending::SetLen(_)));
                Some(format!(
                    "G3({}) violation (seed {seed}): meta slot {} (generation {generation}) written while {} write(s) to {} of its generation or older are unsynced",
                    if growth { "b" } else { "a" },
                    offset / len,
                    unsynced.len(),
                    path.display()
                ))
            }
        } else if self.image_damaged {
            None
        } else {
            let ps = self.page_size.map(u64::from)?;
            let first = offset / ps;
            let last = (offset + len.max(1) - 1) / ps;
            (first..=last).find(|id| self.protected.contains(id)).map(|id| {
                format!(
                    "G3(c) violation (seed {seed}): write at offset {offset} overwrites page {id}, reachable from a durable meta of {}",
                    path.display()
                )
            })
        };
        if let Some(v) = &violation {
            self.violations.push(v.clone());
        }
        violation
    }

    /// After a successful sync of the page file: recompute what the durable metas reach.
    pub(crate) fn after_sync(&mut self, path: &Path, durable: &[u8]) {
        if !is_page_file(path) {
            return;
        }
        let mut protected = BTreeSet::new();
        let mut needed = 0;
        let Some(ps) = durable
            .get(12..16)
            .map(|b| read_u32(b, 0))
            .filter(|&p| is_valid_page_size(p))
        else {
            self.protected = protected;
            return;
        };
        self.page_size = Some(ps);
        let ps = ps as usize;
        let read = |id: u64| -> Option<Vec<u8>> {
            let start = (id as usize).checked_mul(ps)?;
            durable.get(start..start + ps).map(<[u8]>::to_vec)
        };
        for slot in 0..2u64 {
            let Some(bytes) = read(slot) else { continue };
            let Ok(meta) = Meta::decode(slot, &bytes) else {
                continue;
            };
            needed = needed.max(meta.page_count.saturating_mul(ps as u64));
            if let Some(root) = meta.root {
                protected.insert(root);
            }
            let mut next = meta.free_list_head;
            let mut steps = 0;
            while let Some(id) = next.filter(|&id| id >= 2 && steps < meta.page_count) {
                steps += 1;
                protected.insert(id);
                next = read(id)
                    .filter(|p| page::verify(PageId(id), p, u64::MAX).is_ok())
                    .and_then(|p| freelist::decode(&p).ok())
                    .map(|(n, _)| n)
                    .filter(|&n| n != 0);
            }
            if let Some(reach) = &self.reach {
                protected.extend(reach(&read, &meta));
            }
        }
        self.protected = protected;
        self.needed_len = needed;
    }

    /// (e): a size change of the page file never cuts what a durable meta
    /// needs. Returns the violation to panic with.
    pub(crate) fn before_set_len(&mut self, path: &Path, len: u64, seed: u64) -> Option<String> {
        if !is_page_file(path) || self.image_damaged || len >= self.needed_len {
            return None;
        }
        let v = format!(
            "G3(e) violation (seed {seed}): {} cut to {len} bytes, a durable meta needs {}",
            path.display(),
            self.needed_len
        );
        self.violations.push(v.clone());
        Some(v)
    }
}
