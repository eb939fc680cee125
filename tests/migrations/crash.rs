//! Migrations across crashes: a workload of versioned migrations (with rows
//! written between them) and a declared schema that rebuilds a table, crashed
//! at every persistence call of the simulated file system, three crash images
//! each. Goal: the history and the schema never disagree. Pass criterion:
//! after every crash the recovered history is the prefix 1..=k of the list,
//! the `users` table has exactly the shape version k (or the declared schema)
//! gives it, its rows are rows the workload wrote, and running the workload's
//! migrations and schema again completes (applying exactly the versions after
//! k) with a sound database.

use std::path::Path;
use std::sync::Arc;

use aedb::catalog::schema::IndexType;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::config::AedbConfig;
use aedb::declarative::{
    IndexSpec, MigrationSpec, SchemaMigrationPlan, SchemaSpec, TableMigrationBuilder, TableSpec,
};
use aedb::migration::Migration;
use aedb::pager::sim::SimFs;
use aedb::query::plan::Query;
use aedb::{AedbError, AedbInstance};

use crate::facade_common::{P, S, col, crash_images, insert};

fn migrations() -> Vec<Migration> {
    let users = TableSpec::new("users")
        .column("id", ColumnType::Integer, false)
        .column("name", ColumnType::Text, false)
        .primary_key(&["id"]);
    SchemaMigrationPlan::new(P, S)
        .with_namespace_bootstrap(true)
        .with_spec(
            MigrationSpec::new(1, "users")
                .up_table(P, S, &users)
                .expect("valid")
                .down_drop_table(P, S, &users),
        )
        .with_spec(
            TableMigrationBuilder::new(2, "email", P, S, "users")
                .add_column(col("email", ColumnType::Text, true))
                .add_index(IndexSpec::new("by_email", &["email"], IndexType::BTree))
                .build()
                .expect("valid"),
        )
        .with_spec(
            TableMigrationBuilder::new(3, "rename", P, S, "users")
                .rename_column("name", "full_name")
                .build()
                .expect("valid"),
        )
        .migrations()
        .expect("migrations")
}

/// The declared end state: version 3's table with a `U64` id (a rebuild).
fn declared() -> SchemaSpec {
    SchemaSpec::new(P, S).table(
        TableSpec::new("users")
            .column("id", ColumnType::U64, false)
            .column("full_name", ColumnType::Text, false)
            .column("email", ColumnType::Text, true)
            .primary_key(&["id"])
            .add_index(IndexSpec::new("by_email", &["email"], IndexType::BTree)),
    )
}

/// `users`' columns (name, type) after version `k`, or after the declared schema.
fn shape(k: u64, declared: bool) -> Vec<(&'static str, ColumnType)> {
    use ColumnType::{Integer, Text, U64};
    match (k, declared) {
        (_, true) => vec![("id", U64), ("full_name", Text), ("email", Text)],
        (1, _) => vec![("id", Integer), ("name", Text)],
        (2, _) => vec![("id", Integer), ("name", Text), ("email", Text)],
        _ => vec![("id", Integer), ("full_name", Text), ("email", Text)],
    }
}

fn config() -> AedbConfig {
    AedbConfig {
        max_segment_bytes: 4096,
        ..AedbConfig::default()
    }
}

fn open_sim(fs: &SimFs) -> Result<AedbInstance, AedbError> {
    AedbInstance::open_with_vfs(config(), Arc::new(fs.clone()), Path::new("/db"))
}

async fn workload(db: &AedbInstance) -> Result<(), AedbError> {
    let all = migrations();
    db.run_migrations(all[..1].to_vec()).await?;
    for id in 1..=3 {
        let row = Row::from_values(vec![Value::Integer(id), Value::Text(format!("u{id}"))]);
        db.commit(insert("users", vec![Value::Integer(id)], row))
            .await?;
    }
    db.run_migrations(all).await?;
    declared().apply(db).await?;
    Ok(())
}

/// Checks a recovered database; returns its version.
async fn check(db: &AedbInstance, ctx: &str) -> u64 {
    let history = db
        .applied_migrations(P, S)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: history: {e}"));
    let versions: Vec<u64> = history.iter().map(|r| r.version).collect();
    let k = versions.len() as u64;
    assert_eq!(
        versions,
        (1..=k).collect::<Vec<_>>(),
        "{ctx}: the history is no prefix"
    );
    let table = db.describe_table(P, S, "users").await;
    if k == 0 {
        assert!(table.is_err(), "{ctx}: users exists without its migration");
        return 0;
    }
    let table = table.unwrap_or_else(|e| panic!("{ctx}: v{k} applied but no users: {e}"));
    let got: Vec<(&str, ColumnType)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.col_type))
        .collect();
    let declared = got.first().is_some_and(|(_, t)| *t == ColumnType::U64);
    assert!(
        !declared || k == 3,
        "{ctx}: the declared schema before version 3"
    );
    assert_eq!(got, shape(k, declared), "{ctx}: users after version {k}");
    let rows = db
        .query(P, S, Query::select(&["*"]).from("users"))
        .await
        .unwrap_or_else(|e| panic!("{ctx}: rows: {e}"))
        .rows;
    for r in rows {
        let id = match r.values[0] {
            Value::Integer(i) => i,
            Value::U64(u) => u as i64,
            ref other => panic!("{ctx}: id {other:?}"),
        };
        assert_eq!(
            r.values[1],
            Value::Text(format!("u{id}")),
            "{ctx}: row {id}"
        );
    }
    k
}

#[test]
fn a_crash_anywhere_leaves_history_and_schema_in_agreement() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let seed = aedb::pager::sim::test_seed("migrations_crash", 0x6d69_6772);
    let clean = SimFs::new(seed);
    rt.block_on(async {
        let db = open_sim(&clean).expect("open");
        workload(&db).await.expect("clean run");
    });
    let calls = clean.calls();
    let mut versions = [0u32; 4];
    for crash_at in 0..calls {
        let images = crash_images(seed, crash_at, |fs| {
            rt.block_on(async {
                if let Ok(db) = open_sim(fs) {
                    let _ = workload(&db).await;
                }
            })
        });
        for (ctx, image) in images {
            rt.block_on(async {
                let db = open_sim(&image).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                let k = check(&db, &ctx).await;
                versions[k as usize] += 1;
                let report = db
                    .run_migrations(migrations())
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: migrations again: {e}"));
                let applied: Vec<u64> = report.applied.iter().map(|(v, _, _)| *v).collect();
                assert_eq!(
                    applied,
                    (k + 1..=3).collect::<Vec<_>>(),
                    "{ctx}: applied after recovery"
                );
                declared()
                    .apply(&db)
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: declared again: {e}"));
                assert!(
                    declared().plan(&db).await.expect("plan").is_empty(),
                    "{ctx}"
                );
                let report = db.check_invariants().await.expect("check");
                assert!(report.is_ok(), "{ctx}: {report:?}");
            });
        }
    }
    println!(
        "migrations crash matrix: {calls} crash points x 3 images; recovered at versions 0..=3: {versions:?}"
    );
    assert!(
        versions.iter().all(|&n| n > 0),
        "every version must be recovered at some crash point: {versions:?}"
    );
}
