//! The figures of issue #5, measured in one run on this machine:
//! `cargo run --release --example storage_figures [big_keys] [load_keys]`
//! (defaults 1,000,000 and 10,000,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aedb::storage::{Database, Finality, StorageOptions};

fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0u64)
    };
    (field("VmHWM:"), field("RssAnon:"))
}

fn key(i: u64) -> [u8; 16] {
    // A bijective scramble, so keys arrive in random order without a table.
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i >> 7);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&x.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn load(db: &Database, from: u64, to: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut i = from;
    while i < to {
        let mut txn = db.begin_write()?;
        {
            let mut t = txn.open_tree("kv")?;
            for j in i..(i + 10_000).min(to) {
                t.insert(&key(j), &[7u8; 32])?;
            }
        }
        txn.commit(Finality::Visible)?;
        i += 10_000;
    }
    Ok(())
}

fn p50_commit(db: &Database, n: usize, base: u64) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let t = Instant::now();
        let mut txn = db.begin_write()?;
        txn.open_tree("kv")?.insert(&key(base + i), &[1u8; 32])?;
        txn.commit(Finality::Durable)?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat[lat.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let big: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let load_keys: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let tmp = tempfile::tempdir_in(".")?;

    // fdatasync rate of this file system: 4 KiB append + fdatasync.
    let path = tmp.path().join("fsync-probe");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let t = Instant::now();
    for i in 0..300u64 {
        std::os::unix::fs::FileExt::write_all_at(&f, &[1u8; 4096], i * 4096)?;
        f.sync_data()?;
    }
    let fsync_rate = 300.0 / t.elapsed().as_secs_f64();

    // Serial durable commits.
    let db = Database::open(tmp.path().join("serial"), StorageOptions::default())?;
    let t = Instant::now();
    for i in 0..2000u64 {
        let mut txn = db.begin_write()?;
        txn.open_tree("kv")?.insert(&key(i), &[3u8; 32])?;
        txn.commit(Finality::Durable)?;
    }
    let serial = 2000.0 / t.elapsed().as_secs_f64();
    drop(db);

    // 64 concurrent committers (group commit).
    let db = Arc::new(Database::open(
        tmp.path().join("group"),
        StorageOptions::default(),
    )?);
    let t = Instant::now();
    let threads: Vec<_> = (0..64u64)
        .map(|th| {
            let db = db.clone();
            std::thread::spawn(move || -> Result<(), aedb::storage::StorageError> {
                for i in 0..100u64 {
                    let mut txn = db.begin_write()?;
                    txn.open_tree("kv")?
                        .insert(&key(th * 1000 + i), &[5u8; 32])?;
                    txn.commit(Finality::Durable)?;
                }
                Ok(())
            })
        })
        .collect();
    for th in threads {
        th.join().map_err(|_| "committer thread panicked")??;
    }
    let group = 6400.0 / t.elapsed().as_secs_f64();
    drop(db);

    // p50 durable commit latency at 10,000 and `big` keys; open time after a clean
    // shutdown of the `big`-key database.
    let dir = tmp.path().join("latency");
    let db = Database::open(&dir, StorageOptions::default())?;
    load(&db, 0, 10_000)?;
    let p50_small = p50_commit(&db, 1000, 1 << 40)?;
    load(&db, 10_000, big)?;
    let p50_big = p50_commit(&db, 1000, 1 << 41)?;
    drop(db);
    let t = Instant::now();
    let db = Database::open(&dir, StorageOptions::default())?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let n = db.begin_read()?.open_tree("kv")?.len();
    drop(db);

    println!("fdatasync (4 KiB append + fdatasync) on this file system: {fsync_rate:.0}/s");
    println!(
        "serial durable commits: {serial:.0}/s ({:.2} per fdatasync)",
        serial / fsync_rate
    );
    println!(
        "64 concurrent committers: {group:.0} durable commits/s ({:.1}x serial)",
        group / serial
    );
    println!(
        "p50 durable commit latency: {:.0} us at 10,000 keys, {:.0} us at {big} keys",
        p50_small.as_secs_f64() * 1e6,
        p50_big.as_secs_f64() * 1e6
    );
    println!("open after clean shutdown with {n} keys: {open_ms:.1} ms");

    // Peak memory while loading `load_keys` keys with the default configuration.
    let before = rss();
    let db = Database::open(tmp.path().join("load"), StorageOptions::default())?;
    let t = Instant::now();
    load(&db, 0, load_keys)?;
    db.checkpoint_now()?;
    let secs = t.elapsed().as_secs_f64();
    let file = std::fs::metadata(tmp.path().join("load").join("data.aedb"))?.len();
    drop(db);
    let (hwm, anon) = rss();
    println!(
        "loading {load_keys} random 16-byte keys (32-byte values, 10,000 per commit): {secs:.1} s, page file {} MiB; peak RSS {} MiB (before: {} MiB, includes mapped file pages), anonymous RSS after {} MiB",
        file >> 20,
        hwm >> 10,
        before.0 >> 10,
        anon >> 10
    );
    Ok(())
}
