//! `check_invariants` (issue #17): a sound database passes; an index entry
//! its rows do not make, a missing one, and a tree the catalog does not name
//! are each reported.

#[path = "facade_common/mod.rs"]
mod facade_common;

use aedb::storage::Finality;
use facade_common::{create_by_age, create_table, insert_user, users_columns};

#[tokio::test]
async fn check_invariants_finds_index_drift_and_orphan_trees() {
    let dir = tempfile::tempdir().unwrap();
    let db = aedb::AedbInstance::open(Default::default(), dir.path()).unwrap();
    db.create_project(facade_common::P).await.unwrap();
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .unwrap();
    db.commit(create_by_age()).await.unwrap();
    for i in 0..50 {
        db.commit(insert_user(i, "u", Some(i % 7))).await.unwrap();
    }
    let r = db.check_invariants().await.unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!((r.rows, r.index_entries), (50, 50), "{r:?}");

    // Behind the facade's back: an index entry no row makes, and a stray tree.
    let index = {
        let read = db.storage().begin_read().unwrap();
        let trees = read.list_trees().unwrap();
        trees
            .into_iter()
            .find(|t| t.starts_with('i') && t[1..].chars().all(|c| c.is_ascii_digit()))
            .expect("the index's tree")
    };
    let mut txn = db.storage().begin_write().unwrap();
    txn.open_tree(&index)
        .unwrap()
        .insert(b"\x01bogus", b"")
        .unwrap();
    txn.open_tree("t999").unwrap().insert(b"k", b"v").unwrap();
    txn.commit(Finality::Durable).unwrap();
    let r = db.check_invariants().await.unwrap();
    println!("{:#?}", r.problems);
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    assert!(
        r.problems[0].contains("index by_age")
            && r.problems[0].contains("51 entries, a rebuild from the rows has 50")
    );
    assert!(r.problems[1].contains("\"t999\" belongs to nothing"));
}
