//! RELIABILITY G12 on stable: the committed corpora of the storage fuzz targets are
//! replayed by plain `cargo test`, plus seeded mutations of valid inputs.

mod common;

use std::path::Path;

use aedb::pager::sim::{SimFs, test_seed};
use aedb::pager::vfs::Vfs;
use aedb::storage::fuzzing::{open_image, recovery, wal_decode};
use aedb::table::fuzzing::{sample_inputs, table_decode};

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        harness(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        n += 1;
    }
    n
}

/// A valid directory image from a short workload: (page file, newest WAL segment).
fn valid_image(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let fs = SimFs::new(seed);
    let out = common::run(&fs, seed, 4096, 6);
    assert!(out.error.is_none());
    let page_file = fs
        .contents(&common::dir().join(aedb::pager::DATA_FILE_NAME))
        .unwrap_or_default();
    let segs = fs.list_dir(&common::dir().join("wal")).unwrap_or_default();
    let segment = segs
        .first()
        .and_then(|p| fs.contents(p))
        .unwrap_or_default();
    (page_file, segment)
}

fn mutate(rng: &mut fastrand::Rng, mut input: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.usize(1..6) {
        if input.is_empty() {
            break;
        }
        let at = rng.usize(0..input.len());
        match rng.u8(0..3) {
            0 => input[at] ^= 1 << rng.u8(0..8),
            1 => input[at] = rng.u8(..),
            _ => input.truncate(at.max(1)),
        }
    }
    input
}

#[test]
fn storage_corpora_replay_without_panics() {
    let n = replay("wal_decode", wal_decode)
        + replay("recovery", recovery)
        + replay("open_image", open_image);
    println!("{n} storage corpus inputs replayed");
    assert!(n >= 3);
}

#[test]
fn mutated_storage_inputs_never_panic() {
    let seed = test_seed("storage fuzz mutations", 0xf022);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (page_file, segment) = valid_image(seed);
    for _ in 0..300 {
        let mut seg = vec![rng.u8(..) & 1];
        seg.extend(mutate(&mut rng, segment.clone()));
        wal_decode(&seg);
        let mut img = (page_file.len() as u32).to_le_bytes().to_vec();
        img.extend(&page_file);
        img.extend(&segment);
        open_image(&mutate(&mut rng, img));
        let mut rec: Vec<u8> = (0..rng.usize(4..80)).map(|_| rng.u8(..)).collect();
        rec[0] = rng.u8(0..200);
        rec[1] = 0;
        recovery(&rec);
    }
}

/// Regenerates the seed corpora: `cargo test --test fuzz_replay -- --ignored`.
#[test]
#[ignore = "writes seed inputs into fuzz/corpus"]
fn write_storage_seed_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let (page_file, segment) = valid_image(1);
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
    };
    let mut seg = vec![0u8];
    seg.extend(&segment);
    write("wal_decode", "valid-segment", &seg);
    write("wal_decode", "empty", &[0]);
    let mut img = (page_file.len() as u32).to_le_bytes().to_vec();
    img.extend(&page_file);
    img.extend(&segment);
    write("open_image", "valid-directory", &img);
    write("open_image", "empty", &[0, 0, 0, 0, 0]);
    // crash point, image, page size, ops (puts, commits, checkpoint), 0xFF, damage
    write(
        "recovery",
        "commits-and-checkpoint",
        &[40, 0, 1, 0, 1, 5, 9, 0xC1, 2, 6, 0xC0, 0xE0, 3, 0xC1, 0xFF],
    );
    write(
        "recovery",
        "crash-early-damaged",
        &[3, 0, 2, 0, 1, 0xC1, 0xFF, 0, 0x10, 0, 3],
    );
    write(
        "recovery",
        "big-values-64k",
        &[200, 0, 0, 1, 0x5f, 0x5e, 0xC1, 0xE0, 0x5d, 0xA0, 0xC1, 0xFF],
    );
}

#[test]
fn table_inputs_never_panic() {
    let n = replay("table_decode", table_decode);
    let seed = test_seed("table fuzz mutations", 0x7ab1e);
    let mut rng = fastrand::Rng::with_seed(seed);
    let samples = sample_inputs();
    for s in &samples {
        table_decode(s);
    }
    for _ in 0..20_000 {
        let base = samples[rng.usize(..samples.len())].clone();
        table_decode(&mutate(&mut rng, base));
    }
    println!(
        "{n} table_decode corpus inputs replayed, 20,000 mutations of {} samples",
        samples.len()
    );
    if std::env::var_os("AEDB_WRITE_TABLE_SEEDS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/table_decode");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for (i, s) in samples.iter().enumerate() {
            std::fs::write(dir.join(format!("sample-{i}")), s).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
