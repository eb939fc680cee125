//! Large transactions (issue #16). Large commits (engine invariant 14): a
//! transaction whose effects pass `large_commit_bytes` stops logging them and
//! commits through the page file: a frame that only names its root, then two
//! metas at its seq. It is durable on return whatever the finality, the WAL
//! grows by one small frame, and a fuzzy checkpoint in flight beside it is
//! waited for, not overtaken. Spill (btree write invariant 7): a transaction's
//! copied pages past `spill_dirty_bytes` go to their fresh pages in the file,
//! so its memory stays bounded, and come back when an edit reaches them. The
//! crash matrix (`crash_matrix.rs`, whose workload makes large and spilling
//! transactions) crashes inside every step of both, including the W12 cut of
//! a large frame whose metas never became durable.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aedb::pager::DATA_FILE_NAME;
use aedb::pager::sim::{FaultPlan, SimFs, test_seed};
use aedb::storage::{Consistency, Database, Finality, StorageError, StorageOptions};
use common::{Model, dir, read_model};

const LARGE: usize = 64 << 10;

fn options() -> StorageOptions {
    StorageOptions {
        large_commit_bytes: Some(LARGE),
        snapshot_retention_count: 2,
        // A reopen then replays what came after the last meta.
        checkpoint_on_close: false,
        ..common::options(4096)
    }
}

fn open(fs: &SimFs) -> Database {
    Database::open_with(Arc::new(fs.clone()), &dir(), options()).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes keys `keys` (100-byte values) into tree `t` in one transaction;
/// returns its seq and whether it was large.
fn write(db: &Database, keys: std::ops::Range<u32>, finality: Finality) -> (u64, bool) {
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    let mut tree = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
    for k in keys {
        tree.insert(&k.to_be_bytes(), &[k as u8; 100])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    drop(tree);
    let large = txn.is_large();
    assert_eq!(
        txn.effects().is_none(),
        large,
        "a large transaction logs no effects"
    );
    let seq = txn.commit(finality).unwrap_or_else(|e| panic!("{e}")).seq;
    (seq, large)
}

fn model_of(keys: std::ops::Range<u32>) -> Model {
    let t: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .map(|k| (k.to_be_bytes().to_vec(), vec![k as u8; 100]))
        .collect();
    Model::from([("t".to_string(), t)])
}

#[test]
fn a_transaction_past_the_threshold_commits_through_two_metas() {
    let fs = SimFs::new(test_seed("large commit", 0x1a7e));
    let db = open(&fs);
    let (small, large) = write(&db, 0..10, Finality::Visible);
    assert!(!large, "10 puts are not a large commit");
    let before = db.stats();
    // ~112 bytes of effects per put: 2,000 puts pass 64 KiB.
    let (seq, large) = write(&db, 10..2_010, Finality::Visible);
    assert!(
        large,
        "2,000 puts past {LARGE} bytes did not turn the transaction large"
    );
    assert_eq!(seq, small + 1);
    let after = db.stats();
    assert_eq!(after.large_commits - before.large_commits, 1);
    let frame = after.wal_append_bytes - before.wal_append_bytes;
    assert!(
        frame < 100,
        "the large commit's frame holds {frame} bytes: it should only name the root"
    );
    // Durable on return (Visible was asked), and both metas hold it.
    assert_eq!(db.durable_seq(), seq);
    assert_eq!(db.checkpoint_seq(), seq);
    let at = db
        .begin_read_at(Consistency::AtCheckpoint)
        .unwrap_or_else(|e| panic!("{e}"))
        .seq();
    assert_eq!(at, seq, "the checkpointed state is the large commit");
    assert_eq!(read_model(&db), Ok(model_of(0..2_010)));
    // Commits after it go on in the WAL as usual.
    let (next, large) = write(&db, 2_010..2_020, Finality::Durable);
    assert!(!large);
    assert_eq!(next, seq + 1);
    drop(db);
    let db = open(&fs);
    assert_eq!(db.recovery_report().checkpoint_seq, seq);
    assert_eq!(db.recovery_report().replayed, 1, "only the commit after it");
    assert_eq!(read_model(&db), Ok(model_of(0..2_020)));
}

#[test]
fn a_large_commit_waits_for_a_fuzzy_checkpoint_in_flight() {
    let fs = SimFs::new(test_seed("large commit beside a checkpoint", 0x1a7f));
    let db = open(&fs);
    write(&db, 0..50, Finality::Visible);
    let cut = db.visible_seq();
    let stall = fs.stall_next_sync(DATA_FILE_NAME);
    std::thread::scope(|scope| {
        let checkpoint = scope.spawn(|| db.checkpoint_now());
        assert!(
            stall.wait_stalled(Duration::from_secs(10)),
            "the checkpoint never reached its page-file sync"
        );
        // The large commit needs the pager's meta, which the stalled
        // checkpoint holds in flight: it must wait for it, not fail.
        let large = scope.spawn(|| write(&db, 50..2_050, Finality::Visible));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !large.is_finished(),
            "the large commit finished while a meta was in flight"
        );
        stall.release();
        checkpoint
            .join()
            .unwrap_or_else(|_| panic!("checkpoint thread panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (seq, was_large) = large
            .join()
            .unwrap_or_else(|_| panic!("large commit thread panicked"));
        assert!(was_large);
        assert_eq!(seq, cut + 1);
    });
    // The checkpoint's trim came after the large commit's metas: it must not
    // move the checkpoint back to its cut.
    let seq = cut + 1;
    assert_eq!(db.checkpoint_seq(), seq);
    let at = db
        .begin_read_at(Consistency::AtCheckpoint)
        .unwrap_or_else(|e| panic!("{e}"))
        .seq();
    assert_eq!(at, seq, "the checkpointed state went back to the older cut");
    assert_eq!(read_model(&db), Ok(model_of(0..2_050)));
    drop(db);
    let db = open(&fs);
    assert_eq!(db.recovery_report().checkpoint_seq, seq);
    assert_eq!(db.recovery_report().replayed, 0);
    assert_eq!(read_model(&db), Ok(model_of(0..2_050)));
}

#[test]
fn a_large_commit_waits_for_a_backup_pin() {
    let fs = SimFs::new(test_seed("large commit beside a backup", 0x1a80));
    let db = open(&fs);
    write(&db, 0..50, Finality::Durable);
    let pin = db.pin_for_backup().unwrap_or_else(|e| panic!("{e}"));
    let pinned = pin.checkpoint_seq();
    std::thread::scope(|scope| {
        let large = scope.spawn(|| write(&db, 50..2_050, Finality::Visible));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !large.is_finished(),
            "the large commit wrote its metas while a backup was copying them"
        );
        assert_eq!(db.checkpoint_seq(), pinned);
        drop(pin);
        let (_, was_large) = large
            .join()
            .unwrap_or_else(|_| panic!("large commit thread panicked"));
        assert!(was_large);
    });
    assert_eq!(db.checkpoint_seq(), db.visible_seq());
    assert_eq!(read_model(&db), Ok(model_of(0..2_050)));
}

/// Random keys in one transaction with a 64 KiB spill bound, as a large
/// commit and as a logged one: the transaction's pages in memory stay within
/// the bound (plus the pages one edit touches), reads inside it see every
/// earlier write through spilled pages, and the result (or an abort) leaves
/// the file exact.
#[test]
fn a_spilling_transaction_keeps_its_memory_bounded() {
    const SPILL: u64 = 64 << 10;
    for large in [Some(LARGE), None] {
        let fs = SimFs::new(test_seed("spill", 0x5b11));
        let options = StorageOptions {
            spill_dirty_bytes: SPILL,
            large_commit_bytes: large,
            ..options()
        };
        let db = Database::open_with(Arc::new(fs.clone()), &dir(), options.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rng = fastrand::Rng::with_seed(0x5b11);
        let mut keys: Vec<u32> = (0..6_000).collect();
        rng.shuffle(&mut keys);
        for abort in [true, false] {
            let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
            let mut most = 0;
            for (i, &k) in keys.iter().enumerate() {
                let mut tree = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
                tree.insert(&k.to_be_bytes(), &[k as u8; 100])
                    .unwrap_or_else(|e| panic!("{e}"));
                // An earlier key, read back through whatever was spilled.
                let back = keys[rng.usize(..=i)];
                let got = tree
                    .get(&back.to_be_bytes())
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    got,
                    Some(vec![back as u8; 100]),
                    "key {back} after {i} puts"
                );
                drop(tree);
                most = most.max(txn.dirty_bytes());
            }
            assert!(
                most <= SPILL + 8 * 4096,
                "{most} bytes of pages held past a {SPILL}-byte spill bound"
            );
            assert_eq!(txn.is_large(), large.is_some());
            let spilled = db.stats().spilled_pages;
            assert!(spilled > 100, "only {spilled} pages spilled");
            if abort {
                txn.abort();
                db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(read_model(&db), Ok(Model::new()), "an abort left entries");
                common::check_all(&db).unwrap_or_else(|e| panic!("after an abort: {e}"));
            } else {
                txn.commit(Finality::Durable)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let want = model_of(0..6_000);
        assert_eq!(read_model(&db), Ok(want.clone()));
        common::check_all(&db).unwrap_or_else(|e| panic!("{e}"));
        drop(db);
        let db = Database::open_with(Arc::new(fs.clone()), &dir(), options)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_model(&db), Ok(want), "after a reopen ({large:?})");
        common::check_all(&db).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A spill whose page write fails: the insert that triggered it reports the
/// error, the transaction then refuses to commit (its edit was made), and an
/// abort leaves the database as it was and usable.
#[test]
fn a_failed_spill_leaves_the_transaction_only_abortable() {
    let fs = SimFs::new(test_seed("failed spill", 0x5b12));
    let options = StorageOptions {
        spill_dirty_bytes: 64 << 10,
        ..options()
    };
    let db = Database::open_with(Arc::new(fs.clone()), &dir(), options)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    // Inserts below the bound touch no file; the first persistence call from
    // here on is the spill's first page write, and it fails.
    fs.set_plan(FaultPlan {
        eio_at: Some(fs.calls()),
        ..FaultPlan::default()
    });
    let mut failed = None;
    for k in 0..20_000u32 {
        let mut tree = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = tree.insert(&k.to_be_bytes(), &[k as u8; 100]) {
            failed = Some(e);
            break;
        }
    }
    fs.set_plan(FaultPlan::default());
    let failed = failed.unwrap_or_else(|| panic!("no insert reported the failed spill"));
    assert!(failed.to_string().contains("writing page"), "{failed}");
    match txn.commit(Finality::Durable) {
        Err(StorageError::TransactionFailed(why)) => assert!(why.contains("spilling"), "{why}"),
        other => panic!("a transaction whose spill failed committed: {other:?}"),
    }
    assert!(!db.is_poisoned());
    write(&db, 0..10, Finality::Durable);
    assert_eq!(read_model(&db), Ok(model_of(0..10)));
    common::check_all(&db).unwrap_or_else(|e| panic!("{e}"));
}
