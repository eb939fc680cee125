//! Shared set-up for the facade tests: an instance in a temp dir with a `users`
//! table (id Integer PK, name Text, age Integer nullable, balance U256 nullable),
//! its `by_age` index, a secure instance with an administrator, and the crash
//! images of a workload on the simulated file system.
#![allow(dead_code)]

use aedb::AedbInstance;
use aedb::catalog::DdlOperation;
use aedb::catalog::schema::{ColumnDef, IndexType};
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::pager::sim::{FaultPlan, ImageMode, SimFs};
use aedb::permission::Permission;
use aedb::query::plan::Expr;
use aedb::{AedbError, AedbErrorCode};

pub const P: &str = "demo";
pub const S: &str = "app";

pub fn col(name: &str, col_type: ColumnType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        col_type,
        nullable,
    }
}

pub fn create_table(table: &str, columns: Vec<ColumnDef>, pk: &[&str]) -> Mutation {
    Mutation::Ddl(DdlOperation::CreateTable {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: table.into(),
        owner_id: None,
        columns,
        primary_key: pk.iter().map(|c| c.to_string()).collect(),
    })
}

pub fn create_index(
    table: &str,
    name: &str,
    cols: &[&str],
    index_type: IndexType,
    partial_filter: Option<Expr>,
) -> Mutation {
    Mutation::Ddl(DdlOperation::CreateIndex {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: table.into(),
        index_name: name.into(),
        if_not_exists: false,
        columns: cols.iter().map(|c| c.to_string()).collect(),
        index_type,
        partial_filter,
    })
}

pub fn user(id: i64, name: &str, age: Option<i64>) -> Row {
    Row::from_values(vec![
        Value::Integer(id),
        Value::Text(name.into()),
        age.map_or(Value::Null, Value::Integer),
        Value::Null,
    ])
}

pub fn insert(table: &str, pk: Vec<Value>, row: Row) -> Mutation {
    Mutation::Insert {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: table.into(),
        primary_key: pk,
        row,
    }
}

pub fn insert_user(id: i64, name: &str, age: Option<i64>) -> Mutation {
    insert("users", vec![Value::Integer(id)], user(id, name, age))
}

pub fn users_columns() -> Vec<ColumnDef> {
    vec![
        col("id", ColumnType::Integer, false),
        col("name", ColumnType::Text, false),
        col("age", ColumnType::Integer, true),
        col("balance", ColumnType::U256, true),
    ]
}

/// An instance with project `demo` (scope `app`) and an empty `users` table.
pub async fn with_users() -> (tempfile::TempDir, AedbInstance) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AedbInstance::open(Default::default(), dir.path()).expect("open");
    db.create_project(P).await.expect("project");
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .expect("table");
    (dir, db)
}

pub fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .map(|r| match r.values[0] {
            Value::Integer(i) => i,
            ref other => panic!("id column holds {other:?}"),
        })
        .collect()
}

/// The `by_age` index on `users.age` (a BTree, every row).
pub fn create_by_age() -> Mutation {
    create_index("users", "by_age", &["age"], IndexType::BTree, None)
}

/// A secure instance in `dir` whose caller `ops` holds `GlobalAdmin` (granted
/// once in open mode: a new database has no grants to make the first with).
pub async fn secure_with_admin(dir: &std::path::Path, key: [u8; 32]) -> AedbInstance {
    {
        let db = AedbInstance::open(AedbConfig::production(key), dir)
            .unwrap_or_else(|e| panic!("open: {e}"));
        db.commit(Mutation::Ddl(DdlOperation::GrantPermission {
            caller_id: "ops".into(),
            permission: Permission::GlobalAdmin,
            actor_id: None,
            delegable: false,
        }))
        .await
        .unwrap_or_else(|e| panic!("grant: {e}"));
        db.shutdown()
            .await
            .unwrap_or_else(|e| panic!("shutdown: {e}"));
    }
    AedbInstance::open_secure(AedbConfig::production(key), dir)
        .unwrap_or_else(|e| panic!("open_secure: {e}"))
}

/// Fails unless `r` is a `PermissionDenied` (`what` names the call).
pub fn assert_denied<T>(r: Result<T, AedbError>, what: &str) {
    let e = r.map(|_| ()).expect_err(what);
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied, "{what}: {e}");
}

/// Runs `workload` on a simulated file system seeded `seed` that crashes at
/// persistence call `crash_at`, and returns the three crash images the facade
/// crash matrices check (every unsynced write lost, every one kept, a random
/// mix), each with the context line for assertion messages.
pub fn crash_images(
    seed: u64,
    crash_at: u64,
    workload: impl FnOnce(&SimFs),
) -> Vec<(String, SimFs)> {
    let fs = SimFs::new(seed);
    fs.set_plan(FaultPlan {
        crash_at: Some(crash_at),
        ..FaultPlan::default()
    });
    workload(&fs);
    assert!(fs.crashed(), "no crash at call {crash_at}");
    [
        ImageMode::LoseAll,
        ImageMode::KeepAll,
        ImageMode::Random(seed ^ crash_at),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, mode)| {
        let ctx = format!("seed {seed}, crash at call {crash_at}, image {i}");
        (ctx, fs.crash_image(mode))
    })
    .collect()
}
