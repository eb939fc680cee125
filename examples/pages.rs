//! The tour of what exists so far: create a database directory, write pages through
//! the pager, commit them under a meta page, reopen, and print what was found.
//!
//! `cargo run --example pages` (pass a directory to keep the database around).

use aedb::pager::vfs::RealFs;
use aedb::pager::{Expect, MetaUpdate, PAGE_HEADER_LEN, PageKind, Pager, PagerOptions};

const GREETING: PageKind = PageKind(42);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("demo-db"));

    // 1. Create the database and write three pages.
    let (pager, report) = Pager::open(&RealFs, &dir, PagerOptions::default())?;
    println!(
        "opened {} (created: {}, page size {})",
        dir.display(),
        report.created,
        pager.page_size()
    );
    let mut written = Vec::new();
    for (i, text) in ["hello", "from", "aedb"].iter().enumerate() {
        let id = pager.allocate()?;
        let mut page = pager.page_buffer();
        page[PAGE_HEADER_LEN..PAGE_HEADER_LEN + text.len()].copy_from_slice(text.as_bytes());
        pager.write_page(id, GREETING, i as u64, &mut page)?;
        written.push(id);
    }
    // 2. Make them durable: pages, fdatasync, the other meta slot, fdatasync.
    let meta = pager.commit(MetaUpdate {
        checkpoint_seq: 1,
        root: Some(written[0]),
        ..MetaUpdate::default()
    })?;
    println!(
        "committed generation {} with pages {:?}",
        meta.generation,
        written.iter().map(|p| p.0).collect::<Vec<_>>()
    );
    drop(pager);

    // 3. Reopen and read everything back, verified.
    let (pager, report) = Pager::open(&RealFs, &dir, PagerOptions::default())?;
    println!(
        "reopened: meta slot {} generation {} checkpoint seq {} root page {:?} ({} pages in file)",
        report.slot,
        report.meta.generation,
        report.meta.checkpoint_seq,
        report.meta.root,
        report.meta.page_count
    );
    let view = pager.view()?;
    for (i, id) in written.iter().enumerate() {
        let page = view.page_expect(
            *id,
            Expect {
                kind: Some(GREETING),
                owner: Some(i as u64),
                ..Expect::default()
            },
        )?;
        let text: String = page
            .payload()
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| b as char)
            .collect();
        println!(
            "page {}: kind {} generation {} owner {} says {text:?}",
            id.0,
            page.kind().0,
            page.generation(),
            page.owner()
        );
    }
    Ok(())
}
