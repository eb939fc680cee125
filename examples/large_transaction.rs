//! One write transaction of many random keys, to show what a large
//! transaction costs in memory (issue #16: spill and large commits):
//! `cargo run --release --example large_transaction [keys] [spill_mib]`
//! (defaults 10,000,000 keys and a 64 MiB spill bound). Prints the time, the
//! pages spilled, the largest anonymous memory (RssAnon, sampled every 100,000
//! puts) and the file's size; mapped file pages are the OS page cache and are
//! not counted in RssAnon.

use std::time::Instant;

use aedb::storage::{Database, Finality, StorageOptions};

/// (RssAnon, VmHWM) of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0u64)
    };
    (field("RssAnon:"), field("VmHWM:"))
}

/// Key `i`, scrambled so keys arrive in random order.
fn key(i: u64) -> [u8; 16] {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i >> 7);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&x.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let keys: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let spill_mib: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let tmp = tempfile::tempdir_in(".")?;
    let options = StorageOptions {
        spill_dirty_bytes: spill_mib << 20,
        ..StorageOptions::default()
    };
    let db = Database::open(tmp.path(), options)?;
    let (anon_before, _) = memory();
    let started = Instant::now();
    let mut txn = db.begin_write()?;
    let mut most_anon = anon_before;
    {
        let mut tree = txn.open_tree("kv")?;
        for i in 0..keys {
            tree.insert(&key(i), &[7u8; 32])?;
            if i % 100_000 == 0 {
                most_anon = most_anon.max(memory().0);
            }
        }
    }
    let large = txn.is_large();
    txn.commit(Finality::Durable)?;
    let secs = started.elapsed().as_secs_f64();
    let (_, hwm) = memory();
    let stats = db.stats();
    let file = std::fs::metadata(tmp.path().join(aedb::pager::DATA_FILE_NAME))?.len();
    let n = db.begin_read()?.open_tree("kv")?.len();
    assert_eq!(n, keys, "the transaction's keys did not all commit");
    println!("large transaction: {keys} random keys (16-byte keys, 32-byte values), one commit");
    println!("  spill bound {spill_mib} MiB; large commit: {large}");
    println!(
        "  {secs:.1} s ({:.0} puts/s); {} pages spilled",
        keys as f64 / secs,
        stats.spilled_pages
    );
    println!(
        "  RssAnon before {} MiB, largest while it ran {} MiB; VmHWM {} MiB (mapped pages included)",
        anon_before >> 10,
        most_anon >> 10,
        hwm >> 10
    );
    println!("  page file {} MiB", file >> 20);
    Ok(())
}
