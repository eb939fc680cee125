//! Coalesced commits (`Database::submit`, storage `coalesce.rs`): closures
//! from many threads committed by one leader under one hold of the writer
//! lock, each its own transaction and seq, in queue order. Each submitter
//! gets its own value or error; a closure that fails or panics leaves
//! nothing and its batch-mates commit; a `Durable` answer survives a crash
//! and what recovers is a prefix of the answered commits (the crash run
//! below, at many points, with three images of the disk each).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aedb::pager::sim::{FaultPlan, ImageMode, SimFs, test_seed};
use aedb::storage::{Database, Finality, StorageError, StorageOptions};
use common::dir;

fn options() -> StorageOptions {
    StorageOptions {
        checkpoint_interval_ms: None,
        ..common::options(4096)
    }
}

fn open(fs: &SimFs) -> Result<Database, StorageError> {
    Database::open_with(Arc::new(fs.clone()), &dir(), options())
}

/// Waits until `n` closures are queued behind the writer lock the caller holds.
fn wait_queued(db: &Database, n: u64) {
    let until = Instant::now() + Duration::from_secs(60);
    while db.stats().queued_submissions < n {
        assert!(Instant::now() < until, "{n} submissions never queued");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn get(db: &Database, key: &[u8]) -> Option<Vec<u8>> {
    let r = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
    match r.open_tree("t") {
        Ok(t) => t
            .get(key)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|v| v.into_owned()),
        Err(StorageError::TreeNotFound(_)) => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn many_threads_share_commits_and_each_gets_its_own_answer() {
    let fs = SimFs::new(1);
    let db = open(&fs).unwrap_or_else(|e| panic!("{e}"));
    const THREADS: u32 = 16;
    const EACH: u32 = 100;
    let seqs: Vec<Vec<(u32, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let db = db.clone();
                s.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let k = t * EACH + i;
                            let (previous, commit) = db
                                .submit(Finality::Durable, move |txn| {
                                    txn.open_tree("t")?
                                        .insert(&k.to_be_bytes(), &k.to_le_bytes())
                                })
                                .unwrap_or_else(|e: StorageError| panic!("{e}"));
                            assert_eq!(previous, None, "key {k} was new");
                            (k, commit.seq)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stats = db.stats();
    let commits = u64::from(THREADS * EACH);
    println!(
        "{commits} submissions in {} batches ({:.1} per batch), {} WAL syncs",
        stats.coalesced_batches,
        stats.coalesced_commits as f64 / stats.coalesced_batches as f64,
        stats.wal_syncs
    );
    assert_eq!(stats.coalesced_commits, commits);
    assert!(stats.coalesced_batches <= commits);
    // Durable answers: every key is there, at or below the durable head.
    for (k, seq) in seqs.into_iter().flatten() {
        assert!(seq <= db.durable_seq(), "key {k} answered durable at {seq}");
        assert_eq!(get(&db, &k.to_be_bytes()), Some(k.to_le_bytes().to_vec()));
    }
}

#[test]
fn queued_closures_commit_in_queue_order_each_its_own_seq_and_failures_leave_nothing() {
    let fs = SimFs::new(2);
    let db = open(&fs).unwrap_or_else(|e| panic!("{e}"));
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..6).map(|_| AtomicU32::new(0)).collect());
    let held = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    let before = db.visible_seq();
    let answers = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6u8)
            .map(|i| {
                let (db, runs) = (db.clone(), runs.clone());
                s.spawn(move || {
                    db.submit(Finality::Visible, move |txn| {
                        runs[usize::from(i)].fetch_add(1, Ordering::SeqCst);
                        let mut t = txn.open_tree("t")?;
                        if i == 1 {
                            return Err(Refusal(format!("closure {i} refuses")));
                        }
                        t.insert(&[i], &[i])?;
                        if i == 3 {
                            // Edited, then failed: its insert must not commit.
                            return Err(Refusal(format!("closure {i} changed its mind")));
                        }
                        Ok(i)
                    })
                })
            })
            .collect();
        wait_queued(&db, 6);
        drop(held);
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let mut seqs = BTreeSet::new();
    for (i, answer) in answers.into_iter().enumerate() {
        let i = i as u8;
        match answer {
            Ok((value, commit)) => {
                assert!(i != 1 && i != 3, "closure {i} succeeded");
                assert_eq!(value, i);
                seqs.insert(commit.seq);
            }
            Err(e) => {
                let why = if i == 1 {
                    "refuses"
                } else {
                    "changed its mind"
                };
                assert_eq!(e, Refusal(format!("closure {i} {why}")));
            }
        }
        assert_eq!(
            get(&db, &[i]).is_some(),
            i != 1 && i != 3,
            "closure {i}'s key"
        );
    }
    let runs: Vec<u32> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert_eq!(runs, [1; 6], "every closure ran once");
    // Four commits, one seq each, nothing between them: one batch.
    assert_eq!(seqs, (before + 1..=before + 4).collect::<BTreeSet<_>>());
    assert_eq!(db.stats().coalesced_batches, 1);
    assert_eq!(db.stats().coalesced_commits, 4);
}

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        Refusal(e.to_string())
    }
}

#[derive(Debug, PartialEq)]
struct Refusal(String);

#[test]
fn a_panicking_closure_panics_its_own_caller_and_the_others_commit() {
    let fs = SimFs::new(4);
    let db = open(&fs).unwrap_or_else(|e| panic!("{e}"));
    let held = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    let joined = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u8)
            .map(|i| {
                let db = db.clone();
                s.spawn(move || {
                    db.submit(Finality::Durable, move |txn| {
                        txn.open_tree("t")?.insert(&[i], &[i])?;
                        if i == 1 {
                            panic!("closure {i} panics on purpose");
                        }
                        Ok::<_, StorageError>(())
                    })
                })
            })
            .collect();
        wait_queued(&db, 4);
        drop(held);
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    for (i, joined) in joined.into_iter().enumerate() {
        match joined {
            Err(payload) => {
                assert_eq!(i, 1, "closure {i} panicked");
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert_eq!(message, "closure 1 panics on purpose");
                assert_eq!(get(&db, &[1]), None);
            }
            Ok(answer) => {
                assert_ne!(i, 1, "closure 1 returned");
                answer.unwrap_or_else(|e| panic!("closure {i}: {e}"));
                assert_eq!(get(&db, &[i as u8]), Some(vec![i as u8]));
            }
        }
    }
    assert!(!db.is_poisoned(), "a closure's panic poisoned the engine");
}

/// Eight threads submit closures that each write two keys naming their
/// commit's seq, until a crash at call `crash_at` stops the disk. After
/// each image of it: every `Durable` answer is there, both keys of every
/// closure or neither, and the recovered commits are a prefix of the
/// answered ones (every answered seq at or below the recovered head).
fn crash_run(seed: u64, crash_at: u64) -> (usize, usize) {
    let fs = SimFs::new(seed);
    let db = open(&fs).unwrap_or_else(|e| panic!("{e}"));
    fs.set_plan(FaultPlan {
        crash_at: Some(fs.calls() + crash_at),
        ..FaultPlan::default()
    });
    // Key -> (seq, answered durable).
    let answered: Mutex<BTreeMap<u32, (u64, bool)>> = Mutex::default();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let (db, answered) = (db.clone(), &answered);
            s.spawn(move || {
                for i in 0..1000u32 {
                    let k = t * 1000 + i;
                    let durable = i % 3 != 0;
                    let finality = if durable {
                        Finality::Durable
                    } else {
                        Finality::Visible
                    };
                    let result = db.submit(finality, move |txn| {
                        let seq = txn.seq().to_le_bytes();
                        let mut tree = txn.open_tree("t")?;
                        tree.insert(&k.to_be_bytes(), &seq)?;
                        tree.insert(&(k | 1 << 31).to_be_bytes(), &seq)?;
                        Ok::<_, StorageError>(())
                    });
                    match result {
                        Ok(((), commit)) => {
                            answered.lock().unwrap().insert(k, (commit.seq, durable));
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    drop(db);
    let answered = answered.into_inner().unwrap();
    let durable = answered.values().filter(|(_, d)| *d).count();
    let mut recovered = 0;
    for mode in [
        ImageMode::LoseAll,
        ImageMode::KeepAll,
        ImageMode::Random(seed),
    ] {
        let at = format!("seed {seed}, crash at {crash_at}, {mode:?}");
        let image = fs.crash_image(mode);
        let db = open(&image).unwrap_or_else(|e| panic!("{at}: {e}"));
        let r = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
        let mut keys: BTreeMap<u32, u64> = BTreeMap::new();
        if let Ok(t) = r.open_tree("t") {
            for e in t.iter().unwrap_or_else(|e| panic!("{e}")) {
                let (k, v) = e.unwrap_or_else(|e| panic!("{e}"));
                let k = u32::from_be_bytes(k[..4].try_into().unwrap());
                keys.insert(k, u64::from_le_bytes(v[..8].try_into().unwrap()));
            }
        }
        let head = r.seq();
        for (k, seq) in keys.iter().filter(|(k, _)| *k & 1 << 31 == 0) {
            assert_eq!(
                keys.get(&(k | 1 << 31)),
                Some(seq),
                "{at}: key {k} without its pair"
            );
            assert!(
                *seq <= head,
                "{at}: seq {seq} above the recovered head {head}"
            );
        }
        for (k, (seq, durable)) in &answered {
            let found = keys.get(k) == Some(seq);
            assert!(
                !durable || found,
                "{at}: durable key {k} of seq {seq} lost (head {head})"
            );
            assert_eq!(
                found,
                *seq <= head,
                "{at}: key {k} of seq {seq}, head {head}"
            );
        }
        recovered += keys.len() / 2;
    }
    (durable, recovered)
}

#[test]
fn durable_submissions_survive_a_crash_and_recover_as_a_prefix() {
    let seed = test_seed(
        "durable_submissions_survive_a_crash_and_recover_as_a_prefix",
        7,
    );
    let points = 40;
    let mut answered = 0;
    let mut recovered = 0;
    for p in 0..points {
        let (a, r) = crash_run(seed.wrapping_add(p), 20 + p * 37);
        answered += a;
        recovered += r;
    }
    println!(
        "{points} crash points x 3 images: {answered} durable answers checked, {recovered} recovered commits"
    );
    assert!(answered > 0, "no submission was ever answered durable");
}
