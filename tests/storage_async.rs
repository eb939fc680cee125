//! The async door: concurrent tasks commit durably through tokio's blocking pool,
//! on a multi-threaded and on a current-thread runtime, without blocking workers.

use aedb::storage::{Database, Finality, StorageOptions};

async fn hammer(db: Database) {
    let tasks: Vec<_> = (0..16u32)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..20u32 {
                    let key = [t.to_be_bytes(), i.to_be_bytes()].concat();
                    db.write_async(Finality::Durable, move |txn| {
                        txn.open_tree("async")?.insert(&key, b"v").map(|_| ())
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("{e}"));
    }
    db.sync_async().await.unwrap_or_else(|e| panic!("{e}"));
    let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        read.open_tree("async")
            .unwrap_or_else(|e| panic!("{e}"))
            .len(),
        320
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_commit_on_a_multi_threaded_runtime() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    hammer(Database::open(tmp.path(), StorageOptions::default()).unwrap_or_else(|e| panic!("{e}")))
        .await;
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_tasks_commit_on_a_current_thread_runtime() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    hammer(Database::open(tmp.path(), StorageOptions::default()).unwrap_or_else(|e| panic!("{e}")))
        .await;
}

#[tokio::test]
async fn an_error_inside_the_transaction_aborts_it() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db =
        Database::open(tmp.path(), StorageOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let err = db
        .write_async(Finality::Durable, |txn| {
            txn.open_tree("t")?.insert(b"k", b"v")?;
            txn.open_tree("")?; // invalid name: the whole transaction is abandoned
            Ok(())
        })
        .await;
    assert!(err.is_err());
    assert!(
        db.begin_read()
            .unwrap_or_else(|e| panic!("{e}"))
            .open_tree("t")
            .is_err(),
        "nothing of the failed transaction is visible"
    );
}
