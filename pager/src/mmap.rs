//! The read-only memory mapping of the page file, and the "verified" bitmap that
//! travels with it. This is the only module of the library crates with `unsafe`.
//!
//! Invariants this module relies on (each `SAFETY` comment names the ones it uses):
//! 1. **Exclusive writer.** While a read-write pager has the file mapped it holds the
//!    exclusive `flock` on `<dir>/LOCK`, so no other aedb process writes the file; a
//!    read-only pager holds a shared lock, which excludes any writer.
//! 2. **Shadow paging.** A page is written (with `pwrite`, never through the mapping)
//!    only while no reader holds or takes a slice of it: it is fresh, or it was
//!    freed and the layer above said no reader and no durable meta can reach it,
//!    or it is staged (pager invariant 10): a reader of a staged page takes it
//!    from the stage, which it asks before taking any slice of the mapping (view
//!    invariant 4), and a page leaves the stage only once its write is done. So
//!    bytes a reader holds a slice of never change under it.
//! 3. **Slices are tied to the mapping.** [`Mapping::bytes`] borrows `&self`, so a
//!    slice cannot outlive the `Arc<Mapping>` that holds the mapping alive.
//! 4. **No access past the end of the file.** A mapping may reserve address space
//!    past the file's end (so a growing file is remapped rarely), but [`Mapping::bytes`]
//!    hands out only bytes below the file length the caller passes, which is the
//!    pager's recorded length: it only grows, and only after the pwrite or set_len
//!    that made the file that long. The file is cut only below free pages (pager
//!    invariant 9), after the recorded length fell, so no byte handed out, or
//!    held, lies past the cut and none can fault with SIGBUS.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// One mapping of the first `len` bytes of the page file.
pub(crate) struct Mapping {
    map: Option<memmap2::Mmap>,
    /// One bit per page: its checksum was verified in this process.
    verified: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len()).finish()
    }
}

impl Mapping {
    /// Maps `len` bytes of `file` (possibly past its end: see invariant 4) and
    /// carries over the verified bits of `previous`.
    pub(crate) fn new(
        file: &File,
        len: u64,
        page_shift: u32,
        previous: Option<&Mapping>,
    ) -> io::Result<Mapping> {
        let map = if len == 0 {
            None
        } else {
            let len =
                usize::try_from(len).map_err(|_| io::Error::other("file too large to map"))?;
            // SAFETY: invariant 1 — no other process writes the file while we hold the
            // LOCK; invariant 2 — this process writes only pages no reader can reach,
            // and only with pwrite, so the mapped bytes a reader sees never change
            // under a live slice; invariant 4 — the range may extend past the end of
            // the file, which mmap allows, and `bytes` never hands out a byte at or
            // past the file's current length, so no access touches an unbacked page.
            Some(unsafe { memmap2::MmapOptions::new().len(len).map(file)? })
        };
        let pages = (len >> page_shift) as usize;
        let words = pages.div_ceil(64);
        let verified: Box<[AtomicU64]> = (0..words)
            .map(|i| {
                AtomicU64::new(
                    previous
                        .and_then(|p| p.verified.get(i))
                        .map_or(0, |w| w.load(Ordering::Relaxed)),
                )
            })
            .collect();
        Ok(Mapping { map, verified })
    }

    /// Length of the mapped region in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// The bytes `offset..offset+len`, if mapped and below `file_len` (invariant 4).
    #[inline]
    pub(crate) fn bytes(&self, offset: usize, len: usize, file_len: usize) -> Option<&[u8]> {
        let end = offset.checked_add(len).filter(|&end| end <= file_len)?;
        self.map.as_ref()?.get(offset..end)
    }

    #[inline]
    pub(crate) fn is_verified(&self, page: u64) -> bool {
        let word = (page / 64) as usize;
        self.verified
            .get(word)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (page % 64)) != 0)
    }

    pub(crate) fn mark_verified(&self, page: u64) {
        if let Some(w) = self.verified.get((page / 64) as usize) {
            w.fetch_or(1 << (page % 64), Ordering::Release);
        }
    }

    /// Forgets that `page` was verified (its id is about to be reused).
    pub(crate) fn clear_verified(&self, page: u64) {
        if let Some(w) = self.verified.get((page / 64) as usize) {
            w.fetch_and(!(1 << (page % 64)), Ordering::Release);
        }
    }
}
