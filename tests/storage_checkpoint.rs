//! Checkpoints and the file's size (issue #16). Fuzzy checkpoints (engine
//! invariant 6): `checkpoint_now` holds the writer lock only for its cut and
//! trim, so commits and reads go on while its page-file sync is stalled; the
//! checkpoint then publishes the state of its cut, not of the commits made
//! beside it, and all of it survives a reopen (the crash matrix in
//! `crash_matrix.rs` crashes inside such windows). Tail truncation (pager
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

/// Durable commits made against a model: the state after each, the commit in
/// flight when an error stopped the run, the last durable seq.
struct Recorder {
    states: Vec<(u64, Model)>,
    in_flight: Option<(u64, Model)>,
    durable: u64,
    model: Model,
}

type Edit<'a> = &'a dyn Fn(
    &mut aedb::storage::WriteTransaction,
    &mut Model,
) -> Result<(), aedb::storage::StorageError>;

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            states: vec![(0, Model::new())],
            in_flight: None,
            durable: 0,
            model: Model::new(),
        }
    }

    /// `edit` applied to the database and the model in one durable commit;
    /// `None` at the first error.
    fn commit(&mut self, db: &Database, edit: Edit<'_>) -> Option<()> {
        let mut txn = db.begin_write().ok()?;
        let mut next = self.model.clone();
        edit(&mut txn, &mut next).ok()?;
        next.retain(|_, t| !t.is_empty());
        self.in_flight = Some((txn.seq(), next.clone()));
        let seq = txn.commit(Finality::Durable).ok()?.seq;
        self.in_flight = None;
        self.model = next;
        self.states.push((seq, self.model.clone()));
        self.durable = seq;
        Some(())
    }

    /// A recovered `got` at `seq` is a committed state at or after the last
    /// durable one (or the commit in flight).
    fn admits(&self, seq: u64, got: &Model) -> bool {
        common::admits(
            &self.states,
            self.in_flight.as_ref(),
            self.durable,
            seq,
            got,
        )
    }
}

/// Crashes `workload` at each of `calls` persistence calls, three images
/// each: every image reopens, passes the checker and `admits` its state, and
/// the G3 oracle saw nothing.
fn crash_every_call<W>(
    seed: u64,
    calls: u64,
    workload: impl Fn(&SimFs) -> W,
    admits: impl Fn(&W, u64, &Model) -> bool,
) {
    for crash_at in 0..calls {
        let fs = SimFs::new(seed);
        fs.set_plan(aedb::pager::sim::FaultPlan {
            crash_at: Some(crash_at),
            ..Default::default()
        });
        let run = workload(&fs);
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
                admits(&run, seq, &got),
                "{ctx}: recovered seq {seq} is not a state the run admits"
            );
            assert!(
                image.violations().is_empty(),
                "{ctx}: {:?}",
                image.violations()
            );
        }
        assert!(fs.violations().is_empty(), "{:?}", fs.violations());
    }
}

/// Puts keys `keys` of `tree`, each value `len` bytes of the key's low byte.
fn put_range(
    tree: &'static str,
    keys: std::ops::Range<u32>,
    len: usize,
) -> impl Fn(&mut aedb::storage::WriteTransaction, &mut Model) -> Result<(), aedb::storage::StorageError>
{
    move |txn, m| {
        let mut t = txn.open_tree(tree)?;
        for k in keys.clone() {
            let v = vec![k as u8; len];
            t.insert(&k.to_be_bytes(), &v)?;
            m.entry(tree.to_string())
                .or_default()
                .insert(k.to_be_bytes().to_vec(), v);
        }
        Ok(())
    }
}

/// A dropped tree at the end of the file: its pages are given back at the
/// checkpoints that follow and the page file shrinks (pager invariant 9).
/// Returns the commits made and the page file's length after the load and at
/// the end.
struct Shrink {
    commits: Recorder,
    loaded: u64,
    end: u64,
}

fn shrink_workload(fs: &SimFs) -> Shrink {
    let mut commits = Recorder::new();
    let len = || {
        fs.contents(&dir().join(DATA_FILE_NAME))
            .map_or(0, |c| c.len() as u64)
    };
    let Ok(db) = Database::open_with(Arc::new(fs.clone()), &dir(), options()) else {
        return Shrink {
            commits,
            loaded: 0,
            end: 0,
        };
    };
    let loaded = (|| {
        commits.commit(&db, &put_range("small", 0..20, 30))?;
        db.checkpoint_now().ok()?;
        commits.commit(&db, &put_range("big", 0..400, 600))?;
        db.checkpoint_now().ok()?;
        let loaded = len();
        commits.commit(&db, &|txn, m| {
            txn.delete_tree("big")?;
            m.remove("big");
            Ok(())
        })?;
        for i in 0..8 {
            db.checkpoint_now().ok()?;
            commits.commit(&db, &put_range("small", i..i + 1, 31))?;
        }
        Some(loaded)
    })()
    .unwrap_or(0);
    Shrink {
        commits,
        loaded,
        end: len(),
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
    crash_every_call(seed, calls, shrink_workload, |run, seq, got| {
        run.commits.admits(seq, got)
    });
    println!("tail truncation: {calls} crash points x 3 images, {loaded} -> {end} bytes");
}

/// What the compaction workload got through.
struct Compacted {
    commits: Recorder,
    /// The logical state compaction started from (it changes nothing).
    before_compaction: Option<Model>,
    report: Option<aedb::storage::CompactReport>,
}

/// Two trees loaded in shuffled order (inline and overflow values), the
/// first dropped and half the second deleted, so free pages sit low and live
/// ones high; then `compact`. Stops at the first error.
fn compact_workload(fs: &SimFs, seed: u64) -> Compacted {
    let mut out = Compacted {
        commits: Recorder::new(),
        before_compaction: None,
        report: None,
    };
    let Ok(db) = Database::open_with(Arc::new(fs.clone()), &dir(), options()) else {
        return out;
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut keys: Vec<u32> = (0..300).collect();
    rng.shuffle(&mut keys);
    let value = |k: u32| vec![k as u8; if k % 17 == 0 { 5000 } else { 150 }];
    let commits = &mut out.commits;
    let done = (|| {
        for tree in ["old", "kept"] {
            for chunk in keys.chunks(60) {
                commits.commit(&db, &|txn, m| {
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
        commits.commit(&db, &|txn, m| {
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
        out.before_compaction = Some(out.commits.model.clone());
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
    crash_every_call(
        seed,
        calls,
        |fs| compact_workload(fs, seed),
        // During compaction every state reads as the one it started from.
        |run, seq, got| match &run.before_compaction {
            Some(m) => seq >= run.commits.durable && got == m,
            None => run.commits.admits(seq, got),
        },
    );
    println!(
        "compaction: {} -> {} bytes in {} rounds; {calls} crash points x 3 images",
        report.bytes_before, report.bytes_after, report.rounds
    );
}

/// WAL-only commits (pager invariant 10): a commit stages its pages, and the
/// checkpoint writes only the versions its state reaches. 1,000 commits that
/// rewrite one key produce 2,000 page versions (its leaf and the root
/// directory's, each commit); the checkpoint writes the two the state
/// reaches, and a reopen reads the last value.
#[test]
fn a_page_rewritten_by_many_commits_is_written_once() {
    let fs = SimFs::new(test_seed("written once", 0x0ce));
    let db = open(&fs);
    let before = db.stats();
    for i in 0..1_000u32 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        txn.open_tree("hot")
            .and_then(|mut t| t.insert(b"key", &i.to_be_bytes()))
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit(Finality::Visible)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let staged = db.stats();
    db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
    let after = db.stats();
    let produced = staged.pages_written - before.pages_written;
    let flushed = after.pages_flushed - before.pages_flushed;
    println!(
        "1,000 commits produced {produced} page versions; {} were staged at the checkpoint, which wrote {flushed}",
        staged.staged_pages
    );
    assert!(produced >= 2_000, "{produced} page versions");
    assert!(flushed <= 16, "the checkpoint wrote {flushed} pages");
    // What stays staged is only what retained snapshots still read: the two
    // newest before the last commit (`snapshot_retention_count: 2`), two
    // pages each (the hot leaf and the root directory), freed and never
    // written.
    assert_eq!(after.staged_pages, 4, "staged after the checkpoint");
    drop(db);
    let db = open(&fs);
    let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
    let value = read
        .open_tree("hot")
        .and_then(|t| t.get(b"key").map(|v| v.map(|v| v.into_owned())))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value, Some(999u32.to_be_bytes().to_vec()));
}
