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
        Case {
            seed: u64::arbitrary(g),
            len: usize::arbitrary(g) % 300,
            page_size: if bool::arbitrary(g) { 4096 } else { 16384 },
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let c = self.clone();
        let lens: Vec<usize> = (0..self.len).step_by((self.len / 8).max(1)).collect();
        Box::new(lens.into_iter().map(move |len| Case { len, ..c.clone() }))
    }
}

fn ops_for(case: &Case) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(case.seed);
    (0..case.len)
        .map(|_| random_op(&mut rng, 1024, case.page_size as usize))
        .collect()
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
    QuickCheck::new()
        .tests(60)
        .quickcheck(prop as fn(Case) -> TestResult);
}

#[test]
fn long_seeded_sequences_against_btreemap() {
    let seed = test_seed("btree model, long sequences", 0xb7ee);
    for (i, page_size) in [4096u32, 16384, 4096, 16384].into_iter().enumerate() {
        let case = Case {
            seed: seed.wrapping_add(i as u64),
            len: 3000,
            page_size,
        };
        let mut h = Harness::new(page_size, case.seed);
        h.run(&ops_for(&case))
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
        println!("{case:?}: {} entries, {} commits", h.model.len(), h.commits);
    }
}

#[test]
fn many_small_entries_build_deep_trees_and_shrink_back() {
    let seed = test_seed("btree model, deep trees", 0xdee9);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new(4096, seed);
    let keys: Vec<Vec<u8>> = (0..20_000u32)
        .map(|i| format!("key-{:08}", (i as u64 * 7919) % 20_000).into_bytes())
        .collect();
    let mut ops: Vec<Op> = keys
        .iter()
        .map(|k| Op::Put(k.clone(), value(rng.usize(0..60), 3)))
        .collect();
    ops.push(Op::Commit);
    ops.push(Op::Snapshot);
    ops.extend(
        keys.iter()
            .filter(|_| rng.u8(0..10) < 9)
            .map(|k| Op::Delete(k.clone())),
    );
    ops.push(Op::Commit);
    h.run(&ops).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    println!(
        "{} entries left after deleting ~90% of 20000",
        h.model.len()
    );
}

#[test]
fn model_on_real_files_reads_through_the_mmap() {
    let seed = test_seed("btree model, real files", 0x4ea1);
    for (i, page_size) in [4096u32, 16384].into_iter().enumerate() {
        let case = Case {
            seed: seed.wrapping_add(i as u64),
            len: 1500,
            page_size,
        };
        let mut h = Harness::new_real(page_size);
        h.run(&ops_for(&case))
            .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    }
}

#[test]
fn bulk_load_builds_a_valid_tree_that_transactions_then_edit() {
    let seed = test_seed("btree bulk load", 0xb01c);
    let mut rng = fastrand::Rng::with_seed(seed);
    for page_size in [4096u32, 16384] {
        let mut h = Harness::new(page_size, seed);
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = (0..5000u32)
            .map(|i| {
                (
                    format!("bulk-{i:06}").into_bytes(),
                    val(&mut rng, page_size as usize),
                )
            })
            .collect();
        entries.sort();
        h.bulk_load(&entries)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let ops: Vec<Op> = (0..2000)
            .map(|_| random_op(&mut rng, 1024, page_size as usize))
            .collect();
        h.run(&ops)
            .unwrap_or_else(|e| panic!("seed {seed}: after bulk load: {e}"));
        // Loading again over the edited tree retires all of it.
        h.bulk_load(&entries[..100])
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

#[test]
fn bulk_load_refuses_unsorted_or_oversized_input() {
    let h = Harness::new(4096, 1);
    let unsorted = vec![(b"b".to_vec(), vec![]), (b"a".to_vec(), vec![])];
    let err =
        aedb_btree::bulk_load(&h.pager, OWNER, aedb_btree::TreeConfig::default(), unsorted).err();
    assert!(
        matches!(
            err,
            Some(aedb_btree::BtreeError::UnsortedBulkLoad { index: 1 })
        ),
        "{err:?}"
    );
    let dup = vec![(b"a".to_vec(), vec![]), (b"a".to_vec(), vec![])];
    assert!(
        aedb_btree::bulk_load(&h.pager, OWNER, aedb_btree::TreeConfig::default(), dup).is_err()
    );
    let big = vec![(vec![0u8; 1025], vec![])];
    let err = aedb_btree::bulk_load(&h.pager, OWNER, aedb_btree::TreeConfig::default(), big).err();
    assert!(
        matches!(
            err,
            Some(aedb_btree::BtreeError::KeyTooLarge {
                len: 1025,
                limit: 1024
            })
        ),
        "{err:?}"
    );
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    let h = Harness::new(4096, 2);
    let view = h.pager.view().unwrap_or_else(|e| panic!("{e}"));
    let config = aedb_btree::TreeConfig {
        key_limit: 8,
        value_limit: 100,
    };
    let mut txn = aedb_btree::WriteTxn::new(&h.pager, view.clone(), OWNER, None, config, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        txn.put(b"123456789", b""),
        Err(aedb_btree::BtreeError::KeyTooLarge { len: 9, limit: 8 })
    ));
    assert!(matches!(
        txn.put(b"k", &[0; 101]),
        Err(aedb_btree::BtreeError::ValueTooLarge {
            len: 101,
            limit: 100
        })
    ));
    let too_long = aedb_btree::TreeConfig {
        key_limit: 5000,
        ..Default::default()
    };
    assert!(matches!(
        aedb_btree::WriteTxn::new(&h.pager, view, OWNER, None, too_long, 1),
        Err(aedb_btree::BtreeError::InvalidConfig(_))
    ));
}
