//! Model tests: random operation sequences against `BTreeMap`, at 4 KiB and 16 KiB
//! pages, with reads, ranges and counts compared, the checker and page accounting
//! run after every commit, and snapshots re-read after newer commits.

mod common;

use aedb_btree::pager::sim::test_seed;
use common::*;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

/// A quickcheck case: a seed for the op generator plus a length; shrinking shortens
/// the sequence, and a failure prints the seed and length to replay.
#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    len: usize,
    page_size: u32,
}

impl Arbitrary for Case {
    fn arbitrary(g: &mut Gen) -> Self {
        Case { seed: u64::arbitrary(g), len: usize::arbitrary(g) % 300, page_size: if bool::arbitrary(g) { 4096 } else { 16384 } }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let c = self.clone();
        let lens: Vec<usize> = (0..self.len).step_by((self.len / 8).max(1)).collect();
        Box::new(lens.into_iter().map(move |len| Case { len, ..c.clone() }))
    }
}

fn ops_for(case: &Case) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(case.seed);
    (0..case.len).map(|_| random_op(&mut rng, 1024, case.page_size as usize)).collect()
}

fn run(case: &Case) -> Result<(), String> {
    let mut h = Harness::new(case.page_size, case.seed);
    h.run(&ops_for(case))
}

#[test]
fn quickcheck_against_btreemap() {
    fn prop(case: Case) -> TestResult {
        match run(&case) {
            Ok(()) => TestResult::passed(),
            Err(e) => TestResult::error(format!("{case:?}: {e}")),
        }
    }
    QuickCheck::new().tests(60).quickcheck(prop as fn(Case) -> TestResult);
}

#[test]
fn long_seeded_sequences_against_btreemap() {
    let seed = test_seed("btree model, long sequences", 0xb7ee);
    for (i, page_size) in [4096u32, 16384, 4096, 16384].into_iter().enumerate() {
        let case = Case { seed: seed.wrapping_add(i as u64), len: 3000, page_size };
        let mut h = Harness::new(page_size, case.seed);
        h.run(&ops_for(&case)).unwrap_or_else(|e| panic!("{case:?}: {e}"));
        println!("{case:?}: {} entries, {} commits", h.model.len(), h.commits);
    }
}

#[test]
fn many_small_entries_build_deep_trees_and_shrink_back() {
    let seed = test_seed("btree model, deep trees", 0xdee9);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new(4096, seed);
    let keys: Vec<Vec<u8>> = (0..20_000u32).map(|i| format!("key-{:08}", (i as u64 * 7919) % 20_000).into_bytes()).collect();
    let mut ops: Vec<Op> = keys.iter().map(|k| Op::Put(k.clone(), value(rng.usize(0..60), 3))).collect();
    ops.push(Op::Commit);
    ops.push(Op::Snapshot);
    ops.extend(keys.iter().filter(|_| rng.u8(0..10) < 9).map(|k| Op::Delete(k.clone())));
    ops.push(Op::Commit);
    h.run(&ops).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    println!("{} entries left after deleting ~90% of 20000", h.model.len());
}
