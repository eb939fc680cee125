//! Fuzzy checkpoints (engine invariant 3, issue #16): `checkpoint_now` holds
//! the writer lock only for its cut, so commits and reads go on while its
//! page-file sync is stalled; the checkpoint then publishes the state of its
//! cut, not of the commits made beside it, and all of it survives a reopen.
//! (The crash matrix in `storage_crash.rs` crashes inside such windows.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use aedb::pager::DATA_FILE_NAME;
use aedb::pager::sim::{ImageMode, SimFs, test_seed};
use aedb::storage::{Consistency, Database, Finality, StorageOptions};
use common::{Model, dir, read_model};

fn options() -> StorageOptions {
    StorageOptions {
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
