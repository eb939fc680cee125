//! Durable one-key commits from 1, 2, 4, … threads on the storage engine, and
//! how many commits each WAL sync covered: where group commit stops scaling
//! (issue #16, "Next: commit coalescing" in docs/ARCHITECTURE.md).
//! `cargo run --release --example committers [threads,threads,..]`
//! (default 1,2,4,8,16,64; 12,800 commits per run on a 100,000-key tree).

use std::sync::Arc;
use std::time::Instant;

use aedb::storage::{Database, Finality, StorageOptions};

const COMMITS: u64 = 12_800;

fn key(i: u64) -> [u8; 8] {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()
}

fn run(threads: u64) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Arc::new(Database::open(dir.path(), StorageOptions::default())?);
    let mut txn = db.begin_write()?;
    {
        let mut tree = txn.open_tree("kv")?;
        for i in 0..100_000 {
            tree.insert(&key(i), &[7u8; 150])?;
        }
    }
    txn.commit(Finality::Durable)?;
    let before = db.stats();
    let per = COMMITS / threads;
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || -> Result<(), String> {
                for i in 0..per {
                    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
                    {
                        let mut tree = txn.open_tree("kv").map_err(|e| e.to_string())?;
                        let k = key(1_000_000 + t * 1_000_000 + i);
                        tree.insert(&k, &[1u8; 150]).map_err(|e| e.to_string())?;
                    }
                    txn.commit(Finality::Durable).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().map_err(|_| "a committer panicked")??;
    }
    let took = started.elapsed().as_secs_f64();
    let after = db.stats();
    let syncs = (after.wal_syncs - before.wal_syncs).max(1);
    let commits = after.commits - before.commits;
    Ok(((per * threads) as f64 / took, commits as f64 / syncs as f64))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let list = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1,2,4,8,16,64".into());
    println!("| threads | durable commits/s | commits per WAL sync |");
    println!("|---:|---:|---:|");
    for threads in list.split(',') {
        let threads: u64 = threads.trim().parse()?;
        let (rate, per_sync) = run(threads.max(1))?;
        println!("| {threads} | {rate:.0} | {per_sync:.2} |");
    }
    Ok(())
}
