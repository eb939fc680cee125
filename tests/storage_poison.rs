//! RELIABILITY G8, with writers already queued (review finding F2): when a page
//! write or a WAL sync fails, every writer that was waiting on the writer lock, or
//! held a transaction at that moment, gets `Poisoned`; none of them publishes, and
//! no page a live tree reaches is handed out again.
//!
//! The story: poison used to be checked before waiting on the writer lock and never
//! under it, so a writer queued behind a failing commit went on to write pages,
//! append its frame and publish a `Visible` commit after the failure; after a failed
//! page write the queued writers also committed at the failed commit's seq, with
//! pages retired by it already on their way back to the allocator.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use aedb::pager::sim::{FaultPlan, SimFs, test_seed};
use aedb::storage::{Database, Finality, StorageError};
use common::{open, read_contents, read_model};

const QUEUED: usize = 4;

/// A database with one tree of 200 entries, checkpointed, so a commit rewrites
/// pages the checkpoint reaches.
fn seeded(fs: &SimFs) -> Database {
    let db = open(fs, 4096).unwrap_or_else(|e| panic!("open: {e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    {
        let mut t = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..200u32 {
            t.insert(&i.to_be_bytes(), &[7; 100])
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    txn.commit(Finality::Durable)
        .unwrap_or_else(|e| panic!("{e}"));
    db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
    db
}

/// Starts `QUEUED` writers that each try to commit one Visible insert; returns
/// their results once they finish.
fn queue_writers(db: &Database) -> Vec<thread::JoinHandle<Result<u64, StorageError>>> {
    (0..QUEUED)
        .map(|w| {
            let db = db.clone();
            thread::spawn(move || {
                let mut txn = db.begin_write()?;
                txn.open_tree("t")?
                    .insert(&[0xEE, w as u8], b"after the failure")?;
                Ok(txn.commit(Finality::Visible)?.seq)
            })
        })
        .collect()
}

fn assert_all_poisoned(handles: Vec<thread::JoinHandle<Result<u64, StorageError>>>, ctx: &str) {
    for (w, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Err(StorageError::Poisoned(_))) => {}
            Ok(Err(e)) => panic!("{ctx}: queued writer {w} got {e}, not Poisoned"),
            Ok(Ok(seq)) => {
                panic!("{ctx}: queued writer {w} committed seq {seq} after the engine was poisoned")
            }
            Err(_) => panic!("{ctx}: queued writer {w} panicked"),
        }
    }
}

#[test]
fn f2_writers_queued_behind_a_failed_page_write_are_poisoned() {
    let seed = test_seed("F2 page write", 0xF2_01);
    let fs = SimFs::new(seed);
    let db = seeded(&fs);
    let before = read_model(&db).unwrap_or_else(|e| panic!("{e}"));
    let seq_before = db.visible_seq();

    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    {
        let mut t = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..200u32 {
            t.insert(&i.to_be_bytes(), &[9; 100])
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let queued = queue_writers(&db);
    // Give them time to block on the writer lock this transaction holds.
    thread::sleep(Duration::from_millis(200));
    // The commit's first write fails, once (its WAL append: the commit's
    // pages are staged, pager invariant 10): the writes of the queued writers
    // would succeed, so only the poison check can stop them.
    fs.set_plan(FaultPlan {
        eio_at: Some(fs.calls()),
        ..FaultPlan::default()
    });
    match txn.commit(Finality::Visible) {
        Err(StorageError::Poisoned(_)) => {}
        other => panic!("the failing commit returned {other:?}"),
    }
    assert_all_poisoned(queued, "failed page write");
    assert!(db.is_poisoned());
    assert_eq!(
        db.visible_seq(),
        seq_before,
        "nothing published after the failure"
    );
    // Readers in this process still see the last published state, intact
    // (its contents: the failed commit had already retired the pages its
    // state replaced, and a poisoned engine's allocator is never used again).
    fs.set_plan(FaultPlan::default());
    assert_eq!(read_contents(&db).unwrap_or_else(|e| panic!("{e}")), before);
    println!("F2 page write: {QUEUED} queued writers, each Poisoned; nothing published");
}

#[test]
fn f2_a_transaction_open_during_a_failed_sync_is_poisoned() {
    let seed = test_seed("F2 sync", 0xF2_02);
    let fs = SimFs::new(seed);
    let db = seeded(&fs);
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    txn.open_tree("t")
        .unwrap_or_else(|e| panic!("{e}"))
        .insert(b"v", b"visible")
        .unwrap_or_else(|e| panic!("{e}"));
    txn.commit(Finality::Visible)
        .unwrap_or_else(|e| panic!("{e}"));
    let visible = db.visible_seq();

    // A writer takes the lock and builds its transaction, then waits for the go.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let holding = Arc::new(Barrier::new(2));
    let holder = {
        let db = db.clone();
        let holding = holding.clone();
        thread::spawn(move || -> Result<u64, StorageError> {
            let mut txn = db.begin_write()?;
            txn.open_tree("t")?
                .insert(b"h", b"held across the failure")?;
            holding.wait();
            let _ = go_rx.recv();
            Ok(txn.commit(Finality::Visible)?.seq)
        })
    };
    holding.wait();
    let queued = queue_writers(&db);
    thread::sleep(Duration::from_millis(200));
    // The WAL sync (outside the writer lock) fails.
    fs.set_plan(FaultPlan {
        eio_at: Some(fs.calls()),
        ..FaultPlan::default()
    });
    assert!(db.sync().is_err(), "the sync was planned to fail");
    fs.set_plan(FaultPlan::default());
    let _ = go_tx.send(());
    match holder.join() {
        Ok(Err(StorageError::Poisoned(_))) => {}
        other => panic!("the transaction held across the failed sync returned {other:?}"),
    }
    assert_all_poisoned(queued, "failed sync");
    assert_eq!(
        db.visible_seq(),
        visible,
        "nothing published after the failure"
    );
    println!(
        "F2 sync: 1 open transaction and {QUEUED} queued writers, each Poisoned; nothing published"
    );
}
