//! The figures of issue #4, beside `std::collections::BTreeMap`:
//! `cargo run --release -p aedb-btree --example vs_btreemap [entries]`.
//!
//! 1,000,000 random 24-byte keys with 150-byte values, 4 KiB pages, all pages in
//! memory (the file sits in the page cache and is read through the mmap).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use aedb_btree::pager::vfs::RealFs;
use aedb_btree::pager::{MetaUpdate, Pager, PagerOptions};
use aedb_btree::{Tree, TreeConfig, WriteTxn, bulk_load, check};

fn ns(start: Instant, n: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let mut rng = fastrand::Rng::with_seed(42);
    let keys: Vec<[u8; 24]> = (0..n)
        .map(|_| {
            let mut k = [0u8; 24];
            rng.fill(&mut k);
            k
        })
        .collect();
    let value = [7u8; 150];
    let mut lookups: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut lookups);

    // std BTreeMap
    let t = Instant::now();
    let mut map = BTreeMap::new();
    for k in &keys {
        map.insert(k.to_vec(), value.to_vec());
    }
    let map_insert = ns(t, n);
    let t = Instant::now();
    let mut sum = 0usize;
    for &i in &lookups {
        sum += map.get(&keys[i][..]).map_or(0, |v| usize::from(v[0]));
    }
    let map_get = ns(t, n);
    let t = Instant::now();
    // Both loops touch the first byte of key and value, as a real consumer would.
    for (k, v) in &map {
        sum += usize::from(k[0]) + usize::from(v[0]) + v.len();
    }
    let map_step = ns(t, n);

    // aedb-btree
    let tmp = tempfile::tempdir()?;
    let (pager, _) = Pager::open(&RealFs, tmp.path(), PagerOptions::default())?;
    let t = Instant::now();
    let mut txn = WriteTxn::new(&pager, pager.view()?, 1, None, TreeConfig::default(), 1)?;
    for k in &keys {
        txn.put(k, &value)?;
    }
    let tree_insert = ns(t, n);
    let t = Instant::now();
    let commit = txn.commit()?;
    pager.commit(MetaUpdate {
        root: commit.root.map(|r| r.page),
        ..MetaUpdate::default()
    })?;
    let commit_ms = t.elapsed().as_secs_f64() * 1e3;
    let view = pager.view()?;
    let tree = Tree::new(&view, commit.root, 1);
    // One pass so every page is verified and mapped; the timed pass is then hot.
    for r in tree.iter()? {
        sum += r?.1.len();
    }
    let t = Instant::now();
    for &i in &lookups {
        sum += tree.get(&keys[i])?.map_or(0, |v| usize::from(v[0]));
    }
    let tree_get = ns(t, n);
    let mut tree_step = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for r in tree.range(Bound::Unbounded, Bound::Unbounded)? {
            let (k, v) = r?;
            sum += usize::from(k[0]) + usize::from(v[0]) + v.len();
        }
        tree_step = tree_step.min(ns(t, n));
    }
    let report = check(&view, commit.root, 1);
    assert!(report.is_ok(), "{:?}", report.problems.first());
    let random_bytes = report.pages.len() as f64 * f64::from(pager.page_size()) / n as f64;

    // Bulk load of the same entries, sorted.
    let mut sorted: Vec<&[u8; 24]> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    let t = Instant::now();
    let bulk_root = bulk_load(
        &pager,
        2,
        TreeConfig::default(),
        sorted.iter().map(|k| (&k[..], &value[..])),
    )?;
    let bulk_ns = ns(t, sorted.len());
    let view = pager.view()?;
    let bulk = check(&view, bulk_root, 2);
    assert!(bulk.is_ok(), "{:?}", bulk.problems.first());
    let bulk_bytes = bulk.pages.len() as f64 * f64::from(pager.page_size()) / sorted.len() as f64;

    println!("{n} random 24-byte keys, 150-byte values, 4 KiB pages (checksum {sum})");
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "", "aedb-btree", "BTreeMap", "ratio"
    );
    println!(
        "{:<34} {:>12.0} {:>12.0} {:>8.2}",
        "random get (ns)",
        tree_get,
        map_get,
        tree_get / map_get
    );
    println!(
        "{:<34} {:>12.0} {:>12.0} {:>8.2}",
        "insert, one transaction (ns)",
        tree_insert,
        map_insert,
        tree_insert / map_insert
    );
    println!(
        "{:<34} {:>12.1} {:>12.1} {:>8.2}",
        "range step (ns)",
        tree_step,
        map_step,
        tree_step / map_step
    );
    println!(
        "commit of that transaction: {commit_ms:.0} ms ({} pages written)",
        report.pages.len()
    );
    println!(
        "page file bytes per entry: {random_bytes:.1} after random inserts, {bulk_bytes:.1} after bulk load (raw entry: 174 + slot 2 + header 6)"
    );
    println!("bulk load: {bulk_ns:.0} ns per entry, depth {}", bulk.depth);
    Ok(())
}
