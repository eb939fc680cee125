//! Harnesses shared by the cargo-fuzz target `page_decode` and the corpus replay
//! run by plain `cargo test` (RELIABILITY G12-F2). Not part of the stable API.
#![forbid(unsafe_code)]

use std::ops::Bound;
use std::path::Path;

use aedb_pager::sim::SimFs;
use aedb_pager::{PageKind, Pager, PagerOptions};

use crate::node::{BRANCH, LEAF, OVERFLOW, RawNode};
use crate::{Tree, TreeRoot, check};

const OWNER: u64 = 3;

/// F2: `data[0]` picks the page kind and the root's recorded count, the rest is the
/// page payload. The page is sealed with a valid checksum (so the decoders, not the
/// crc, face the bytes), then decoded, read as a one-page tree and checked. Must
/// never panic or hang; errors are the expected outcome.
pub fn page_decode(data: &[u8]) {
    let Some((&choice, payload)) = data.split_first() else {
        return;
    };
    let fs = SimFs::new(0);
    let Ok((pager, _)) = Pager::open(&fs, Path::new("/fuzz"), PagerOptions::default()) else {
        return;
    };
    let Ok(id) = pager.allocate() else { return };
    let mut page = pager.page_buffer();
    let n = payload.len().min(page.len() - aedb_pager::PAGE_HEADER_LEN);
    page[aedb_pager::PAGE_HEADER_LEN..aedb_pager::PAGE_HEADER_LEN + n]
        .copy_from_slice(&payload[..n]);
    let kind = [LEAF, BRANCH, OVERFLOW, PageKind(9)][usize::from(choice % 4)];
    if pager.write_page(id, kind, OWNER, &mut page).is_err() {
        return;
    }
    if let Ok(node) = RawNode::parse(&page) {
        let _ = node.validate();
        for i in 0..node.len().min(64) {
            let _ = node.key(i);
            let _ = if node.leaf {
                node.value(i).map(|_| ())
            } else {
                node.child(i).map(|_| ())
            };
        }
    }
    let Ok(view) = pager.view() else { return };
    let root = TreeRoot {
        page: id,
        generation: pager.building_generation(),
        count: u64::from(choice >> 2),
    };
    let tree = Tree::new(&view, Some(root), OWNER);
    for key in [&b""[..], b"a", b"m", b"\xff\xff"] {
        let _ = tree.get(key);
        let _ = tree.rank(key);
        let _ = tree.count_range(Bound::Included(key), Bound::Unbounded);
    }
    for n in 0..4 {
        let _ = tree.nth(n);
    }
    if let Ok(it) = tree.iter() {
        let _ = it.take(256).count();
    }
    if let Ok(it) = tree.range_rev(Bound::Unbounded, Bound::Excluded(b"q")) {
        let _ = it.take(256).count();
    }
    let _ = check(&view, Some(root), OWNER);
}
