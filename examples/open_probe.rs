//! Times opening a database of N keys after a clean shutdown (creating it first if
//! the directory is empty): `cargo run --release --example open_probe <dir> [keys]`.

use std::time::Instant;

use aedb::storage::{Database, Finality, StorageOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: open_probe <dir> [keys]")?;
    let keys: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    if !std::path::Path::new(&dir).join("data.aedb").exists() {
        let db = Database::open(&dir, StorageOptions::default())?;
        let mut i = 0;
        while i < keys {
            let mut txn = db.begin_write()?;
            {
                let mut t = txn.open_tree("kv")?;
                for j in i..(i + 10_000).min(keys) {
                    let x = j.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    t.insert(&x.to_be_bytes(), &[7u8; 32])?;
                }
            }
            txn.commit(Finality::Visible)?;
            i += 10_000;
        }
    }
    for _ in 0..5 {
        let t = Instant::now();
        let db = Database::open(
            &dir,
            StorageOptions {
                checkpoint_on_close: false,
                ..StorageOptions::default()
            },
        )?;
        let opened = t.elapsed();
        let n = db.begin_read()?.open_tree("kv")?.len();
        println!(
            "open: {:.2} ms ({n} keys, {} free pages)",
            opened.as_secs_f64() * 1e3,
            db.pager().free_pages().len()
        );
        drop(db); // nothing committed: the close writes nothing
    }
    Ok(())
}
