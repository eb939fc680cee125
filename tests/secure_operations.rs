//! Operations on a secure instance: `open_secure` (and `open_production`)
//! refuse calls that name no caller, so the operator's calls have `*_as`
//! forms. Backups and the checker are administered by a caller granted
//! `GlobalAdmin`; anyone else, and the plain calls, are refused; the chain
//! such a caller took restores and opens securely with its data.

mod facade_common;

use std::path::PathBuf;

use aedb::AedbInstance;
use aedb::config::AedbConfig;
use aedb::permission::CallerContext;
use aedb::query::plan::ConsistencyMode;
use facade_common::{assert_denied, secure_with_admin};

const KEY: [u8; 32] = [9; 32];

/// A secure instance under a temp dir (`root/db`) with project `acme`, its
/// administrator `ops` and a caller without rights, `alice`.
async fn acme() -> (
    tempfile::TempDir,
    AedbInstance,
    CallerContext,
    CallerContext,
) {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = secure_with_admin(&root.path().join("db"), KEY).await;
    let (ops, alice) = (CallerContext::new("ops"), CallerContext::new("alice"));
    db.create_project_as(ops.clone(), "acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (root, db, ops, alice)
}

#[tokio::test]
async fn backups_and_checks_of_a_secure_instance_are_an_administrators() {
    let (root, db, ops, alice) = acme().await;
    db.kv_set_as(ops.clone(), "acme", "app", b"k".to_vec(), b"one".to_vec())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let full = root.path().join("full");
    assert_denied(db.backup_full(&full).await, "a plain backup");
    assert_denied(
        db.backup_full_as(alice.clone(), &full).await,
        "a backup by a caller without GlobalAdmin",
    );
    db.backup_full_as(ops.clone(), &full)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    db.kv_set_as(ops.clone(), "acme", "app", b"k".to_vec(), b"two".to_vec())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let incremental = root.path().join("incremental");
    assert_denied(
        db.backup_incremental_as(alice.clone(), &incremental, &full)
            .await,
        "an incremental by a caller without GlobalAdmin",
    );
    let head = db
        .backup_incremental_as(ops.clone(), &incremental, &full)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .wal_head_seq;

    assert_denied(db.check_invariants().await, "a plain check");
    assert_denied(
        db.check_invariants_as(alice).await,
        "a check by a caller without GlobalAdmin",
    );
    let report = db
        .check_invariants_as(ops.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_ok(), "{report:?}");

    let restored = root.path().join("restored");
    let chain: Vec<PathBuf> = vec![full, incremental];
    let config = AedbConfig::production(KEY);
    let seq = AedbInstance::restore_from_backup_chain(&chain, &restored, &config, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seq, head);
    let copy = AedbInstance::open_secure(config, &restored).unwrap_or_else(|e| panic!("{e}"));
    let got = copy
        .kv_get("acme", "app", b"k", ConsistencyMode::AtLatest, &ops)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.value);
    assert_eq!(got.as_deref(), Some(&b"two"[..]));
}

#[tokio::test]
async fn archives_and_remote_backups_of_a_secure_instance_are_an_administrators() {
    use std::sync::Arc;

    use aedb::backup::ObjectStoreBackupAdapter;

    let (root, db, ops, alice) = acme().await;

    let file = root.path().join("backup.aedbz");
    assert_denied(db.backup_full_to_file(&file).await, "a plain archive");
    assert_denied(
        db.backup_full_to_file_as(alice.clone(), &file).await,
        "alice's archive",
    );
    db.backup_full_to_file_as(ops.clone(), &file)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(file.exists());

    let store = Arc::new(object_store::memory::InMemory::new());
    let adapter = ObjectStoreBackupAdapter::new(store);
    assert_denied(
        db.backup_full_to_remote(&adapter, "prod/b").await,
        "a plain remote backup",
    );
    assert_denied(
        db.backup_full_to_remote_as(alice.clone(), &adapter, "prod/b")
            .await,
        "alice's remote backup",
    );
    db.backup_full_to_remote_as(ops.clone(), &adapter, "prod/b")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let adapter = Arc::new(adapter);
    assert_denied(
        db.start_continuous_archiving(adapter.clone(), "prod/a", 50)
            .await,
        "plain archiving",
    );
    assert_denied(
        db.start_continuous_archiving_as(alice, adapter.clone(), "prod/a", 50)
            .await,
        "alice's archiving",
    );
    assert!(!db.continuous_archiving_status().running);
    db.start_continuous_archiving_as(ops, adapter, "prod/a", 50)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(db.continuous_archiving_status().running);
    db.stop_continuous_archiving().await;
}

#[tokio::test]
async fn pull_processors_of_a_secure_instance_need_a_caller_with_the_right() {
    let (_root, db, ops, alice) = acme().await;
    let emit = |key: &str| {
        db.emit_event_as(
            ops.clone(),
            "acme",
            "app",
            "deposit",
            key.into(),
            "{}".into(),
        )
    };
    emit("k1").await.unwrap_or_else(|e| panic!("{e}"));

    assert_denied(db.processor_pull("deposit", "totals", 10).await, "plain");
    assert_denied(
        db.processor_pull_as(alice.clone(), "deposit", "totals", 10)
            .await,
        "alice",
    );
    let pull = db
        .processor_pull_as(ops.clone(), "deposit", "totals", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pull.events.len(), 1);
    assert_denied(
        db.processor_commit_as(alice.clone(), "totals", pull.last_commit_seq, vec![])
            .await,
        "alice moves the checkpoint",
    );
    db.processor_commit_as(ops.clone(), "totals", pull.last_commit_seq, vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    emit("k2").await.unwrap_or_else(|e| panic!("{e}"));
    let mut plain = db.processor_context("acme", "app", "derive", "deposit");
    assert_denied(plain.pull(10).await, "a plain context");
    let mut theirs = db.processor_context_as(alice, "acme", "app", "derive", "deposit");
    assert_denied(theirs.pull(10).await, "alice's context");
    let mut ours = db.processor_context_as(ops, "acme", "app", "derive", "deposit");
    let events = ours.pull(10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        events.len(),
        2,
        "both events, from the derive processor's checkpoint 0"
    );
    ours.commit().await.unwrap_or_else(|e| panic!("{e}"));
}
