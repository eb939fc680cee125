//! Reading pages: [`ReadView`] and [`PageRef`].
//!
//! Invariants:
//! 1. A [`PageRef`] borrowed from a view is valid for as long as the view, and the
//!    view keeps its mapping alive (mmap invariant 3).
//! 2. No byte reaches a caller before its page passed rules P2–P5 in this process:
//!    on the mapped path the "verified" bit records that, and is cleared whenever the
//!    id is handed out again; the unmapped path verifies every read.
//! 3. The hot path (a mapped, verified page) makes no syscall and takes no lock: one
//!    bounds check, one atomic load.
//! 4. A staged page (committed, not yet written: pager invariant 10) is read
//!    from the stage, never from the file: its verified bit is clear (the id
//!    was handed out fresh or cleared on reuse), so it is never on the hot
//!    path, and the slow path asks the stage before the file.
#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use crate::PageId;
use crate::error::{PagerError, Result};
use crate::format::page::{self, PAGE_HEADER_LEN, PageHeader, PageKind};
use crate::map::ReadSide;
use crate::mmap::Mapping;

/// A page's bytes: borrowed from the mapping (zero copy), read into a buffer
/// (unmapped files), or shared with the stage (committed, not yet written).
#[derive(Debug, Clone)]
pub enum PageBytes<'a> {
    /// Borrowed from the mapping, or from a caller's buffer.
    Borrowed(&'a [u8]),
    /// Read from the file into a buffer of its own.
    Owned(Vec<u8>),
    /// Shared with the stage (invariant 4).
    Staged(Arc<[u8]>),
}

impl Deref for PageBytes<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            PageBytes::Borrowed(b) => b,
            PageBytes::Owned(v) => v,
            PageBytes::Staged(a) => a,
        }
    }
}

impl<'a> PageBytes<'a> {
    /// Bytes `start..end` of the page: borrowed for the view's lifetime when
    /// the page is, copied otherwise.
    #[inline]
    pub fn slice(&self, start: usize, end: usize) -> Cow<'a, [u8]> {
        match self {
            PageBytes::Borrowed(b) => Cow::Borrowed(&b[start..end]),
            other => Cow::Owned(other[start..end].to_vec()),
        }
    }
}

/// A page whose checksum and header have been verified.
#[derive(Debug, Clone)]
pub struct PageRef<'a> {
    id: PageId,
    bytes: PageBytes<'a>,
}

impl<'a> PageRef<'a> {
    /// A page the caller built in memory and has not written yet (a dirty page of a
    /// write transaction). Nothing is checked: the bytes never came from disk.
    #[inline]
    pub fn in_memory(id: PageId, bytes: &'a [u8]) -> PageRef<'a> {
        PageRef {
            id,
            bytes: PageBytes::Borrowed(bytes),
        }
    }

    /// The page bytes, borrowed for the view's lifetime when mapped (zero-copy).
    #[inline]
    pub fn into_bytes(self) -> PageBytes<'a> {
        self.bytes
    }

    /// The page id this page was read from (or built for, if `in_memory`).
    #[inline]
    pub fn id(&self) -> PageId {
        self.id
    }

    /// The whole page, header included.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.bytes[PAGE_HEADER_LEN..]
    }

    /// The decoded header: verified for pages read from disk, unchecked for
    /// `in_memory` pages.
    #[inline]
    pub fn header(&self) -> PageHeader {
        page::header_unchecked(&self.bytes).1
    }

    /// What the page holds (the header's kind byte).
    #[inline]
    pub fn kind(&self) -> PageKind {
        self.header().kind
    }

    /// Generation of the meta commit that wrote the page (from the header).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.header().generation
    }

    /// The header's owner: the tree id for btree pages, 0 for pager pages.
    #[inline]
    pub fn owner(&self) -> u64 {
        self.header().owner
    }
}

/// What the referencing structure says a page must be (rule P6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect {
    /// Required page kind; `None` skips the check.
    pub kind: Option<PageKind>,
    /// Required generation, as the referrer recorded it; `None` skips the check
    /// (e.g. a child still dirty in a write transaction).
    pub generation: Option<u64>,
    /// Required owner (the tree id); `None` skips the check.
    pub owner: Option<u64>,
}

/// A consistent way to read pages; cheap to clone, `Send + Sync`, `'static`.
#[derive(Debug, Clone)]
pub struct ReadView {
    side: Arc<ReadSide>,
    map: Option<Arc<Mapping>>,
}

impl ReadView {
    /// A view of `side` through its current mapping (remapped first if the file
    /// grew past it).
    pub(crate) fn new(side: Arc<ReadSide>) -> Result<ReadView> {
        let map = side.mapping()?;
        Ok(ReadView { side, map })
    }

    /// The page file this view reads.
    pub fn path(&self) -> &std::path::Path {
        &self.side.path
    }

    /// Page size of the file.
    pub fn page_size(&self) -> u32 {
        self.side.page_size
    }

    /// Reads and verifies page `id`.
    #[inline(always)]
    pub fn page(&self, id: PageId) -> Result<PageRef<'_>> {
        if id.0 < 2 {
            return Err(PagerError::Misuse(format!(
                "page {} is a meta page, not readable as a page",
                id.0
            )));
        }
        let ps = self.side.page_size as usize;
        let mapped = self.map.as_ref().map(|map| {
            // `checked_shl` would only catch a shift of 64 or more, not lost high bits:
            // a huge id from disk must not wrap to a small offset.
            let offset = id.0.checked_mul(u64::from(self.side.page_size));
            let offset = offset.and_then(|o| usize::try_from(o).ok());
            (
                map,
                offset.unwrap_or(usize::MAX),
                self.side.file_len() as usize,
            )
        });
        if let Some((map, offset, file_len)) = mapped
            && !self.side.verify_every_read
            && map.is_verified(id.0)
            && let Some(bytes) = map.bytes(offset, ps, file_len)
        {
            return Ok(PageRef {
                id,
                bytes: PageBytes::Borrowed(bytes),
            });
        }
        // Invariant 4: the stage first, before any slice of the mapping is
        // taken on this path (a staged page's bytes in the file may be rewritten).
        if let Some(staged) = self.side.staged(id.0) {
            return Ok(PageRef {
                id,
                bytes: PageBytes::Staged(staged),
            });
        }
        if let Some((map, offset, file_len)) = mapped
            && let Some(bytes) = map.bytes(offset, ps, file_len)
        {
            self.verify(id, bytes)?;
            map.mark_verified(id.0);
            return Ok(PageRef {
                id,
                bytes: PageBytes::Borrowed(bytes),
            });
        }
        self.read_unmapped(id)
    }

    /// Reads page `id` and checks it is what its referrer expects (rule P6), which
    /// catches a lost write that left an older, self-consistent page in place.
    pub fn page_expect(&self, id: PageId, expect: Expect) -> Result<PageRef<'_>> {
        let page = self.page(id)?;
        let header = page.header();
        let offset = id.0 << self.side.page_shift;
        let mismatch = |field_at: usize, what: &str, want: String, got: String| {
            PagerError::corruption(
                &self.side.path,
                Some(id),
                offset + field_at as u64,
                "P6",
                format!("{what} {want}"),
                got,
            )
        };
        if let Some(kind) = expect.kind.filter(|k| *k != header.kind) {
            return Err(mismatch(
                page::KIND_AT,
                "kind",
                kind.0.to_string(),
                header.kind.0.to_string(),
            ));
        }
        if let Some(generation) = expect.generation.filter(|g| *g != header.generation) {
            return Err(mismatch(
                page::GENERATION_AT,
                "generation",
                generation.to_string(),
                header.generation.to_string(),
            ));
        }
        if let Some(owner) = expect.owner.filter(|o| *o != header.owner) {
            return Err(mismatch(
                page::OWNER_AT,
                "owner",
                owner.to_string(),
                header.owner.to_string(),
            ));
        }
        Ok(page)
    }

    fn verify(&self, id: PageId, bytes: &[u8]) -> Result<PageHeader> {
        let max_generation = self.side.max_generation();
        page::verify(id, bytes, max_generation).map_err(|f| {
            PagerError::corruption(
                &self.side.path,
                Some(id),
                (id.0 << self.side.page_shift) + f.field_at as u64,
                f.rule,
                f.expected,
                f.found,
            )
        })
    }

    #[cold]
    fn read_unmapped(&self, id: PageId) -> Result<PageRef<'static>> {
        let ps = u64::from(self.side.page_size);
        let offset = id.0.saturating_mul(ps);
        let file_len = self.side.file_len();
        if offset.saturating_add(ps) > file_len {
            return Err(PagerError::corruption(
                &self.side.path,
                Some(id),
                offset,
                "P7",
                format!("a page inside the file ({file_len} bytes)"),
                "a reference past the end of the file",
            ));
        }
        let mut buf = vec![0u8; ps as usize];
        self.side
            .file
            .read_at(&mut buf, offset)
            .map_err(|e| PagerError::io("reading page of", &self.side.path, e))?;
        self.verify(id, &buf)?;
        Ok(PageRef {
            id,
            bytes: PageBytes::Owned(buf),
        })
    }
}
