//! Checkpoints and the file's size (issue #16). Fuzzy checkpoints (engine
//! invariant 6): `checkpoint_now` holds the writer lock only for its cut and
//! trim, so commits and reads go on while its page-file sync is stalled; the
//! checkpoint then publishes the state of its cut, not of the commits made
//! beside it, and all of it survives a reopen (the crash matrix in
//! `storage_crash.rs` crashes inside such windows). Tail truncation (pager
//! invariant 9) and `compact` shrink the page file, with a crash at every call
//! of each workload.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aedb::pager::DATA_FILE_NAME;
use aedb::pager::sim::{ImageMode, SimFs, test_seed};
use aedb::storage::{Consistency, Database, Finality, StorageOptions};
use common::{Model, dir, read_model};

fn options() -> StorageOptions {
    StorageOptions {
        // Retained snapshots are readers: a short window lets freed pages go.
        snapshot_retention_count: 2,
        checkpoint_wal_bytes: u64::MAX,
        checkpoint_dirty_bytes: u64::MAX,
        checkpoint_interval_ms: None,
        ..common::options(4096)
    }
}

fn open(fs: &SimFs) -> Database {
    Database::open_with(Arc::new(fs.clone()), &dir(), options()).unwrap_or_else(|e| panic!("{e}"))
}

fn put(db: &Database, key: u32, finality: Finality) -> u64 {
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    let mut tree = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
    tree.insert(&key.to_be_bytes(), &[key as u8; 100])
        .unwrap_or_else(|e| panic!("{e}"));
    // Rewrite an early key too: its old pages are retired beside the checkpoint.
    tree.insert(&(key % 7).to_be_bytes(), &[key as u8; 100])
        .unwrap_or_else(|e| panic!("{e}"));
    drop(tree);
    txn.commit(finality).unwrap_or_else(|e| panic!("{e}")).seq
}

fn model_of(keys: std::ops::Range<u32>) -> Model {
    let mut t = std::collections::BTreeMap::new();
    for k in keys {
        t.insert(k.to_be_bytes().to_vec(), vec![k as u8; 100]);
        t.insert((k % 7).to_be_bytes().to_vec(), vec![k as u8; 100]);
    }
    Model::from([("t".to_string(), t)])
}

#[test]
fn commits_and_reads_complete_while_a_checkpoint_sync_is_stalled() {
    let fs = SimFs::new(test_seed("fuzzy checkpoint", 0xc4e0));
    let db = open(&fs);
    for k in 0..200 {
        put(&db, k, Finality::Visible);
    }
    let cut = db.visible_seq();
    let before = db.checkpoint_seq();
    let stall = fs.stall_next_sync(DATA_FILE_NAME);
    std::thread::scope(|scope| {
        let checkpoint = scope.spawn(|| db.checkpoint_now());
        assert!(
            stall.wait_stalled(Duration::from_secs(10)),
            "the checkpoint never reached its page-file sync"
        );
        // While the checkpoint's sync is stalled: durable commits, reads of the
        // latest state and of the checkpointed one, all complete (on a thread
        // of their own, so a checkpoint that blocked them fails the test
        // instead of hanging it).
        let (done, finished) = std::sync::mpsc::channel();
        let db = &db;
        scope.spawn(move || {
            for k in 200..400 {
                put(db, k, Finality::Durable);
            }
            let model = read_model(db).unwrap_or_else(|e| panic!("{e}"));
            let at = db
                .begin_read_at(Consistency::AtCheckpoint)
                .unwrap_or_else(|e| panic!("{e}"))
                .seq();
            let _ = done.send((model, at));
        });
        let Ok((model, at)) = finished.recv_timeout(Duration::from_secs(60)) else {
            stall.release();
            panic!("commits and reads did not complete while the checkpoint's sync was stalled");
        };
        assert_eq!(model, model_of(0..400));
        assert_eq!(
            at, before,
            "the old checkpoint until the new one is durable"
        );
        assert!(
            !checkpoint.is_finished(),
            "the checkpoint finished while stalled"
        );
        assert_eq!(db.checkpoint_seq(), before, "the meta is not written yet");
        stall.release();
        checkpoint
            .join()
            .unwrap_or_else(|_| panic!("checkpoint thread panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
    });
    // The checkpoint holds its cut, not the commits made beside it.
    assert_eq!(db.checkpoint_seq(), cut);
    let at = db
        .begin_read_at(Consistency::AtCheckpoint)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(at.seq(), cut);
    drop(at);
    // A second checkpoint (the two-meta rule now lets the pages retired beside
    // the first be reused), more commits, and a crash that keeps only what was
    // synced: everything acknowledged durable is there, the checker passes.
    db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
    for k in 400..500 {
        put(&db, k, Finality::Durable);
    }
    assert!(fs.violations().is_empty(), "{:?}", fs.violations());
    let image = fs.crash_image(ImageMode::LoseAll);
    drop(db);
    let reopened = open(&image);
    assert_eq!(
        read_model(&reopened).unwrap_or_else(|e| panic!("{e}")),
        model_of(0..500)
    );
    assert!(image.violations().is_empty(), "{:?}", image.violations());
}

/// A dropped tree at the end of the file: its pages are given back at the
/// checkpoints that follow and the page file shrinks (pager invariant 9).
/// Returns the model after each commit (and the commit in flight when an
/// error stopped it), the last durable seq, and the page file's length after
/// the load and at the end.
struct Shrink {
    states: Vec<(u64, Model)>,
    in_flight: Option<(u64, Model)>,
    durable: u64,
    loaded: u64,
    end: u64,
}

fn shrink_workload(fs: &SimFs) -> Shrink {
    let mut states = vec![(0, Model::new())];
    let mut in_flight = None;
    let mut durable = 0;
    let len = || {
        fs.contents(&dir().join(DATA_FILE_NAME))
            .map_or(0, |c| c.len() as u64)
    };
    let Ok(db) = Database::open_with(Arc::new(fs.clone()), &dir(), options()) else {
        return Shrink {
            states,
            in_flight,
            durable,
            loaded: 0,
            end: 0,
        };
    };
    let mut model = Model::new();
    let mut commit =
        |db: &Database, f: &dyn Fn(&mut aedb::storage::WriteTransaction, &mut Model)| {
            let mut txn = db.begin_write().ok()?;
            let mut next = model.clone();
            f(&mut txn, &mut next);
            in_flight = Some((txn.seq(), next.clone()));
            let seq = txn.commit(Finality::Durable).ok()?.seq;
            in_flight = None;
            model = next.into_iter().filter(|(_, t)| !t.is_empty()).collect();
            states.push((seq, model.clone()));
            durable = seq;
            Some(())
        };
    let put = |tree: &str, keys: std::ops::Range<u32>, len: usize| {
        let tree = tree.to_string();
        move |txn: &mut aedb::storage::WriteTransaction, m: &mut Model| {
            let mut t = txn.open_tree(&tree).unwrap_or_else(|e| panic!("{e}"));
            for k in keys.clone() {
                let v = vec![k as u8; len];
                t.insert(&k.to_be_bytes(), &v)
                    .unwrap_or_else(|e| panic!("{e}"));
                m.entry(tree.clone())
                    .or_default()
                    .insert(k.to_be_bytes().to_vec(), v);
            }
        }
    };
    let steps = (|| {
        commit(&db, &put("small", 0..20, 30))?;
        db.checkpoint_now().ok()?;
        commit(&db, &put("big", 0..400, 600))?;
        db.checkpoint_now().ok()?;
        let loaded = len();
        commit(&db, &|txn, m| {
            txn.delete_tree("big").unwrap_or_else(|e| panic!("{e}"));
            m.remove("big");
        })?;
        for i in 0..8 {
            db.checkpoint_now().ok()?;
            commit(&db, &put("small", i..i + 1, 31))?;
        }
        Some(loaded)
    })();
    let loaded = steps.unwrap_or(0);
    let end = len();
    Shrink {
        states,
        in_flight,
        durable,
        loaded,
        end,
    }
}

#[test]
fn a_freed_tail_is_truncated_and_every_crash_point_recovers() {
    let seed = test_seed("tail truncation crash matrix", 0x7a11);
    let clean = SimFs::new(seed);
    let Shrink { loaded, end, .. } = shrink_workload(&clean);
    assert!(
        end * 3 < loaded,
        "the page file did not shrink after the drop: {loaded} -> {end} bytes"
    );
    let calls = clean.calls();
    for crash_at in 0..calls {
        let fs = SimFs::new(seed);
        fs.set_plan(aedb::pager::sim::FaultPlan {
            crash_at: Some(crash_at),
            ..Default::default()
        });
        let run = shrink_workload(&fs);
        for (i, mode) in [
            ImageMode::LoseAll,
            ImageMode::KeepAll,
            ImageMode::Random(seed ^ crash_at),
        ]
        .into_iter()
        .enumerate()
        {
            let ctx = format!("seed {seed}, crash at call {crash_at}, image {i}");
            let image = fs.crash_image(mode);
            let db = Database::open_with(Arc::new(image.clone()), &dir(), options())
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got = read_model(&db).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let seq = db.visible_seq();
            assert!(
                common::admits(&run.states, run.in_flight.as_ref(), run.durable, seq, &got),
                "{ctx}: recovered seq {seq} is not a committed state at or after durable {}",
                run.durable
            );
            assert!(
                image.violations().is_empty(),
                "{ctx}: {:?}",
                image.violations()
            );
        }
        assert!(fs.violations().is_empty(), "{:?}", fs.violations());
    }
    println!("tail truncation: {calls} crash points x 3 images, {loaded} -> {end} bytes");
}

/// What the compaction workload got through.
struct Compacted {
    states: Vec<(u64, Model)>,
    in_flight: Option<(u64, Model)>,
    durable: u64,
    /// The logical state compaction started from (it changes nothing).
    before_compaction: Option<Model>,
    report: Option<aedb::storage::CompactReport>,
}

/// Two trees loaded in shuffled order (inline and overflow values), the
/// first dropped and half the second deleted, so free pages sit low and live
/// ones high; then `compact`. Stops at the first error.
fn compact_workload(fs: &SimFs, seed: u64) -> Compacted {
    let mut out = Compacted {
        states: vec![(0, Model::new())],
        in_flight: None,
        durable: 0,
        before_compaction: None,
        report: None,
    };
    let Ok(db) = Database::open_with(Arc::new(fs.clone()), &dir(), options()) else {
        return out;
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut keys: Vec<u32> = (0..300).collect();
    rng.shuffle(&mut keys);
    let mut model = Model::new();
    let value = |k: u32| vec![k as u8; if k % 17 == 0 { 5000 } else { 150 }];
    let mut commit = |edit: &dyn Fn(
        &mut aedb::storage::WriteTransaction,
        &mut Model,
    ) -> Result<(), aedb::storage::StorageError>| {
        let mut txn = db.begin_write().ok()?;
        let mut next = model.clone();
        edit(&mut txn, &mut next).ok()?;
        next.retain(|_, t| !t.is_empty());
        out.in_flight = Some((txn.seq(), next.clone()));
        let seq = txn.commit(Finality::Durable).ok()?.seq;
        out.in_flight = None;
        model = next;
        out.states.push((seq, model.clone()));
        out.durable = seq;
        Some(())
    };
    let done = (|| {
        for tree in ["old", "kept"] {
            for chunk in keys.chunks(60) {
                commit(&|txn, m| {
                    let mut t = txn.open_tree(tree)?;
                    for &k in chunk {
                        t.insert(&k.to_be_bytes(), &value(k))?;
                        let entry = m.entry(tree.to_string()).or_default();
                        entry.insert(k.to_be_bytes().to_vec(), value(k));
                    }
                    Ok(())
                })?;
            }
            db.checkpoint_now().ok()?;
        }
        commit(&|txn, m| {
            txn.delete_tree("old")?;
            m.remove("old");
            let mut t = txn.open_tree("kept")?;
            for k in (0..300u32).step_by(2) {
                t.remove(&k.to_be_bytes())?;
                if let Some(entry) = m.get_mut("kept") {
                    entry.remove(&k.to_be_bytes().to_vec());
                }
            }
            Ok(())
        })?;
        Some(())
    })();
    if done.is_some() {
        out.before_compaction = Some(model);
        out.report = db.compact().ok();
    }
    out
}

#[test]
fn compaction_moves_live_pages_down_and_every_crash_point_recovers() {
    let seed = test_seed("compaction crash matrix", 0xc0de);
    let clean = SimFs::new(seed);
    let run = compact_workload(&clean, seed);
    let report = run
        .report
        .unwrap_or_else(|| panic!("the clean run did not compact"));
    assert!(report.complete, "{report:?}");
    assert!(
        report.bytes_after * 2 < report.bytes_before,
        "compaction did not halve the file: {report:?}"
    );
    let db = Database::open_with(Arc::new(clean.clone()), &dir(), options())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        Some(read_model(&db).unwrap_or_else(|e| panic!("{e}"))),
        run.before_compaction,
        "compaction changed the contents"
    );
    drop(db);
    let calls = clean.calls();
    for crash_at in 0..calls {
        let fs = SimFs::new(seed);
        fs.set_plan(aedb::pager::sim::FaultPlan {
            crash_at: Some(crash_at),
            ..Default::default()
        });
        let run = compact_workload(&fs, seed);
        for (i, mode) in [
            ImageMode::LoseAll,
            ImageMode::KeepAll,
            ImageMode::Random(seed ^ crash_at),
        ]
        .into_iter()
        .enumerate()
        {
            let ctx = format!("seed {seed}, crash at call {crash_at}, image {i}");
            let image = fs.crash_image(mode);
            let db = Database::open_with(Arc::new(image.clone()), &dir(), options())
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got = read_model(&db).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let seq = db.visible_seq();
            // During compaction every state reads as the one it started from.
            let ok = match &run.before_compaction {
                Some(m) => seq >= run.durable && got == *m,
                None => common::admits(&run.states, run.in_flight.as_ref(), run.durable, seq, &got),
            };
            assert!(
                ok,
                "{ctx}: recovered seq {seq} does not match (durable {})",
                run.durable
            );
            assert!(
                image.violations().is_empty(),
                "{ctx}: {:?}",
                image.violations()
            );
        }
        assert!(fs.violations().is_empty(), "{:?}", fs.violations());
    }
    println!(
        "compaction: {} -> {} bytes in {} rounds; {calls} crash points x 3 images",
        report.bytes_before, report.bytes_after, report.rounds
    );
}
