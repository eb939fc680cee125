//! Durable one-key commits from 1, 2, 4, … threads on the storage engine, each
//! way: a write transaction per commit (`begin_write`, group commit shares
//! the syncs) and `Database::submit` (commit coalescing shares the writer
//! lock, frame and sync too); how many callers each WAL sync covered
//! (issue #16, "Commit coalescing" in docs/ARCHITECTURE.md).
//! `cargo run --release --example committers [threads,threads,..] [submit]`
//! (default 1,2,4,8,16,64; 12,800 commits per run on a 100,000-key tree;
//! `submit` runs only that way, for a profiler).

use std::sync::Arc;
use std::time::Instant;

use aedb::storage::{Database, Finality, StorageOptions};

const COMMITS: u64 = 12_800;

fn key(i: u64) -> [u8; 8] {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes()
}

/// One durable one-key commit, either way.
fn commit(db: &Database, submit: bool, k: [u8; 8]) -> Result<(), String> {
    if submit {
        db.submit(Finality::Durable, move |txn| {
            txn.open_tree("kv")?.insert(&k, &[1u8; 150])
        })
        .map_err(|e: aedb::storage::StorageError| e.to_string())?;
        return Ok(());
    }
    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.open_tree("kv")
        .and_then(|mut tree| tree.insert(&k, &[1u8; 150]))
        .map_err(|e| e.to_string())?;
    txn.commit(Finality::Durable).map_err(|e| e.to_string())?;
    Ok(())
}

/// Commits per second and callers per WAL sync.
fn run(threads: u64, submit: bool) -> Result<(f64, f64), Box<dyn std::error::Error>> {
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
                    commit(&db, submit, key(1_000_000 + t * 1_000_000 + i))?;
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
    let callers = per * threads;
    Ok((callers as f64 / took, callers as f64 / syncs as f64))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let list = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "1,2,4,8,16,64".into());
    let only_submit = std::env::args().nth(2).as_deref() == Some("submit");
    println!(
        "| threads | begin_write: commits/s | per WAL sync | submit: commits/s | per WAL sync |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for threads in list.split(',') {
        let threads: u64 = threads.trim().parse::<u64>()?.max(1);
        let (rate, per_sync) = if only_submit {
            (0.0, 0.0)
        } else {
            run(threads, false)?
        };
        let (coalesced, coalesced_per_sync) = run(threads, true)?;
        println!(
            "| {threads} | {rate:.0} | {per_sync:.2} | {coalesced:.0} | {coalesced_per_sync:.2} |"
        );
    }
    Ok(())
}
