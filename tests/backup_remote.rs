//! Remote backups (issue #17): `backup_full_to_remote` / `restore_from_remote`
//! through the `object_store` adapter, on its in-memory and local-directory
//! backends: the latest backup restores to its head's state, an upload cut
//! short before its manifest is ignored, and an empty URI is a clear error.

use std::sync::Arc;

use aedb::AedbInstance;
use aedb::backup::{ObjectStoreBackupAdapter, RemoteBackupAdapter};
use aedb::commit::validation::Mutation;
use aedb::error::AedbErrorCode;
use aedb::query::plan::ConsistencyMode;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

const P: &str = "p";
const S: &str = "app";

async fn put(db: &AedbInstance, key: &str, value: &str) -> u64 {
    db.commit(Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    })
    .await
    .unwrap()
    .commit_seq
}

async fn get(db: &AedbInstance, key: &str) -> Option<Vec<u8>> {
    db.kv_get_no_auth(P, S, key.as_bytes(), ConsistencyMode::AtLatest)
        .await
        .unwrap()
        .map(|e| e.value)
}

async fn round_trip(store: Arc<dyn ObjectStore>) {
    let tmp = tempfile::tempdir().unwrap();
    let adapter = ObjectStoreBackupAdapter::new(store.clone());
    let db = AedbInstance::open(Default::default(), tmp.path().join("db")).unwrap();
    db.create_project(P).await.unwrap();
    put(&db, "a", "1").await;
    let first = db
        .backup_full_to_remote(&adapter, "prod/db1")
        .await
        .unwrap();
    put(&db, "a", "2").await;
    put(&db, "b", "3").await;
    let second = db
        .backup_full_to_remote(&adapter, "prod/db1")
        .await
        .unwrap();
    assert!(second.wal_head_seq > first.wal_head_seq);
    put(&db, "c", "after the backup").await;
    // An upload cut short: files of a third backup, no manifest.
    store
        .put(
            &ObjectPath::from("prod/db1/0000000002-cut/data.aedb"),
            b"half".to_vec().into(),
        )
        .await
        .unwrap();
    let to = tmp.path().join("restored");
    let seq =
        AedbInstance::restore_from_remote(&adapter, "prod/db1", &to, &Default::default()).unwrap();
    assert_eq!(seq, second.wal_head_seq);
    let r = AedbInstance::open(Default::default(), &to).unwrap();
    assert_eq!(get(&r, "a").await.as_deref(), Some(&b"2"[..]));
    assert_eq!(get(&r, "b").await.as_deref(), Some(&b"3"[..]));
    assert_eq!(get(&r, "c").await, None, "written after the backup");
    assert!(!tmp.path().join("restored.remote-scratch").exists());
    // Nothing stored under a URI: a clear error.
    let e = AedbInstance::restore_from_remote(
        &adapter,
        "prod/none",
        &tmp.path().join("x"),
        &Default::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Backup, "{e}");
    assert!(e.to_string().contains("no complete backup"), "{e}");
    // The adapter is usable directly, outside any runtime too.
    let scratch = tmp.path().join("scratch");
    let dirs = adapter
        .materialize_backup_chain("prod/db1", &scratch)
        .unwrap();
    assert_eq!(dirs.len(), 1, "the latest chain: its last full backup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_backups_in_memory() {
    round_trip(Arc::new(object_store::memory::InMemory::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_backups_in_a_local_directory() {
    let root = tempfile::tempdir().unwrap();
    let store = object_store::local::LocalFileSystem::new_with_prefix(root.path()).unwrap();
    round_trip(Arc::new(store)).await;
}
