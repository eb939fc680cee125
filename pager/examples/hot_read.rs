//! Measures the cost of a hot (already verified) page read through the mmap path:
//! `cargo run --release -p aedb-pager --example hot_read [pages] [reads]`.

use std::time::Instant;

use aedb_pager::vfs::RealFs;
use aedb_pager::{MetaUpdate, PAGE_HEADER_LEN, PageId, PageKind, Pager, PagerOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pages: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(16_384);
    let reads: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let tmp = tempfile::tempdir()?;
    let (pager, _) = Pager::open(&RealFs, tmp.path(), PagerOptions::default())?;
    let mut ids = Vec::with_capacity(pages as usize);
    let mut buf = pager.page_buffer();
    for i in 0..pages {
        let id = pager.allocate()?;
        buf[PAGE_HEADER_LEN..].fill(i as u8);
        pager.write_page(id, PageKind(9), 0, &mut buf)?;
        ids.push(id);
    }
    pager.commit(MetaUpdate {
        root: Some(ids[0]),
        ..MetaUpdate::default()
    })?;
    let view = pager.view()?;

    let started = Instant::now();
    let mut sum = 0u64;
    for id in &ids {
        sum += u64::from(view.page(*id)?.payload()[0]);
    }
    let cold = started.elapsed();

    let mut rng = fastrand::Rng::with_seed(7);
    let order: Vec<PageId> = (0..reads).map(|_| ids[rng.usize(0..ids.len())]).collect();
    let started = Instant::now();
    for id in &order {
        sum += u64::from(view.page(*id)?.payload()[0]);
    }
    let hot = started.elapsed();
    println!(
        "{pages} pages of {} bytes; first (verifying) read: {:.0} ns/page; hot read: {:.2} ns/page over {reads} random reads (checksum {sum})",
        pager.page_size(),
        cold.as_nanos() as f64 / pages as f64,
        hot.as_nanos() as f64 / reads as f64,
    );
    Ok(())
}
