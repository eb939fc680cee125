//! RELIABILITY G12: the committed fuzz corpus is replayed by plain `cargo test`, and a
//! short seeded mutation run over valid images stands in for live fuzzing on stable.

mod common;

use aedb_pager::fuzzing::open_image;
use aedb_pager::sim::{SimFs, test_seed};
use common::*;

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pager_open")
}

fn valid_image(seed: u64, page_size: u32) -> Vec<u8> {
    let fs = SimFs::new(seed);
    let out = run_workload(&fs, seed, page_size, 5);
    assert!(out.error.is_none());
    drop(out.pager);
    fs.contents(&data_path()).unwrap_or_else(|| unreachable!())
}

#[test]
fn corpus_replays_without_panics() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        open_image(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        n += 1;
    }
    println!("{n} corpus inputs replayed");
    assert!(n > 0, "empty corpus");
}

#[test]
fn mutated_images_never_panic() {
    let seed = test_seed("open_image mutations", 51);
    let mut rng = fastrand::Rng::with_seed(seed);
    let base = valid_image(seed, 4096);
    for i in 0..20_000 {
        let mut input = vec![rng.u8(..)];
        input.extend_from_slice(&base);
        for _ in 0..rng.usize(1..8) {
            if input.len() < 16 {
                break;
            }
            match rng.u8(0..4) {
                0 => {
                    let at = rng.usize(1..input.len());
                    input[at] ^= 1 << rng.u8(0..8);
                }
                1 => {
                    let at = rng.usize(1..input.len());
                    input[at] = rng.u8(..);
                }
                2 => {
                    let len = rng.usize(1..input.len());
                    input.truncate(len);
                }
                _ => {
                    // Plausible-looking numbers in fields that index things.
                    let at = rng.usize(1..input.len().saturating_sub(8).max(2));
                    let v: u64 = [0, 1, 2, u64::MAX, rng.u64(..64)][rng.usize(0..5)];
                    let end = (at + 8).min(input.len());
                    input[at..end].copy_from_slice(&v.to_le_bytes()[..end - at]);
                }
            }
        }
        if i % 5000 == 0 {
            println!("mutation {i}");
        }
        open_image(&input);
    }
}

/// Regenerates the seed corpus: `cargo test -p aedb-pager --test fuzz_replay -- --ignored`.
#[test]
#[ignore = "writes the seed corpus into fuzz/corpus"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for (name, seed, ps, choice) in [
        ("valid-4k", 1, 4096, 0u8),
        ("valid-8k", 2, 8192, 2),
        ("valid-4k-ask-16k", 3, 4096, 3),
    ] {
        let mut input = vec![choice];
        input.extend(valid_image(seed, ps));
        std::fs::write(dir.join(name), input).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(dir.join("empty"), [0u8]).unwrap_or_else(|e| panic!("{e}"));
}
