//! Overflow chains: values too large to sit in a leaf (FORMAT.md, rules O*).
//!
//! ```text
//! 0        24          32        36        40
//! +--------+-----------+---------+---------+-------------------------+
//! | header | next page | n bytes | zero    | n bytes of the value    |
//! | kind 4 | (0 = end) |  u32    |  u32    |                         |
//! +--------+-----------+---------+---------+-------------------------+
//! ```
//! Every page of a chain is written by one generation, recorded in the leaf's
//! overflow reference, and owned by the tree.
#![forbid(unsafe_code)]

use std::collections::HashSet;

use aedb_pager::format::{read_u32, read_u64, write_u32, write_u64};
use aedb_pager::{Expect, PAGE_HEADER_LEN, PageId, Pager};

use crate::error::{BtreeError, Result};
use crate::node::{OVERFLOW, fault};
use crate::source::PageSource;

const NEXT_AT: usize = PAGE_HEADER_LEN;
const LEN_AT: usize = NEXT_AT + 8;
const RESERVED_AT: usize = LEN_AT + 4;
const DATA_AT: usize = RESERVED_AT + 4;

/// Value bytes one overflow page carries.
pub fn capacity(page_size: u32) -> usize {
    page_size as usize - DATA_AT
}

/// Number of pages a value of `len` bytes needs.
pub fn pages_for(len: u64, page_size: u32) -> u64 {
    len.div_ceil(capacity(page_size) as u64)
}

/// Writes `value` to fresh pages; returns the first page id. Every id allocated is
/// pushed to `allocated` as soon as it is handed out, so a failure part-way leaves
/// the caller able to give them all back.
pub(crate) fn write_chain(
    pager: &Pager,
    owner: u64,
    value: &[u8],
    allocated: &mut Vec<u64>,
) -> Result<u64> {
    let cap = capacity(pager.page_size());
    let start = allocated.len();
    for _ in 0..value.len().div_ceil(cap).max(1) {
        allocated.push(pager.allocate()?.0);
    }
    let ids = allocated[start..].to_vec();
    let mut buf = pager.page_buffer();
    for (i, piece) in value.chunks(cap).enumerate() {
        buf.fill(0);
        write_u64(&mut buf, NEXT_AT, ids.get(i + 1).copied().unwrap_or(0));
        write_u32(&mut buf, LEN_AT, piece.len() as u32);
        buf[DATA_AT..DATA_AT + piece.len()].copy_from_slice(piece);
        pager.write_page(PageId(ids[i]), OVERFLOW, owner, &mut buf)?;
    }
    Ok(ids[0])
}

/// Walks a chain (O1–O2, and P6 through the expected header), calling `visit` with each page id and its bytes.
pub(crate) fn walk<S: PageSource>(
    src: &S,
    owner: u64,
    first: u64,
    len: u64,
    generation: u64,
    mut visit: impl FnMut(u64, &[u8]),
) -> Result<()> {
    let ps = src.page_size();
    let expected_pages = pages_for(len, ps);
    let mut next = first;
    let mut remaining = len;
    // The recorded length is input: a self-linked (or cyclic) chain with a huge one
    // would loop until the caller's buffer exhausted memory. A page met twice is
    // corruption, so the walk is bounded by the file's distinct pages.
    let mut visited = HashSet::new();
    for i in 0..expected_pages {
        if !visited.insert(next) {
            let expected = "an acyclic chain (each page once)";
            let found = format!("page {next} reached again after {i} pages");
            let f = fault("O1", NEXT_AT, expected, found);
            return Err(BtreeError::fault(src.file(), next, ps, f));
        }
        let page = src.page(
            PageId(next),
            Expect {
                kind: Some(OVERFLOW),
                generation: Some(generation),
                owner: Some(owner),
            },
        )?;
        let b = page.bytes();
        let n = read_u32(b, LEN_AT) as u64;
        let want = remaining.min(capacity(ps) as u64);
        if n != want || read_u32(b, RESERVED_AT) != 0 {
            return Err(BtreeError::fault(
                src.file(),
                next,
                ps,
                fault(
                    "O2",
                    LEN_AT,
                    format!("{want} value bytes and a zero reserved word"),
                    format!("{n} bytes"),
                ),
            ));
        }
        visit(next, &b[DATA_AT..DATA_AT + n as usize]);
        remaining -= n;
        let link = read_u64(b, NEXT_AT);
        let last = i + 1 == expected_pages;
        if last != (link == 0) {
            return Err(BtreeError::fault(
                src.file(),
                next,
                ps,
                fault(
                    "O1",
                    NEXT_AT,
                    if last {
                        "the end of the chain (0)"
                    } else {
                        "a next page"
                    },
                    link.to_string(),
                ),
            ));
        }
        next = link;
    }
    Ok(())
}

/// Reads a whole overflow value.
pub(crate) fn read<S: PageSource>(
    src: &S,
    owner: u64,
    first: u64,
    len: u64,
    generation: u64,
) -> Result<Vec<u8>> {
    // Capacity from the recorded length only up to 1 MiB: the length is input.
    let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
    walk(src, owner, first, len, generation, |_, data| {
        out.extend_from_slice(data)
    })?;
    Ok(out)
}

/// The page ids of a chain.
pub(crate) fn pages<S: PageSource>(
    src: &S,
    owner: u64,
    first: u64,
    len: u64,
    generation: u64,
) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    walk(src, owner, first, len, generation, |id, _| ids.push(id))?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aedb_pager::sim::SimFs;
    use aedb_pager::{MetaUpdate, PagerOptions};

    use super::*;

    /// Review §5 "crafted-file DoS": a crc-valid overflow page linked to itself, read
    /// through a leaf that records a huge length, is a Corruption error at once
    /// instead of a loop that grows the value until memory runs out.
    #[test]
    fn self_linked_overflow_page_is_corruption() {
        let fs = SimFs::new(1);
        let (pager, _) = Pager::open(&fs, Path::new("/db"), PagerOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let owner = 7;
        let generation = pager.building_generation();
        let id = pager.allocate().unwrap_or_else(|e| panic!("{e}"));
        let cap = capacity(pager.page_size());
        let mut buf = pager.page_buffer();
        write_u64(&mut buf, NEXT_AT, id.0);
        write_u32(&mut buf, LEN_AT, cap as u32);
        pager
            .write_page(id, OVERFLOW, owner, &mut buf)
            .unwrap_or_else(|e| panic!("{e}"));
        pager
            .commit(MetaUpdate {
                root: Some(id),
                ..MetaUpdate::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let view = pager.view().unwrap_or_else(|e| panic!("{e}"));
        let got = read(&view, owner, id.0, u64::MAX / 2, generation);
        let err = got
            .err()
            .unwrap_or_else(|| panic!("a cyclic chain was read"));
        let text = err.to_string();
        assert!(text.contains("O1") && text.contains("acyclic"), "{text}");
        assert!(
            matches!(
                err,
                BtreeError::Pager(aedb_pager::PagerError::Corruption(_))
            ),
            "{err:?}"
        );
    }
}
