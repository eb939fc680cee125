//! Operations on a secure instance: `open_secure` (and `open_production`)
//! refuse calls that name no caller, so the operator's calls have `*_as`
//! forms. Backups and the checker are administered by a caller granted
//! `GlobalAdmin`; anyone else, and the plain calls, are refused; the chain
//! such a caller took restores and opens securely with its data.

use std::path::PathBuf;

use aedb::catalog::DdlOperation;
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbErrorCode, AedbInstance};

const KEY: [u8; 32] = [9; 32];

/// A secure instance whose caller `ops` holds `GlobalAdmin` (granted once in
/// open mode: a new database has no grants to make the first with).
async fn secure(dir: &std::path::Path) -> AedbInstance {
    {
        let db =
            AedbInstance::open(AedbConfig::production(KEY), dir).unwrap_or_else(|e| panic!("{e}"));
        db.commit(Mutation::Ddl(DdlOperation::GrantPermission {
            caller_id: "ops".into(),
            permission: Permission::GlobalAdmin,
            actor_id: None,
            delegable: false,
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        db.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    }
    AedbInstance::open_secure(AedbConfig::production(KEY), dir).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn backups_and_checks_of_a_secure_instance_are_an_administrators() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = secure(&root.path().join("db")).await;
    let (ops, alice) = (CallerContext::new("ops"), CallerContext::new("alice"));
    db.create_project_as(ops.clone(), "acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.kv_set_as(ops.clone(), "acme", "app", b"k".to_vec(), b"one".to_vec())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let full = root.path().join("full");
    let refused = db.backup_full(&full).await.expect_err("a plain backup");
    assert_eq!(refused.code(), AedbErrorCode::PermissionDenied, "{refused}");
    let refused = db
        .backup_full_as(alice.clone(), &full)
        .await
        .expect_err("a backup by a caller without GlobalAdmin");
    assert_eq!(refused.code(), AedbErrorCode::PermissionDenied, "{refused}");
    db.backup_full_as(ops.clone(), &full)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    db.kv_set_as(ops.clone(), "acme", "app", b"k".to_vec(), b"two".to_vec())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let incremental = root.path().join("incremental");
    let refused = db
        .backup_incremental_as(alice.clone(), &incremental, &full)
        .await
        .expect_err("an incremental by a caller without GlobalAdmin");
    assert_eq!(refused.code(), AedbErrorCode::PermissionDenied, "{refused}");
    let head = db
        .backup_incremental_as(ops.clone(), &incremental, &full)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .wal_head_seq;

    let refused = db.check_invariants().await.expect_err("a plain check");
    assert_eq!(refused.code(), AedbErrorCode::PermissionDenied, "{refused}");
    let refused = db
        .check_invariants_as(alice)
        .await
        .expect_err("a check by a caller without GlobalAdmin");
    assert_eq!(refused.code(), AedbErrorCode::PermissionDenied, "{refused}");
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

    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = secure(&root.path().join("db")).await;
    let (ops, alice) = (CallerContext::new("ops"), CallerContext::new("alice"));
    db.create_project_as(ops.clone(), "acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let denied = |e: aedb::AedbError| assert_eq!(e.code(), AedbErrorCode::PermissionDenied, "{e}");

    let file = root.path().join("backup.aedbz");
    denied(
        db.backup_full_to_file(&file)
            .await
            .expect_err("a plain archive"),
    );
    denied(
        db.backup_full_to_file_as(alice.clone(), &file)
            .await
            .expect_err("alice's archive"),
    );
    db.backup_full_to_file_as(ops.clone(), &file)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(file.exists());

    let store = Arc::new(object_store::memory::InMemory::new());
    let adapter = ObjectStoreBackupAdapter::new(store);
    denied(
        db.backup_full_to_remote(&adapter, "prod/b")
            .await
            .expect_err("a plain remote backup"),
    );
    denied(
        db.backup_full_to_remote_as(alice.clone(), &adapter, "prod/b")
            .await
            .expect_err("alice's remote backup"),
    );
    db.backup_full_to_remote_as(ops.clone(), &adapter, "prod/b")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let adapter = Arc::new(adapter);
    denied(
        db.start_continuous_archiving(adapter.clone(), "prod/a", 50)
            .await
            .expect_err("plain archiving"),
    );
    denied(
        db.start_continuous_archiving_as(alice, adapter.clone(), "prod/a", 50)
            .await
            .expect_err("alice's archiving"),
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
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = secure(&root.path().join("db")).await;
    let (ops, alice) = (CallerContext::new("ops"), CallerContext::new("alice"));
    let denied = |e: aedb::AedbError| assert_eq!(e.code(), AedbErrorCode::PermissionDenied, "{e}");
    db.create_project_as(ops.clone(), "acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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

    denied(
        db.processor_pull("deposit", "totals", 10)
            .await
            .expect_err("plain"),
    );
    denied(
        db.processor_pull_as(alice.clone(), "deposit", "totals", 10)
            .await
            .expect_err("alice"),
    );
    let pull = db
        .processor_pull_as(ops.clone(), "deposit", "totals", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pull.events.len(), 1);
    denied(
        db.processor_commit_as(alice.clone(), "totals", pull.last_commit_seq, vec![])
            .await
            .expect_err("alice moves the checkpoint"),
    );
    db.processor_commit_as(ops.clone(), "totals", pull.last_commit_seq, vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    emit("k2").await.unwrap_or_else(|e| panic!("{e}"));
    let mut plain = db.processor_context("acme", "app", "derive", "deposit");
    denied(plain.pull(10).await.expect_err("a plain context"));
    let mut theirs = db.processor_context_as(alice, "acme", "app", "derive", "deposit");
    denied(theirs.pull(10).await.expect_err("alice's context"));
    let mut ours = db.processor_context_as(ops, "acme", "app", "derive", "deposit");
    let events = ours.pull(10).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        events.len(),
        2,
        "both events, from the derive processor's checkpoint 0"
    );
    ours.commit().await.unwrap_or_else(|e| panic!("{e}"));
}
