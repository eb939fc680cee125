//! Findings of the 2026-11-29 reliability review on the facade, one test each,
//! named after the finding:
//! - F9: a key too large for the tree is a validation error naming the index, not
//!   an I/O error;
//! - F17: predicated mutations without a limit, join output and KV scans are
//!   bounded by `max_scan_rows`;
//! - F18: commits beyond `max_inflight_commits` wait for a slot, and all finish;
//! - F21: a poisoned instance says so (`is_poisoned`, code `poisoned`, "reopen"),
//!   and a reopen recovers.
//! - F23: the HMAC key never shows in `Debug` output, and a short key is refused.

mod facade_common;

use std::path::Path;
use std::sync::Arc;

use aedb::AedbInstance;
use aedb::catalog::schema::IndexType;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::error::AedbErrorCode;
use aedb::pager::sim::{FaultPlan, SimFs, test_seed};
use aedb::query::plan::{ConsistencyMode, Expr, Query, QueryOptions};
use facade_common::*;

async fn with_config(config: AedbConfig) -> (tempfile::TempDir, AedbInstance) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AedbInstance::open(config, dir.path()).expect("open");
    db.create_project(P).await.expect("project");
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .expect("table");
    (dir, db)
}

#[tokio::test]
async fn f9_an_index_key_too_large_is_a_validation_error() {
    let (_d, db) = with_users().await;
    db.commit(create_index(
        "users",
        "by_name",
        &["name"],
        IndexType::BTree,
        None,
    ))
    .await
    .unwrap();
    let long = "x".repeat(2000);
    let err = db.commit(insert_user(1, &long, None)).await.unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::Validation, "{err}");
    assert!(
        err.to_string().contains("by_name"),
        "the error names the index: {err}"
    );
    // A primary key too large is refused the same way.
    db.commit(create_table(
        "tags",
        vec![col("tag", ColumnType::Text, false)],
        &["tag"],
    ))
    .await
    .unwrap();
    let err = db
        .commit(insert(
            "tags",
            vec![Value::Text(long.clone())],
            Row::from_values(vec![Value::Text(long)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::Validation, "{err}");
    // Nothing of either reached the table.
    assert!(
        db.query(P, S, Query::select(&["*"]).from("users"))
            .await
            .unwrap()
            .rows
            .is_empty()
    );
}

#[tokio::test]
async fn f17_predicated_mutations_without_a_limit_are_bounded() {
    let (_d, db) = with_config(AedbConfig {
        max_scan_rows: 50,
        ..AedbConfig::default()
    })
    .await;
    let rows: Vec<Row> = (0..120).map(|i| user(i, "n", Some(i % 2))).collect();
    db.commit(Mutation::InsertBatch {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        rows,
    })
    .await
    .unwrap();
    let all = |limit| Mutation::DeleteWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Gte("id".into(), Value::Integer(0)),
        limit,
    };
    let err = db.commit(all(None)).await.unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::Validation, "{err}");
    assert!(err.to_string().contains("max_scan_rows"), "{err}");
    // Fewer matches than the bound, or an explicit limit, go through.
    let odd = Mutation::DeleteWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Eq("age".into(), Value::Integer(1)),
        limit: None,
    };
    assert!(
        db.commit(odd).await.is_err(),
        "60 odd rows are still more than 50"
    );
    assert_eq!(db.commit(all(Some(40))).await.unwrap().affected_rows, 40);
    assert_eq!(
        db.commit(all(None)).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    assert_eq!(db.commit(all(Some(100))).await.unwrap().affected_rows, 80);
}

#[tokio::test]
async fn f17_join_output_counts_against_the_bound() {
    let (_d, db) = with_config(AedbConfig {
        max_scan_rows: 1000,
        ..AedbConfig::default()
    })
    .await;
    db.commit(create_table(
        "orders",
        vec![
            col("oid", ColumnType::Integer, false),
            col("age", ColumnType::Integer, false),
        ],
        &["oid"],
    ))
    .await
    .unwrap();
    // 60 users and 60 orders on one key: 120 rows read, 3,600 produced.
    let users: Vec<Row> = (0..60).map(|i| user(i, "n", Some(7))).collect();
    db.commit(Mutation::InsertBatch {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        rows: users,
    })
    .await
    .unwrap();
    let orders: Vec<Row> = (0..60)
        .map(|i| Row::from_values(vec![Value::Integer(i), Value::Integer(7)]))
        .collect();
    db.commit(Mutation::InsertBatch {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "orders".into(),
        rows: orders,
    })
    .await
    .unwrap();
    let q = || {
        Query::select(&["*"])
            .from("users")
            .inner_join("orders", "age", "age")
    };
    let err = db.query(P, S, q()).await.unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::ScanBoundExceeded, "{err}");
    let opts = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    let count = q().aggregate(aedb::query::plan::Aggregate::Count);
    let r = db.query_with_options(P, S, count, opts).await.unwrap();
    assert_eq!(
        r.rows[0].values,
        vec![Value::Integer(3600)],
        "allow_full_scan lifts the bound"
    );
}

#[tokio::test]
async fn f17_kv_scans_are_bounded() {
    let (_d, db) = with_config(AedbConfig {
        max_scan_rows: 10,
        ..AedbConfig::default()
    })
    .await;
    for i in 0..25u8 {
        db.kv_set(P, S, vec![b'k', i], vec![i]).await.unwrap();
    }
    let page = db
        .kv_scan_prefix_no_auth(P, S, b"k", u64::MAX, ConsistencyMode::AtLatest)
        .await
        .unwrap();
    assert_eq!(
        page.len(),
        10,
        "an unlimited scan returns at most max_scan_rows entries"
    );
    // Pages continue from the cursor, on the first page's snapshot.
    let admin = aedb::permission::CallerContext::new("admin");
    db.commit(aedb::commit::validation::Mutation::Ddl(
        aedb::catalog::DdlOperation::GrantPermission {
            caller_id: "admin".into(),
            permission: aedb::permission::Permission::GlobalAdmin,
            actor_id: None,
            delegable: false,
        },
    ))
    .await
    .unwrap();
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = db
            .kv_scan_prefix(
                P,
                S,
                b"k",
                u64::MAX,
                cursor,
                ConsistencyMode::AtLatest,
                &admin,
            )
            .await
            .unwrap();
        assert!(page.entries.len() <= 10);
        seen += page.entries.len();
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f18_commits_beyond_the_inflight_bound_wait_and_succeed() {
    assert_eq!(
        AedbInstance::open(
            AedbConfig {
                max_inflight_commits: 0,
                ..AedbConfig::default()
            },
            tempfile::tempdir().unwrap().path()
        )
        .err()
        .map(|e| e.code()),
        Some(AedbErrorCode::InvalidConfig)
    );
    let (_d, db) = with_config(AedbConfig {
        max_inflight_commits: 2,
        ..AedbConfig::default()
    })
    .await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { db.commit(insert_user(i, "w", None)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let n = db
        .query(P, S, Query::select(&["*"]).from("users"))
        .await
        .unwrap()
        .rows
        .len();
    assert_eq!(n, 40);
}

fn open_sim(fs: &SimFs) -> Result<AedbInstance, aedb::error::AedbError> {
    AedbInstance::open_with_vfs(
        AedbConfig::default(),
        Arc::new(fs.clone()),
        Path::new("/db"),
    )
}

#[tokio::test]
async fn f21_a_poisoned_instance_says_so_and_a_reopen_recovers() {
    let fs = SimFs::new(test_seed("F21", 0xF21));
    let db = open_sim(&fs).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .unwrap();
    db.commit(insert_user(1, "kept", None)).await.unwrap();
    assert!(!db.is_poisoned());
    // The next commit's WAL sync fails.
    fs.set_plan(FaultPlan {
        eio_at: Some(fs.calls()),
        eio_forever: true,
        ..FaultPlan::default()
    });
    let err = db.commit(insert_user(2, "lost", None)).await.unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::Poisoned, "{err}");
    assert!(err.is_poisoned());
    assert!(
        err.to_string().contains("reopen"),
        "the message says what to do: {err}"
    );
    assert!(db.is_poisoned());
    let again = db.commit(insert_user(3, "later", None)).await.unwrap_err();
    assert_eq!(
        again.code(),
        AedbErrorCode::Poisoned,
        "every later commit is refused: {again}"
    );
    assert_eq!(again.code().as_str(), "poisoned");
    drop(db);
    fs.set_plan(FaultPlan::default());
    let db = open_sim(&fs).unwrap();
    assert!(!db.is_poisoned());
    db.commit(insert_user(4, "after reopen", None))
        .await
        .unwrap();
    let ids = ids(&db
        .query(P, S, Query::select(&["*"]).from("users"))
        .await
        .unwrap()
        .rows);
    assert!(
        ids.starts_with(&[1]) && ids.ends_with(&[4]) && !ids.contains(&3),
        "{ids:?}"
    );
}

#[tokio::test]
async fn f21_a_full_disk_has_its_own_code() {
    let fs = SimFs::new(test_seed("F21 disk full", 0xF22));
    let db = open_sim(&fs).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .unwrap();
    fs.set_plan(FaultPlan {
        enospc_at: Some(fs.calls()),
        enospc_forever: true,
        ..FaultPlan::default()
    });
    let mut first = None;
    for i in 0..50 {
        if let Err(e) = db.commit(insert_user(i, "fill", None)).await {
            first = Some(e);
            break;
        }
    }
    let err = first.unwrap_or_else(|| panic!("50 commits on a full disk all succeeded"));
    assert_eq!(err.code(), AedbErrorCode::OutOfSpace, "{err}");
    assert!(db.is_poisoned());
    assert_eq!(
        db.commit(insert_user(99, "x", None))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::OutOfSpace
    );
}

#[test]
fn f23_configs_never_print_the_key_and_short_keys_are_refused() {
    let key = *b"0123456789abcdef0123456789abcdef";
    let config = AedbConfig::production(key);
    assert_eq!(config.hmac_key(), Some(&key[..]));
    let ascii = String::from_utf8_lossy(&key).into_owned();
    let decimal = format!("{:?}", key.to_vec());
    for text in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(
            !text.contains(&ascii[..8]) && !text.contains(&decimal[1..20]),
            "the key leaks: {text}"
        );
        assert!(text.contains("redacted"), "{text}");
    }
    let storage = aedb::storage::StorageOptions {
        key: Some(aedb::pager::Key::new(key.to_vec()).unwrap()),
        ..Default::default()
    };
    let text = format!("{storage:?}");
    assert!(
        !text.contains(&ascii[..8]) && !text.contains(&decimal[1..20]) && text.contains("redacted"),
        "the key leaks: {text}"
    );
    // A key shorter than 16 bytes is a configuration error, not a weak database.
    let short = AedbConfig::default().with_hmac_key(b"short".to_vec());
    let err = AedbInstance::open(short, tempfile::tempdir().unwrap().path())
        .err()
        .map(|e| e.code());
    assert_eq!(err, Some(AedbErrorCode::InvalidConfig));
}
