//! The header every non-meta page starts with.
//!
//! ```text
//! 0      4      5      8              16             24
//! +------+------+------+--------------+--------------+----------- ... ---+
//! | crc  | kind | zero |  generation  |    owner     |  payload          |
//! +------+------+------+--------------+--------------+----------- ... ---+
//! ```
//!
//! The crc32c covers the page id (8 bytes LE, not stored) followed by bytes
//! `4..page_size`, so a page written at the wrong offset fails rule P2.

use crate::PageId;
use crate::format::{Fault, read_u32, read_u64, write_u32, write_u64};

/// Byte offsets of the page header fields.
pub const CRC_AT: usize = 0;
/// Offset of the page kind byte (never 0, rule P3).
pub const KIND_AT: usize = CRC_AT + 4;
/// Offset of three reserved bytes that must be zero (rule P4).
pub const RESERVED_AT: usize = KIND_AT + 1;
/// Offset of the generation that wrote the page, u64 (rule P5).
pub const GENERATION_AT: usize = RESERVED_AT + 3;
/// Offset of the owner, u64.
pub const OWNER_AT: usize = GENERATION_AT + 8;
/// Length of the header; the payload starts here.
pub const PAGE_HEADER_LEN: usize = OWNER_AT + 8;
const _: () = assert!(PAGE_HEADER_LEN == 24);

/// What a page holds. The pager owns kind 1 (free-list pages); the layers above
/// define their own kinds (FORMAT.md lists them). Kind 0 is never valid (rule P3), so
/// a zero-filled page is always rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageKind(pub u8);

impl PageKind {
    /// A page of the pager's persisted free list.
    pub const FREE_LIST: PageKind = PageKind(1);
}

/// The checksum of a page as stored at offset 0 (rule P2).
pub fn page_checksum(id: PageId, page: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&id.0.to_le_bytes());
    crc32c::crc32c_append(crc, &page[KIND_AT..])
}

/// Fills in the header of `page` and seals it with its checksum.
pub fn seal(page: &mut [u8], id: PageId, kind: PageKind, generation: u64, owner: u64) {
    page[KIND_AT] = kind.0;
    page[RESERVED_AT..GENERATION_AT].fill(0);
    write_u64(page, GENERATION_AT, generation);
    write_u64(page, OWNER_AT, owner);
    let crc = page_checksum(id, page);
    write_u32(page, CRC_AT, crc);
}

/// The decoded header of a page whose checksum has been verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// What the page holds: 1 is the pager's free list, 2–4 are btree pages.
    pub kind: PageKind,
    /// Generation of the meta commit that wrote the page (at least 1, never
    /// newer than the one being built).
    pub generation: u64,
    /// Opaque to the pager: the tree id for btree pages, 0 for the pager's own.
    pub owner: u64,
}

/// Why a page failed verification (the one [`Fault`] type, under its old name).
pub type PageFault = Fault;

/// Reads the header fields without checking anything (for dump tools).
pub fn header_unchecked(page: &[u8]) -> (u32, PageHeader) {
    (
        read_u32(page, CRC_AT),
        PageHeader {
            kind: PageKind(page[KIND_AT]),
            generation: read_u64(page, GENERATION_AT),
            owner: read_u64(page, OWNER_AT),
        },
    )
}

/// Verifies rules P2–P5 for the page stored at `id`. `max_generation` is the newest
/// generation any page may carry (the one being built); a page from the future is
/// damage, not data.
pub fn verify(id: PageId, page: &[u8], max_generation: u64) -> Result<PageHeader, Fault> {
    let (stored, header) = header_unchecked(page);
    let computed = page_checksum(id, page);
    if stored != computed {
        // Rule P2: the checksum binds the page id, so a misdirected write fails here.
        return Err(Fault::new(
            "P2",
            CRC_AT,
            format!("crc32c {computed:#010x} (page id {} + bytes 4..)", id.0),
            format!("{stored:#010x}"),
        ));
    }
    if header.kind.0 == 0 {
        return Err(Fault::new("P3", KIND_AT, "a non-zero page kind", "0"));
    }
    if page[RESERVED_AT..GENERATION_AT] != [0, 0, 0] {
        return Err(Fault::new(
            "P4",
            RESERVED_AT,
            "zero reserved bytes",
            format!("{:02x?}", &page[RESERVED_AT..GENERATION_AT]),
        ));
    }
    if header.generation == 0 || header.generation > max_generation {
        return Err(Fault::new(
            "P5",
            GENERATION_AT,
            format!("generation in 1..={max_generation}"),
            header.generation.to_string(),
        ));
    }
    Ok(header)
}
