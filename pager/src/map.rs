//! The read side of an open page file: the file, its recorded length, the newest
//! generation a page may carry, and the current memory mapping, remapped as the file
//! grows. One [`ReadSide`] is shared by the [`Pager`](crate::Pager) and every
//! [`ReadView`](crate::ReadView); it knows nothing of allocation or commits.
//!
//! Invariants:
//! 1. **The recorded length grows only after** the `pwrite` or `set_len` that
//!    made the file that long (mmap invariant 4): [`ReadSide::note_len`] is a
//!    `fetch_max`. It falls only in [`ReadSide::truncate`], *before* the file is
//!    cut, and only past pages no snapshot reaches (pager invariant 9).
//! 2. **The generation bound only grows**: it is the generation being built, raised
//!    by one at each commit.
//! 3. **A remap never shrinks and never invalidates.** A new mapping covers at least
//!    the recorded length, carries over the verified bits, and replaces the old one
//!    under the remap lock; views holding the old `Arc<Mapping>` keep it alive (mmap
//!    invariant 3). Clearing a verified bit takes the same lock, so a clear is never
//!    lost to a concurrent remap copying the bits.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arc_swap::ArcSwap;

use crate::error::{PagerError, Result};
use crate::id_hash::PageIdMap;
use crate::mmap::Mapping;
use crate::vfs::VfsFile;

/// The smallest address range a growing file is mapped with.
const MAP_RESERVE_MIN: u64 = 64 << 20;

/// How much address space to map for a file of `file_len` bytes: room to grow
/// into, so a growing file is remapped a logarithmic number of times rather than at
/// every commit (each remap starts with empty page tables, so every page faults in
/// again).
fn map_reserve(file_len: u64, page_size: u32) -> u64 {
    file_len
        .saturating_mul(2)
        .max(MAP_RESERVE_MIN)
        .next_multiple_of(u64::from(page_size))
}

/// The read-only half shared with every [`ReadView`](crate::ReadView).
#[derive(Debug)]
pub(crate) struct ReadSide {
    pub(crate) file: Arc<dyn VfsFile>,
    pub(crate) path: PathBuf,
    pub(crate) page_size: u32,
    pub(crate) page_shift: u32,
    /// `PagerOptions::verify_every_read`.
    pub(crate) verify_every_read: bool,
    /// The newest generation a page may carry: the one being built (invariant 2).
    max_generation: AtomicU64,
    /// Bytes known to exist in the file (invariant 1).
    file_len: AtomicU64,
    /// The current mapping (real files only).
    map: Option<ArcSwap<Mapping>>,
    /// Serialises remapping and clearing verified bits (invariant 3).
    remap: Mutex<()>,
    /// Pages committed but not yet written (pager invariant 10): readers
    /// find them here on the slow path (their verified bit is clear).
    staged: RwLock<PageIdMap<Arc<[u8]>>>,
    /// Staged pages meta commits wrote, in all (for metrics and tests).
    flushed: AtomicU64,
}

impl ReadSide {
    /// The read side of `file`, `file_len` bytes long, mapped when the file can be.
    pub(crate) fn new(
        file: Arc<dyn VfsFile>,
        path: PathBuf,
        page_size: u32,
        file_len: u64,
        max_generation: u64,
        verify_every_read: bool,
    ) -> Result<ReadSide> {
        debug_assert!(page_size.is_power_of_two(), "page size {page_size}");
        let page_shift = page_size.trailing_zeros();
        let map = match file.mappable() {
            Some(f) => {
                let reserve = map_reserve(file_len, page_size);
                let mapping = Mapping::new(f, reserve, page_shift, None)
                    .map_err(|e| PagerError::io("mapping", &path, e))?;
                Some(ArcSwap::from_pointee(mapping))
            }
            None => None,
        };
        Ok(ReadSide {
            file,
            path,
            page_size,
            page_shift,
            verify_every_read,
            max_generation: AtomicU64::new(max_generation),
            file_len: AtomicU64::new(file_len),
            map,
            remap: Mutex::new(()),
            staged: RwLock::default(),
            flushed: AtomicU64::new(0),
        })
    }

    /// Page `id` if it is staged (committed, not yet written).
    pub(crate) fn staged(&self, id: u64) -> Option<Arc<[u8]>> {
        let staged = self.staged.read().unwrap_or_else(|p| p.into_inner());
        staged.get(&id).cloned()
    }

    /// Pages staged now.
    pub(crate) fn staged_count(&self) -> u64 {
        self.staged.read().unwrap_or_else(|p| p.into_inner()).len() as u64
    }

    /// Staged pages written by meta commits so far.
    pub(crate) fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Relaxed)
    }

    /// Stages a sealed page (replacing an older version of the id).
    pub(crate) fn stage(&self, id: u64, page: Arc<[u8]>) {
        let mut staged = self.staged.write().unwrap_or_else(|p| p.into_inner());
        staged.insert(id, page);
    }

    /// Every staged page, by id (for the meta commit that writes them).
    pub(crate) fn staged_pages(&self) -> Vec<(u64, Arc<[u8]>)> {
        let staged = self.staged.read().unwrap_or_else(|p| p.into_inner());
        let mut pages: Vec<_> = staged.iter().map(|(id, p)| (*id, p.clone())).collect();
        pages.sort_unstable_by_key(|(id, _)| *id);
        pages
    }

    /// Forgets ids `from..to`, given back with the tail (pager invariant 9):
    /// they come back as fresh ids, which `allocate` does not clear, so their
    /// staged copies and verified bits go now. A stale bit would send a
    /// reader of the id's next, staged contents to the file's old bytes.
    pub(crate) fn forget_tail(&self, from: u64, to: u64) {
        {
            let mut staged = self.staged.write().unwrap_or_else(|p| p.into_inner());
            staged.retain(|id, _| *id < from);
        }
        if let Some(map) = &self.map {
            let _guard = self.lock_remap();
            let map = map.load();
            for id in from..to {
                map.clear_verified(id);
            }
        }
    }

    /// Counts `n` staged pages a meta commit wrote.
    pub(crate) fn note_flushed(&self, n: usize) {
        self.flushed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Drops the staged pages just written (the mapping serves them now),
    /// unless an id was staged again meanwhile (a newer version).
    pub(crate) fn unstage(&self, written: &[(u64, Arc<[u8]>)]) {
        let mut staged = self.staged.write().unwrap_or_else(|p| p.into_inner());
        for (id, page) in written {
            if staged.get(id).is_some_and(|p| Arc::ptr_eq(p, page)) {
                staged.remove(id);
            }
        }
    }

    /// Bytes known to exist in the file.
    #[inline]
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len.load(Ordering::Acquire)
    }

    /// Records that the file is now at least `len` bytes long (invariant 1: call it
    /// only after the write or `set_len` that made it so).
    #[inline]
    pub(crate) fn note_len(&self, len: u64) {
        self.file_len.fetch_max(len, Ordering::AcqRel);
    }

    /// Truncates the file to `len` bytes (pager invariant 9): the recorded
    /// length drops first, so no view hands out a byte past the new end, and
    /// the verified bits of the pages cut off are cleared (their ids come back
    /// as fresh pages later).
    pub(crate) fn truncate(&self, len: u64) -> Result<()> {
        let old = self.file_len.swap(len, Ordering::AcqRel);
        if let Some(map) = &self.map {
            let _guard = self.lock_remap();
            let map = map.load();
            for id in (len >> self.page_shift)..old.div_ceil(1 << self.page_shift) {
                map.clear_verified(id);
            }
        }
        self.file
            .set_len(len)
            .map_err(|e| PagerError::io("truncating", &self.path, e))
    }

    /// The newest generation a page may carry.
    #[inline]
    pub(crate) fn max_generation(&self) -> u64 {
        self.max_generation.load(Ordering::Acquire)
    }

    /// Raises the generation bound to `generation` (invariant 2).
    pub(crate) fn set_max_generation(&self, generation: u64) {
        let previous = self.max_generation.swap(generation, Ordering::AcqRel);
        debug_assert!(
            previous <= generation,
            "generation bound fell to {generation}"
        );
    }

    fn lock_remap(&self) -> MutexGuard<'_, ()> {
        self.remap.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current mapping, remapped first if the file has outgrown it.
    pub(crate) fn mapping(&self) -> Result<Option<Arc<Mapping>>> {
        let Some(map) = &self.map else {
            return Ok(None);
        };
        let current = map.load_full();
        let file_len = self.file_len();
        if current.len() as u64 >= file_len {
            return Ok(Some(current));
        }
        let _guard = self.lock_remap();
        let current = map.load_full();
        if current.len() as u64 >= file_len {
            return Ok(Some(current));
        }
        let Some(file) = self.file.mappable() else {
            return Ok(Some(current));
        };
        let reserve = map_reserve(file_len, self.page_size);
        let fresh = Mapping::new(file, reserve, self.page_shift, Some(&current))
            .map_err(|e| PagerError::io("mapping", &self.path, e))?;
        debug_assert!(
            fresh.len() >= current.len(),
            "a remap shrank the mapping (invariant 3)"
        );
        let fresh = Arc::new(fresh);
        map.store(fresh.clone());
        Ok(Some(fresh))
    }

    /// Forgets that page `id` was verified, and any staged version of it:
    /// its id is about to be reused, and no reader can reach what it held
    /// (pager invariant 10: a stale staged page must neither be read nor be
    /// written over the id's next contents).
    pub(crate) fn clear_verified(&self, id: u64) {
        {
            let mut staged = self.staged.write().unwrap_or_else(|p| p.into_inner());
            staged.remove(&id);
        }
        if let Some(map) = &self.map {
            let _guard = self.lock_remap();
            map.load().clear_verified(id);
        }
    }
}
