//! Byte layouts of the page file: the meta page, the page header and the free-list
//! page. `docs/FORMAT.md` is the specification; each decoder cites the numbered rule
//! it enforces (`M*` for meta pages, `P*` for page headers, `F*` for free-list pages).
//!
//! Everything is little-endian. Offsets are derived from the previous field, and the
//! layouts are checked at compile time.
#![forbid(unsafe_code)]

pub mod freelist;
pub mod meta;
pub mod page;

/// Smallest page size a file may be created with.
pub const MIN_PAGE_SIZE: u32 = 4096;
/// Largest page size a file may be created with.
pub const MAX_PAGE_SIZE: u32 = 65536;
/// Page size used when the caller does not choose one.
pub const DEFAULT_PAGE_SIZE: u32 = 4096;

/// Every valid page size, smallest first.
pub const PAGE_SIZES: [u32; 5] = [4096, 8192, 16384, 32768, 65536];

/// Rule M4 / P1: a page size is a power of two between 4 KiB and 64 KiB.
pub fn is_valid_page_size(page_size: u32) -> bool {
    page_size.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size)
}

/// Why bytes broke a format rule, before the caller adds file and page: the rule id,
/// the field's offset within the page (or meta slot), and what was expected and
/// found. The page header (`P*`), the meta page (`M*`), the free list (`F*`) and the
/// layers above (the btree's `N*`, `L*`, `B*`) all report with this one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The FORMAT.md rule broken, e.g. `"P2"`, `"M6"`, `"N4"`.
    pub rule: &'static str,
    /// Byte offset of the checked field within the page (or meta slot); the
    /// caller adds the page's offset in the file.
    pub field_at: usize,
    /// What the rule requires there, as text for the report.
    pub expected: String,
    /// What the bytes hold instead.
    pub found: String,
}

impl Fault {
    /// A fault, to become a `PagerError::Corruption` once the caller knows the
    /// file and page.
    pub fn new(
        rule: &'static str,
        field_at: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Fault {
        Fault {
            rule,
            field_at,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// Little-endian u16 at `at`.
#[inline]
pub fn read_u16(bytes: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&bytes[at..at + 2]);
    u16::from_le_bytes(b)
}

/// Little-endian u32 at `at`.
#[inline]
pub fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Little-endian u64 at `at`.
#[inline]
pub fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Writes a little-endian u32 at `at`.
#[inline]
pub fn write_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian u64 at `at`.
#[inline]
pub fn write_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
