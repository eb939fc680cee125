//! Slotted leaf and branch pages: the byte layout (FORMAT.md, rules N*, L*, B*),
//! checked zero-copy readers, and in-place edits of pages a write transaction owns.
//!
//! ```text
//! 0        24     26     28          32          36
//! +--------+------+------+-----------+-----------+------------------+-- free --+-----------+
//! | pager  | n    | zero | heap start| garbage   | n x u16 slot     |          | entry heap|
//! | header | u16  | u16  | u32       | u32       | (entry offsets)  |          |           |
//! +--------+------+------+-----------+-----------+------------------+----------+-----------+
//! ```
//!
//! Slots are in key order; entries live anywhere in `heap start..page size` (the
//! heap grows down). `garbage` counts heap bytes of removed entries, reclaimed by
//! compaction. Leaf entry: `key len u16, value word u32, key, inline value | overflow
//! ref (first page u64, length u64, generation u64)`; bit 31 of the value word marks
//! an overflow value. Branch entry: `child page u64, child generation u64, subtree
//! count u64, key len u16, key`; entry 0's key is empty and ignored; entry i's key is
//! the separator: every key under child i-1 is below it, every key under child i at
//! or above it.
//!
//! Invariants: readers never index without a bounds check (a page is input, even
//! after its checksum passed); edits run only on pages validated whole when they
//! were copied into the transaction, or built by it.
#![forbid(unsafe_code)]

use aedb_pager::PAGE_HEADER_LEN;
use aedb_pager::PageKind;
use aedb_pager::format::{read_u16, read_u32, read_u64, write_u32, write_u64};

/// Page kind of a B+tree leaf.
pub const LEAF: PageKind = PageKind(2);
/// Page kind of a B+tree branch.
pub const BRANCH: PageKind = PageKind(3);
/// Page kind of an overflow page, holding part of a large value.
pub const OVERFLOW: PageKind = PageKind(4);

pub(crate) const N_AT: usize = PAGE_HEADER_LEN;
pub(crate) const RESERVED_AT: usize = N_AT + 2;
pub(crate) const HEAP_AT: usize = RESERVED_AT + 2;
pub(crate) const GARBAGE_AT: usize = HEAP_AT + 4;
pub(crate) const SLOTS_AT: usize = GARBAGE_AT + 4;
const _: () = assert!(SLOTS_AT == 36);

/// Leaf entry fields (offsets within the entry): key length, value word.
pub(crate) const LEAF_KEY_LEN_AT: usize = 0;
pub(crate) const LEAF_WORD_AT: usize = LEAF_KEY_LEN_AT + 2;
/// Leaf entry fixed part: key length + value word.
pub(crate) const LEAF_ENTRY_FIXED: usize = LEAF_WORD_AT + 4;
/// Overflow reference stored in place of an inline value.
pub(crate) const OVERFLOW_REF_LEN: usize = 24;
/// Branch entry fields (offsets within the entry): child page, child generation,
/// subtree count, key length.
pub(crate) const BRANCH_CHILD_AT: usize = 0;
pub(crate) const BRANCH_GENERATION_AT: usize = BRANCH_CHILD_AT + 8;
pub(crate) const BRANCH_COUNT_AT: usize = BRANCH_GENERATION_AT + 8;
pub(crate) const BRANCH_KEY_LEN_AT: usize = BRANCH_COUNT_AT + 8;
/// Branch entry fixed part: child page, generation, count, key length.
pub(crate) const BRANCH_ENTRY_FIXED: usize = BRANCH_KEY_LEN_AT + 2;
const _: () = assert!(LEAF_ENTRY_FIXED == 6 && BRANCH_ENTRY_FIXED == 26);
pub(crate) const OVERFLOW_FLAG: u32 = 1 << 31;

/// A broken layout rule, before the caller adds file and page: the pager's one
/// fault type (its field is `field_at`, the offset within the page).
pub use aedb_pager::format::Fault;

/// `Fault::new`, short.
pub(crate) fn fault(
    rule: &'static str,
    at: usize,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Fault {
    Fault::new(rule, at, expected, found)
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 2).map(|s| read_u16(s, 0) as usize)
}

/// Offsets of the key length and of the key within a leaf or branch entry.
#[inline(always)]
fn key_fields(leaf: bool) -> (usize, usize) {
    if leaf {
        (LEAF_KEY_LEN_AT, LEAF_ENTRY_FIXED)
    } else {
        (BRANCH_KEY_LEN_AT, BRANCH_ENTRY_FIXED)
    }
}

/// The key of an encoded entry of a page the transaction owns (or of an entry it
/// built).
pub(crate) fn entry_key(leaf: bool, entry: &[u8]) -> &[u8] {
    let (len_at, key_at) = key_fields(leaf);
    let len = read_u16(entry, len_at) as usize;
    &entry[key_at..key_at + len]
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| read_u64(s, 0))
}

/// A leaf value as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredValue {
    /// Inline bytes at this range of the page.
    Inline {
        /// Offset in the page of the value's first byte.
        start: usize,
        /// Offset in the page just past the value's last byte.
        end: usize,
    },
    /// An overflow chain.
    Overflow {
        /// Page id of the chain's first page (2 or more, rule L2).
        first: u64,
        /// The value's length in bytes (more than 0).
        len: u64,
        /// The generation that wrote every page of the chain; each page is
        /// checked against it (P6).
        generation: u64,
    },
}

/// A branch's reference to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildRef {
    /// The child's page id (2 or more, rule B2).
    pub page: u64,
    /// Generation that wrote the child (0 while it is dirty in a write transaction).
    pub generation: u64,
    /// Entries in the child's subtree.
    pub count: u64,
}

impl ChildRef {
    /// What the page must be (rule P6): its owner, and the generation recorded here
    /// unless the child is dirty (0).
    #[inline]
    pub(crate) fn expect(&self, owner: u64) -> aedb_pager::Expect {
        let generation = (self.generation != 0).then_some(self.generation);
        aedb_pager::Expect {
            kind: None,
            generation,
            owner: Some(owner),
        }
    }
}

/// A checked, read-only view of a leaf or branch page.
#[derive(Debug, Clone, Copy)]
pub struct RawNode<'b> {
    /// The whole page, header included; the offsets this type returns index
    /// into it.
    pub bytes: &'b [u8],
    /// True for a leaf (kind 2), false for a branch (kind 3).
    pub leaf: bool,
    n: usize,
    heap: usize,
}

impl<'b> RawNode<'b> {
    /// Checks the node header (N1–N3). Entries are checked as they are read.
    pub fn parse(bytes: &'b [u8]) -> Result<RawNode<'b>, Fault> {
        let kind = PageKind(*bytes.get(aedb_pager::format::page::KIND_AT).unwrap_or(&0));
        let leaf = match kind {
            LEAF => true,
            BRANCH => false,
            other => {
                return Err(fault(
                    "N1",
                    aedb_pager::format::page::KIND_AT,
                    "a leaf (2) or branch (3) page",
                    other.0.to_string(),
                ));
            }
        };
        let n = u16_at(bytes, N_AT)
            .ok_or_else(|| fault("N2", N_AT, "a node header", "a short page"))?;
        if u16_at(bytes, RESERVED_AT) != Some(0) {
            return Err(fault("N2", RESERVED_AT, "zero", "non-zero reserved bytes"));
        }
        let heap = bytes
            .get(HEAP_AT..HEAP_AT + 4)
            .map(|s| read_u32(s, 0) as usize)
            .unwrap_or(0);
        let garbage = bytes
            .get(GARBAGE_AT..GARBAGE_AT + 4)
            .map(|s| read_u32(s, 0) as usize)
            .unwrap_or(usize::MAX);
        let slots_end = SLOTS_AT + 2 * n;
        if slots_end > heap || heap > bytes.len() || garbage > bytes.len() - heap {
            return Err(fault(
                "N3",
                HEAP_AT,
                format!(
                    "slots end ({slots_end}) <= heap start <= page size, garbage within the heap"
                ),
                format!("heap start {heap}, garbage {garbage}"),
            ));
        }
        if !leaf && n < 2 {
            return Err(fault(
                "B1",
                N_AT,
                "a branch with at least 2 children",
                n.to_string(),
            ));
        }
        Ok(RawNode {
            bytes,
            leaf,
            n,
            heap,
        })
    }

    /// Number of entries; for a branch, the number of children.
    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for a leaf with no entries; a valid branch has at least two.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Offset of entry `i`'s start (N4: inside the heap).
    #[inline]
    fn entry(&self, i: usize) -> Result<usize, Fault> {
        let at = SLOTS_AT + 2 * i;
        let fixed = if self.leaf {
            LEAF_ENTRY_FIXED
        } else {
            BRANCH_ENTRY_FIXED
        };
        match u16_at(self.bytes, at) {
            Some(off) if i < self.n && off >= self.heap && off + fixed <= self.bytes.len() => {
                Ok(off)
            }
            found => Err(self.bad_slot(i, found)),
        }
    }

    #[cold]
    fn bad_slot(&self, i: usize, found: Option<usize>) -> Fault {
        let fixed = if self.leaf {
            LEAF_ENTRY_FIXED
        } else {
            BRANCH_ENTRY_FIXED
        };
        let found = found.map_or("no slot".to_string(), |o| o.to_string());
        fault(
            "N4",
            SLOTS_AT + 2 * i,
            format!(
                "entry {i} of {} at an offset in {}..{}",
                self.n,
                self.heap,
                self.bytes.len().saturating_sub(fixed)
            ),
            found,
        )
    }

    /// Key range and value of leaf entry `i`, with one slot lookup.
    #[inline]
    pub fn leaf_entry(&self, i: usize) -> Result<(usize, usize, StoredValue), Fault> {
        let off = self.entry(i)?;
        let key_len = u16_at(self.bytes, off).unwrap_or(0);
        let key_start = off + LEAF_ENTRY_FIXED;
        let key_end = key_start + key_len;
        let word = read_u32(self.bytes, off + LEAF_WORD_AT);
        if word & OVERFLOW_FLAG == 0 && key_end + word as usize <= self.bytes.len() {
            return Ok((
                key_start,
                key_end,
                StoredValue::Inline {
                    start: key_end,
                    end: key_end + word as usize,
                },
            ));
        }
        let value = self.value(i)?;
        if key_end > self.bytes.len() {
            return Err(fault(
                "N5",
                off,
                "a key inside the page",
                format!("key length {key_len} at offset {key_start}"),
            ));
        }
        Ok((key_start, key_end, value))
    }

    /// Key of entry `i` (for a branch, entry 0's key is empty).
    #[inline]
    pub fn key(&self, i: usize) -> Result<&'b [u8], Fault> {
        let off = self.entry(i)?;
        let (len_at, key_at) = key_fields(self.leaf);
        let (len_at, key_at) = (off + len_at, off + key_at);
        let len = u16_at(self.bytes, len_at).unwrap_or(usize::MAX);
        self.bytes
            .get(key_at..key_at.saturating_add(len))
            .ok_or_else(|| {
                fault(
                    "N5",
                    len_at,
                    "a key inside the page",
                    format!("key length {len} at offset {key_at}"),
                )
            })
    }

    /// Value of leaf entry `i` (L2).
    pub fn value(&self, i: usize) -> Result<StoredValue, Fault> {
        let off = self.entry(i)?;
        let key_len = u16_at(self.bytes, off).unwrap_or(0);
        let word = read_u32(self.bytes, off + LEAF_WORD_AT);
        let start = off + LEAF_ENTRY_FIXED + key_len;
        if word & OVERFLOW_FLAG != 0 {
            let (Some(first), Some(len), Some(generation)) = (
                u64_at(self.bytes, start),
                u64_at(self.bytes, start + 8),
                u64_at(self.bytes, start + 16),
            ) else {
                let expected = "an overflow reference inside the page";
                return Err(fault("L2", off + LEAF_WORD_AT, expected, "a truncated one"));
            };
            if word != OVERFLOW_FLAG || first < 2 || len == 0 || generation == 0 {
                return Err(fault(
                    "L2",
                    start,
                    "overflow ref with first page >= 2, length > 0, generation > 0",
                    format!("page {first}, length {len}, generation {generation}"),
                ));
            }
            Ok(StoredValue::Overflow {
                first,
                len,
                generation,
            })
        } else {
            let end = start.saturating_add(word as usize);
            if end > self.bytes.len() {
                let found = format!("{word} bytes at offset {start}");
                let expected = "an inline value inside the page";
                return Err(fault("L2", off + LEAF_WORD_AT, expected, found));
            }
            Ok(StoredValue::Inline { start, end })
        }
    }

    /// Child `i` of a branch.
    pub fn child(&self, i: usize) -> Result<ChildRef, Fault> {
        let off = self.entry(i)?;
        let page = u64_at(self.bytes, off + BRANCH_CHILD_AT);
        let generation = u64_at(self.bytes, off + BRANCH_GENERATION_AT);
        let count = u64_at(self.bytes, off + BRANCH_COUNT_AT);
        let (Some(page), Some(generation), Some(count)) = (page, generation, count) else {
            return Err(fault(
                "B2",
                off,
                "a child reference inside the page",
                "a truncated one",
            ));
        };
        if page < 2 {
            return Err(fault("B2", off, "a child page id >= 2", page.to_string()));
        }
        Ok(ChildRef {
            page,
            generation,
            count,
        })
    }

    /// `key(i)` for the search loops: the same checks, an `Option` instead of a
    /// 72-byte `Result` per probe; the caller builds the fault (cold) on `None`.
    #[inline(always)]
    fn probe(&self, i: usize) -> Option<&'b [u8]> {
        let off = u16_at(self.bytes, SLOTS_AT + 2 * i)?;
        let (len_at, fixed) = key_fields(self.leaf);
        let len_at = off + len_at;
        if i >= self.n || off < self.heap || off + fixed > self.bytes.len() {
            return None;
        }
        let len = u16_at(self.bytes, len_at)?;
        self.bytes.get(off + fixed..(off + fixed).checked_add(len)?)
    }

    #[cold]
    fn probe_fault(&self, i: usize) -> Fault {
        match self.key(i) {
            Err(f) => f,
            Ok(_) => fault(
                "N4",
                SLOTS_AT + 2 * i,
                "a readable entry",
                "an unreadable one",
            ),
        }
    }

    /// Binary search of a leaf: `Ok(Ok(i))` when entry `i` holds `key`,
    /// `Ok(Err(i))` with the index where it would go, `Err` on a damaged slot or key.
    pub fn search_leaf(&self, key: &[u8]) -> Result<Result<usize, usize>, Fault> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let Some(k) = self.probe(mid) else {
                return Err(self.probe_fault(mid));
            };
            match k.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// Branch: the child whose subtree would hold `key` (separators <= key).
    pub fn search_branch(&self, key: &[u8]) -> Result<usize, Fault> {
        let (mut lo, mut hi) = (1, self.n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let Some(k) = self.probe(mid) else {
                return Err(self.probe_fault(mid));
            };
            if k <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo - 1)
    }

    /// Validates every entry and the key order (used when a page is copied into a
    /// write transaction, and by the checker): N4, N5, L2, B2, N6.
    pub fn validate(&self) -> Result<(), Fault> {
        let sound = self.sound();
        // Tests (debug builds) check on every page that the fast path agrees.
        debug_assert_eq!(
            sound,
            self.validate_faults().is_ok(),
            "RawNode::sound disagrees with validate_faults"
        );
        if sound {
            Ok(())
        } else {
            self.validate_faults()
        }
    }

    /// `validate`'s checks without building a `Fault` per accessor call: the hot
    /// path of copying a page into a write transaction. True exactly when
    /// `validate_faults` is `Ok` (N4, N5, L2, B2, N6, in the same order).
    fn sound(&self) -> bool {
        let len = self.bytes.len();
        let fixed = if self.leaf {
            LEAF_ENTRY_FIXED
        } else {
            BRANCH_ENTRY_FIXED
        };
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.n {
            let Some(off) = u16_at(self.bytes, SLOTS_AT + 2 * i) else {
                return false;
            };
            if off < self.heap || off + fixed > len {
                return false;
            }
            let (len_at, key_at) = key_fields(self.leaf);
            let (len_at, key_at) = (off + len_at, off + key_at);
            let Some(key_len) = u16_at(self.bytes, len_at) else {
                return false;
            };
            let Some(key) = self.bytes.get(key_at..key_at + key_len) else {
                return false;
            };
            if self.leaf {
                let word = read_u32(self.bytes, off + LEAF_WORD_AT);
                let start = off + LEAF_ENTRY_FIXED + key_len;
                if word & OVERFLOW_FLAG != 0 {
                    let (Some(first), Some(value_len), Some(generation)) = (
                        u64_at(self.bytes, start),
                        u64_at(self.bytes, start + 8),
                        u64_at(self.bytes, start + 16),
                    ) else {
                        return false;
                    };
                    if word != OVERFLOW_FLAG || first < 2 || value_len == 0 || generation == 0 {
                        return false;
                    }
                } else if start.saturating_add(word as usize) > len {
                    return false;
                }
            } else {
                let page = u64_at(self.bytes, off + BRANCH_CHILD_AT);
                let rest = u64_at(self.bytes, off + BRANCH_COUNT_AT);
                let (Some(page), Some(_)) = (page, rest) else {
                    return false;
                };
                if page < 2 {
                    return false;
                }
            }
            if self.leaf || i >= 1 {
                if prev.is_some_and(|p| p >= key) {
                    return false;
                }
                prev = Some(key);
            }
        }
        true
    }

    /// The reference checks, building the first fault found.
    fn validate_faults(&self) -> Result<(), Fault> {
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.n {
            let key = self.key(i)?;
            let end = if self.leaf {
                match self.value(i)? {
                    StoredValue::Inline { end, .. } => end,
                    StoredValue::Overflow { .. } => {
                        self.entry(i)? + LEAF_ENTRY_FIXED + key.len() + OVERFLOW_REF_LEN
                    }
                }
            } else {
                self.child(i)?;
                self.entry(i)? + BRANCH_ENTRY_FIXED + key.len()
            };
            if end > self.bytes.len() {
                return Err(fault(
                    "N5",
                    self.entry(i)?,
                    "an entry inside the page",
                    format!("one ending at {end}"),
                ));
            }
            if self.leaf || i >= 1 {
                if let Some(p) = prev {
                    if p >= key {
                        return Err(fault(
                            "N6",
                            SLOTS_AT + 2 * i,
                            "keys in strictly ascending order",
                            format!("entry {i} not above its predecessor"),
                        ));
                    }
                }
                prev = Some(key);
            }
        }
        Ok(())
    }
}

/// Encodes a leaf entry.
pub(crate) fn leaf_entry(key: &[u8], value: EntryValue<'_>) -> Vec<u8> {
    let mut e = Vec::with_capacity(LEAF_ENTRY_FIXED + key.len() + 32);
    e.extend_from_slice(&(key.len() as u16).to_le_bytes());
    match value {
        EntryValue::Inline(v) => {
            e.extend_from_slice(&(v.len() as u32).to_le_bytes());
            e.extend_from_slice(key);
            e.extend_from_slice(v);
        }
        EntryValue::Overflow {
            first,
            len,
            generation,
        } => {
            e.extend_from_slice(&OVERFLOW_FLAG.to_le_bytes());
            e.extend_from_slice(key);
            e.extend_from_slice(&first.to_le_bytes());
            e.extend_from_slice(&len.to_le_bytes());
            e.extend_from_slice(&generation.to_le_bytes());
        }
    }
    e
}

/// A value to encode into a leaf entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryValue<'v> {
    Inline(&'v [u8]),
    Overflow {
        first: u64,
        len: u64,
        generation: u64,
    },
}

/// Encodes a branch entry.
pub(crate) fn branch_entry(child: ChildRef, key: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(BRANCH_ENTRY_FIXED + key.len());
    e.extend_from_slice(&child.page.to_le_bytes());
    e.extend_from_slice(&child.generation.to_le_bytes());
    e.extend_from_slice(&child.count.to_le_bytes());
    e.extend_from_slice(&(key.len() as u16).to_le_bytes());
    e.extend_from_slice(key);
    e
}

// ---- in-place edits of a page the transaction owns (validated or self-built) ----

pub(crate) fn init(page: &mut [u8], kind: PageKind) {
    page[aedb_pager::format::page::KIND_AT] = kind.0;
    page[N_AT..SLOTS_AT].fill(0);
    write_u32(page, HEAP_AT, page.len() as u32);
}

pub(crate) fn count(page: &[u8]) -> usize {
    read_u16(page, N_AT) as usize
}

fn set_count(page: &mut [u8], n: usize) {
    page[N_AT..N_AT + 2].copy_from_slice(&(n as u16).to_le_bytes());
}

pub(crate) fn is_leaf(page: &[u8]) -> bool {
    page[aedb_pager::format::page::KIND_AT] == LEAF.0
}

fn slot(page: &[u8], i: usize) -> usize {
    read_u16(page, SLOTS_AT + 2 * i) as usize
}

fn set_slot(page: &mut [u8], i: usize, off: usize) {
    let at = SLOTS_AT + 2 * i;
    page[at..at + 2].copy_from_slice(&(off as u16).to_le_bytes());
}

/// Bytes entry `i` occupies in the heap.
pub(crate) fn entry_len(page: &[u8], i: usize) -> usize {
    let off = slot(page, i);
    if is_leaf(page) {
        let key = read_u16(page, off + LEAF_KEY_LEN_AT) as usize;
        let word = read_u32(page, off + LEAF_WORD_AT);
        let value = if word & OVERFLOW_FLAG != 0 {
            OVERFLOW_REF_LEN
        } else {
            word as usize
        };
        LEAF_ENTRY_FIXED + key + value
    } else {
        BRANCH_ENTRY_FIXED + read_u16(page, off + BRANCH_KEY_LEN_AT) as usize
    }
}

pub(crate) fn entry_bytes(page: &[u8], i: usize) -> &[u8] {
    let off = slot(page, i);
    &page[off..off + entry_len(page, i)]
}

/// Bytes in use: header, slots and live entries.
pub(crate) fn used(page: &[u8]) -> usize {
    let heap = read_u32(page, HEAP_AT) as usize;
    let garbage = read_u32(page, GARBAGE_AT) as usize;
    SLOTS_AT + 2 * count(page) + (page.len() - heap - garbage)
}

/// Whether an entry of `len` bytes fits (after compaction if needed).
pub(crate) fn fits(page: &[u8], len: usize) -> bool {
    used(page) + 2 + len <= page.len()
}

fn compact(page: &mut [u8]) {
    let entries: Vec<Vec<u8>> = (0..count(page))
        .map(|i| entry_bytes(page, i).to_vec())
        .collect();
    rebuild(page, &entries);
}

/// Rewrites the page's slots and heap from `entries` (kind unchanged).
pub(crate) fn rebuild(page: &mut [u8], entries: &[Vec<u8>]) {
    debug_assert!(
        SLOTS_AT + entries.iter().map(|e| e.len() + 2).sum::<usize>() <= page.len(),
        "rebuilt entries overflow the page"
    );
    let mut heap = page.len();
    for (i, e) in entries.iter().enumerate() {
        heap -= e.len();
        page[heap..heap + e.len()].copy_from_slice(e);
        set_slot(page, i, heap);
    }
    set_count(page, entries.len());
    write_u32(page, HEAP_AT, heap as u32);
    write_u32(page, GARBAGE_AT, 0);
    let slots_end = SLOTS_AT + 2 * entries.len();
    page[slots_end..heap].fill(0);
}

/// Inserts `entry` as entry `i`; the caller checked [`fits`].
pub(crate) fn insert(page: &mut [u8], i: usize, entry: &[u8]) {
    let n = count(page);
    debug_assert!(
        i <= n && fits(page, entry.len()),
        "insert at {i} of {n} without room"
    );
    let mut heap = read_u32(page, HEAP_AT) as usize;
    if heap < SLOTS_AT + 2 * (n + 1) + entry.len() {
        compact(page);
        heap = read_u32(page, HEAP_AT) as usize;
    }
    heap -= entry.len();
    page[heap..heap + entry.len()].copy_from_slice(entry);
    write_u32(page, HEAP_AT, heap as u32);
    let at = SLOTS_AT + 2 * i;
    page.copy_within(at..SLOTS_AT + 2 * n, at + 2);
    set_slot(page, i, heap);
    set_count(page, n + 1);
}

/// Removes entry `i`, leaving its bytes as garbage.
pub(crate) fn remove(page: &mut [u8], i: usize) {
    let n = count(page);
    debug_assert!(i < n, "remove of entry {i} of {n}");
    let len = entry_len(page, i);
    let garbage = read_u32(page, GARBAGE_AT) as usize + len;
    write_u32(page, GARBAGE_AT, garbage as u32);
    let at = SLOTS_AT + 2 * i;
    page.copy_within(at + 2..SLOTS_AT + 2 * n, at);
    set_count(page, n - 1);
}

/// Overwrites child `i`'s reference in a branch (same size, in place).
pub(crate) fn set_child(page: &mut [u8], i: usize, child: ChildRef) {
    debug_assert!(
        !is_leaf(page) && i < count(page),
        "child {i} of a leaf or past the end"
    );
    let off = slot(page, i);
    write_u64(page, off + BRANCH_CHILD_AT, child.page);
    write_u64(page, off + BRANCH_GENERATION_AT, child.generation);
    write_u64(page, off + BRANCH_COUNT_AT, child.count);
}

/// Child `i` of a branch the transaction owns.
pub(crate) fn child_of(page: &[u8], i: usize) -> ChildRef {
    debug_assert!(
        !is_leaf(page) && i < count(page),
        "child {i} of a leaf or past the end"
    );
    let off = slot(page, i);
    ChildRef {
        page: read_u64(page, off + BRANCH_CHILD_AT),
        generation: read_u64(page, off + BRANCH_GENERATION_AT),
        count: read_u64(page, off + BRANCH_COUNT_AT),
    }
}

/// Key of entry `i` of a page the transaction owns.
pub(crate) fn key_of(page: &[u8], i: usize) -> &[u8] {
    entry_key(is_leaf(page), &page[slot(page, i)..])
}

/// Sum of the children's counts of a branch, or the entry count of a leaf.
pub(crate) fn subtree_count(page: &[u8]) -> u64 {
    if is_leaf(page) {
        count(page) as u64
    } else {
        (0..count(page)).map(|i| child_of(page, i).count).sum()
    }
}
