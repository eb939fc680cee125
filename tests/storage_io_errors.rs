//! RELIABILITY G7, the SQLite-style I/O-error loop: for each scenario, fail the k-th
//! I/O call for every k, once and forever. Each case must return an error (never
//! panic), acknowledge nothing it did not make durable, and reopen without faults to
//! a state that passes the recovery check. Scenarios: commits with checkpoints and
//! WAL rotation, group commit from several threads, and recovery itself (from crash
//! images of a workload).

mod common;

use std::sync::Arc;

use aedb::pager::sim::{FaultPlan, ImageMode, SimFs, test_seed};
use aedb::storage::{Database, Finality};
use common::*;

fn plan(k: u64, forever: bool) -> FaultPlan {
    FaultPlan {
        eio_at: Some(k),
        eio_forever: forever,
        ..FaultPlan::default()
    }
}

/// Reopens without faults and checks the state against the run (`out`: its
/// commits, the one in flight, and compaction's commits that change nothing).
fn reopen_and_check(fs: &SimFs, ctx: &str, out: &Outcome) {
    fs.set_plan(FaultPlan::default());
    let db = open(fs, 4096).unwrap_or_else(|e| panic!("{ctx}: reopen without faults failed: {e}"));
    let got = read_model(&db).unwrap_or_else(|e| panic!("{ctx}: recovery check failed: {e}"));
    let seq = db.visible_seq();
    let durable = out.durable;
    assert!(
        out.admits(seq, &got),
        "{ctx}: reopened at seq {seq}, durable was {durable}"
    );
}

#[test]
fn every_failing_call_of_a_workload_is_a_clean_error() {
    let seed = test_seed("I/O error loop", 0x6007);
    let clean = SimFs::new(seed);
    run(&clean, seed, 4096, 14);
    let mut cases = 0;
    for forever in [false, true] {
        for k in 0..clean.calls() {
            let fs = SimFs::new(seed);
            fs.set_plan(plan(k, forever));
            let out = run(&fs, seed, 4096, 14);
            if out.error.is_none() {
                continue;
            }
            cases += 1;
            // The process keeps running (no crash): its page cache still holds what
            // a failed sync dropped, exactly the case a reopen must settle.
            reopen_and_check(&fs, &format!("k {k} forever {forever}"), &out);
        }
    }
    println!("{cases} failing calls, each a clean error and a sound reopen");
}

#[test]
fn group_commit_under_failing_calls() {
    let seed = test_seed("group commit I/O errors", 0x6008);
    let mut cases = 0;
    for forever in [false, true] {
        for k in (0..120).step_by(3) {
            let fs = SimFs::new(seed);
            let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
            fs.set_plan(plan(fs.calls() + k, forever));
            let db = Arc::new(db);
            let threads: Vec<_> = (0..4u8)
                .map(|t| {
                    let db: Arc<Database> = db.clone();
                    std::thread::spawn(move || {
                        let mut acked = Vec::new();
                        for i in 0..10u8 {
                            let Ok(mut txn) = db.begin_write() else { break };
                            let ok = txn
                                .open_tree("g")
                                .and_then(|mut tr| tr.insert(&[t, i], &[i; 50]))
                                .is_ok();
                            if !ok {
                                break;
                            }
                            match txn.commit(Finality::Durable) {
                                Ok(_) => acked.push([t, i]),
                                Err(_) => break,
                            }
                        }
                        acked
                    })
                })
                .collect();
            let acked: Vec<[u8; 2]> = threads
                .into_iter()
                .flat_map(|t| t.join().unwrap_or_else(|_| panic!("committer panicked")))
                .collect();
            drop(db);
            cases += 1;
            let ctx = format!("k {k} forever {forever}");
            for mode in [None, Some(ImageMode::LoseAll)] {
                let image = mode.map_or_else(|| fs.clone(), |m| fs.crash_image(m));
                image.set_plan(FaultPlan::default());
                let db = open(&image, 4096).unwrap_or_else(|e| panic!("{ctx} {mode:?}: {e}"));
                let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
                for key in &acked {
                    let tree = read
                        .open_tree("g")
                        .unwrap_or_else(|e| panic!("{ctx} {mode:?}: acked tree missing: {e}"));
                    assert!(
                        tree.get(key).unwrap_or_else(|e| panic!("{e}")).is_some(),
                        "{ctx} {mode:?}: acknowledged {key:?} lost"
                    );
                }
                drop(read);
                read_model(&db).unwrap_or_else(|e| panic!("{ctx} {mode:?}: {e}"));
            }
        }
    }
    println!("{cases} group-commit cases");
}

#[test]
fn recovery_itself_under_failing_calls() {
    let seed = test_seed("recovery I/O errors", 0x6009);
    let clean = SimFs::new(seed);
    run(&clean, seed, 4096, 10);
    let total = clean.calls();
    let mut cases = 0;
    for crash_at in (0..total).step_by(7) {
        let fs = SimFs::new(seed);
        fs.set_plan(FaultPlan {
            crash_at: Some(crash_at),
            ..FaultPlan::default()
        });
        let out = run(&fs, seed, 4096, 10);
        let image = fs.crash_image(ImageMode::KeepAll);
        // How many calls does a clean recovery of this image make?
        let probe = image.crash_image(ImageMode::KeepAll);
        drop(open(&probe, 4096).unwrap_or_else(|e| panic!("crash {crash_at}: {e}")));
        let calls = probe.calls();
        for forever in [false, true] {
            for k in 0..calls {
                let attempt = image.crash_image(ImageMode::KeepAll);
                attempt.set_plan(plan(k, forever));
                let _ = open(&attempt, 4096).map(drop); // an error, or a sound open
                cases += 1;
                for after in [attempt.crash_image(ImageMode::LoseAll), attempt.clone()] {
                    reopen_and_check(
                        &after,
                        &format!("crash {crash_at}, recovery call {k} forever {forever}"),
                        &out,
                    );
                }
            }
        }
    }
    println!("{cases} failing calls during recovery");
}
