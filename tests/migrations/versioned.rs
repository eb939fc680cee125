//! Versioned migrations: each applied once, in order, in one commit with its
//! history row; refused before anything commits when an applied migration was
//! edited, the history is ahead of the code, or a version is applied out of
//! order; rolled back newest first; the history survives a reopen.

use aedb::catalog::DdlOperation;
use aedb::catalog::schema::{IndexType, TableAlteration};
use aedb::catalog::types::{ColumnType, Value};
use aedb::declarative::{
    IndexSpec, MigrationSpec, SchemaMigrationPlan, TableMigrationBuilder, TableSpec,
};
use aedb::error::MigrationProblem;
use aedb::migration::Migration;
use aedb::{AedbError, AedbErrorCode, AedbInstance};

use crate::facade_common::{P, S, assert_denied, col, insert, secure_with_admin};

fn users() -> TableSpec {
    TableSpec::new("users")
        .column("id", ColumnType::Integer, false)
        .column("name", ColumnType::Text, false)
        .primary_key(&["id"])
}

fn v1() -> MigrationSpec {
    MigrationSpec::new(1, "create users")
        .up_table(P, S, &users())
        .expect("valid table")
        .down_drop_table(P, S, &users())
}

fn v2() -> MigrationSpec {
    TableMigrationBuilder::new(2, "users email", P, S, "users")
        .add_column(col("email", ColumnType::Text, true))
        .add_index(IndexSpec::new("by_email", &["email"], IndexType::BTree))
        .build()
        .expect("valid migration")
}

fn v3() -> MigrationSpec {
    TableMigrationBuilder::new(3, "rename name", P, S, "users")
        .rename_column("name", "full_name")
        .build()
        .expect("valid migration")
}

fn plan(specs: Vec<MigrationSpec>) -> Vec<Migration> {
    specs
        .into_iter()
        .fold(
            SchemaMigrationPlan::new(P, S).with_namespace_bootstrap(true),
            SchemaMigrationPlan::with_spec,
        )
        .migrations()
        .expect("migrations")
}

fn open(dir: &std::path::Path) -> AedbInstance {
    AedbInstance::open(Default::default(), dir).expect("open")
}

fn problem(e: AedbError) -> (u64, MigrationProblem) {
    assert_eq!(e.code(), AedbErrorCode::Migration, "{e}");
    match e {
        AedbError::Migration {
            version, problem, ..
        } => (version, problem),
        other => panic!("not a migration refusal: {other}"),
    }
}

async fn columns(db: &AedbInstance) -> Vec<String> {
    let t = db.describe_table(P, S, "users").await.expect("users");
    t.columns.into_iter().map(|c| c.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_migration_runs_once_in_order_and_its_history_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrations = plan(vec![v1(), v2()]);
    let records = {
        let db = open(dir.path());
        let report = db.run_migrations(migrations.clone()).await.expect("run");
        let applied: Vec<u64> = report.applied.iter().map(|(v, _, _)| *v).collect();
        assert_eq!(applied, [1, 2]);
        assert!(report.skipped.is_empty());
        assert_eq!(report.current_version, 2);
        assert_eq!(columns(&db).await, ["id", "name", "email"]);
        let indexes = db.list_indexes(P, S, "users").await.expect("indexes");
        assert_eq!(indexes.len(), 1);
        assert_eq!(indexes[0].index_name, "by_email");

        let records = db.applied_migrations(P, S).await.expect("history");
        assert_eq!(records.len(), 2);
        for (r, m) in records.iter().zip(&migrations) {
            assert_eq!((r.version, &r.name), (m.version, &m.name));
            assert_eq!(r.checksum_hex, m.checksum_hex().expect("checksum"));
            assert!(r.applied_seq > 0 && r.applied_seq <= db.storage().visible_seq());
        }
        assert!(
            records[0].applied_seq < records[1].applied_seq,
            "{records:?}"
        );

        let again = db.run_migrations(migrations.clone()).await.expect("rerun");
        assert!(again.applied.is_empty(), "{again:?}");
        assert_eq!(again.skipped, [1, 2]);
        assert_eq!(again.current_version, 2);
        records
    };
    let db = open(dir.path());
    assert_eq!(
        db.list_applied_migrations(P, S).await.expect("history"),
        records
    );
    assert_eq!(db.current_version(P, S).await.expect("version"), 2);
    assert_eq!(db.current_version(P, "other").await.expect("version"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_applied_migration_refuses_the_run_before_anything_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    db.apply_migrations(plan(vec![v1()])).await.expect("v1");
    let seq = db.storage().visible_seq();
    let edited_users = users().column("age", ColumnType::Integer, true);
    let edited = MigrationSpec::new(1, "create users")
        .up_table(P, S, &edited_users)
        .expect("valid")
        .down_drop_table(P, S, &edited_users);
    let e = db
        .run_migrations(plan(vec![edited, v2()]))
        .await
        .expect_err("edited v1 must be refused");
    let (version, problem) = problem(e);
    assert_eq!(version, 1);
    assert!(
        matches!(problem, MigrationProblem::ChecksumChanged { .. }),
        "{problem}"
    );
    assert_eq!(
        db.storage().visible_seq(),
        seq,
        "v2 must not have committed"
    );
    assert_eq!(columns(&db).await, ["id", "name"]);
    assert_eq!(db.current_version(P, S).await.expect("version"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_ahead_of_the_code_and_an_out_of_order_version_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    db.apply_migrations(plan(vec![v1(), v3()]))
        .await
        .expect("v1, v3");
    let e = db
        .run_migrations(plan(vec![v1()]))
        .await
        .expect_err("an older build's list must be refused");
    assert_eq!(
        problem(e).1,
        MigrationProblem::StoredVersionAhead {
            stored: 3,
            newest_given: 1
        }
    );
    // One migration applied before is no refusal for `apply_migration`.
    let first = plan(vec![v1()]).remove(0);
    db.apply_migration(first)
        .await
        .expect("v1 again is a no-op");

    let e = db
        .run_migrations(plan(vec![v1(), v2(), v3()]))
        .await
        .expect_err("v2 after v3 must be refused");
    assert_eq!(problem(e), (2, MigrationProblem::OutOfOrder { applied: 3 }));
    assert_eq!(columns(&db).await, ["id", "full_name"]);

    // Version 0 is refused by the builder and by a run.
    let zero = SchemaMigrationPlan::new(P, S)
        .with_spec(
            MigrationSpec::new(0, "zero").up_ddl(DdlOperation::CreateProject {
                project_id: P.into(),
                owner_id: None,
                if_not_exists: true,
            }),
        )
        .migrations();
    assert!(zero.is_err(), "{zero:?}");
    let mut raw = plan(vec![v1()]).remove(0);
    raw.version = 0;
    let e = db.run_migrations(vec![raw]).await.expect_err("version 0");
    assert_eq!(problem(e), (0, MigrationProblem::VersionZero));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_leaves_neither_its_changes_nor_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let mut migrations = plan(vec![v1(), v2()]);
    // v2 adds its column, then writes to a table that does not exist.
    migrations[1].mutations.push(insert(
        "missing",
        vec![Value::Integer(1)],
        aedb::catalog::types::Row::from_values(vec![Value::Integer(1)]),
    ));
    let e = db
        .run_migrations(migrations)
        .await
        .expect_err("v2 must fail");
    assert_eq!(e.code(), AedbErrorCode::TableNotFound, "{e}");
    assert_eq!(db.current_version(P, S).await.expect("version"), 1);
    assert_eq!(
        columns(&db).await,
        ["id", "name"],
        "v2's column rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_runs_down_mutations_newest_first_after_checking_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let migrations = plan(vec![v1(), v2(), v3()]);
    db.apply_migrations(migrations.clone()).await.expect("all");
    assert_eq!(columns(&db).await, ["id", "full_name", "email"]);

    // v2 is missing from the definitions: refused before v3 is rolled back.
    let without_v2 = vec![migrations[0].clone(), migrations[2].clone()];
    let e = db
        .rollback_to_migration(P, S, 1, without_v2)
        .await
        .expect_err("v2 not given");
    assert_eq!(problem(e), (2, MigrationProblem::NotGiven));
    assert_eq!(db.current_version(P, S).await.expect("version"), 3);

    db.rollback_to_migration(P, S, 1, migrations.clone())
        .await
        .expect("back to 1");
    assert_eq!(db.current_version(P, S).await.expect("version"), 1);
    assert_eq!(columns(&db).await, ["id", "name"]);
    assert!(
        db.list_indexes(P, S, "users")
            .await
            .expect("idx")
            .is_empty()
    );

    db.rollback_to_migration(P, S, 0, migrations.clone())
        .await
        .expect("back to 0");
    assert!(db.describe_table(P, S, "users").await.is_err());
    assert!(db.applied_migrations(P, S).await.expect("h").is_empty());

    let report = db.run_migrations(migrations).await.expect("again");
    assert_eq!(report.applied.len(), 3);
    assert_eq!(columns(&db).await, ["id", "full_name", "email"]);

    // A migration with no down mutations cannot be rolled back.
    let one_way = plan(vec![
        v1(),
        v2(),
        v3(),
        MigrationSpec::new(4, "no way back").up_ddl(DdlOperation::AlterTable {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "users".into(),
            alteration: TableAlteration::AddColumn(col("note", ColumnType::Text, true)),
        }),
    ]);
    db.apply_migrations(one_way.clone()).await.expect("v4");
    let e = db
        .rollback_to_migration(P, S, 3, one_way)
        .await
        .expect_err("v4 has no down");
    assert_eq!(problem(e), (4, MigrationProblem::NoDownMutations));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_apply_each_version_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let migrations = plan(vec![v1(), v2(), v3()]);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (db, m) = (db.clone(), migrations.clone());
            tokio::spawn(async move { db.run_migrations(m).await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        let report = run.await.expect("task").expect("run");
        applied.extend(report.applied.iter().map(|(v, _, _)| *v));
        assert_eq!(report.applied.len() + report.skipped.len(), 3, "{report:?}");
    }
    applied.sort_unstable();
    assert_eq!(
        applied,
        [1, 2, 3],
        "each version applied by exactly one run"
    );
    assert_eq!(db.applied_migrations(P, S).await.expect("h").len(), 3);
}

#[test]
fn a_table_migration_derives_its_down_steps_in_reverse() {
    let spec = TableMigrationBuilder::new(7, "reshape", P, S, "users")
        .add_column(col("email", ColumnType::Text, true))
        .rename_column("name", "full_name")
        .drop_index(
            "by_name",
            IndexSpec::new("by_name", &["name"], IndexType::BTree),
        )
        .build()
        .expect("valid");
    let alter = |alteration| DdlOperation::AlterTable {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        alteration,
    };
    let create_by_name =
        IndexSpec::new("by_name", &["name"], IndexType::BTree).create_op(P, S, "users");
    assert_eq!(
        spec.down,
        vec![
            create_by_name,
            alter(TableAlteration::RenameColumn {
                from: "full_name".into(),
                to: "name".into()
            }),
            alter(TableAlteration::DropColumn {
                name: "email".into()
            }),
        ]
    );
    assert_eq!(spec.up.len(), 3);

    let mismatched = TableMigrationBuilder::new(8, "bad", P, S, "users")
        .drop_column("a", col("b", ColumnType::Text, true))
        .build();
    assert!(mismatched.is_err());
    assert!(
        TableMigrationBuilder::new(9, "empty", P, S, "users")
            .build()
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_secure_instance_migrations_and_schemas_need_the_callers_rights() {
    use aedb::declarative::SchemaSpec;
    use aedb::permission::CallerContext;

    let dir = tempfile::tempdir().expect("tempdir");
    let db = secure_with_admin(dir.path(), [7; 32]).await;
    let (ops, alice) = (CallerContext::new("ops"), CallerContext::new("alice"));
    let migrations = plan(vec![v1(), v2()]);
    assert_denied(db.run_migrations(migrations.clone()).await, "a plain run");
    assert_denied(
        db.run_migrations_as(alice.clone(), migrations.clone())
            .await,
        "a run by a caller without rights",
    );
    let report = db
        .run_migrations_as(ops.clone(), migrations)
        .await
        .expect("a run by an administrator");
    assert_eq!(report.current_version, 2);
    assert_eq!(
        db.applied_migrations_as(&ops, P, S)
            .await
            .expect("history")
            .len(),
        2
    );
    assert_denied(
        db.applied_migrations_as(&alice, P, S).await,
        "alice reads the history",
    );
    assert_denied(db.applied_migrations(P, S).await, "a plain history read");

    let spec = SchemaSpec::new(P, S).table(
        TableSpec::new("notes")
            .column("id", ColumnType::U64, false)
            .primary_key(&["id"]),
    );
    assert_denied(spec.plan(&db).await, "a plain plan");
    assert_denied(spec.plan_as(&db, alice.clone()).await, "alice plans");
    spec.apply_as(&db, ops.clone()).await.expect("ops applies");
    assert_denied(spec.plan_as(&db, alice).await, "alice plans an empty plan");
    assert!(spec.plan_as(&db, ops).await.expect("plan").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_too_large_for_one_commit_refuses_the_run_before_anything_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = aedb::config::AedbConfig {
        max_batch_rows: 4,
        ..aedb::config::AedbConfig::default()
    };
    let db = AedbInstance::open(config, dir.path()).expect("open");
    let seq = db.storage().visible_seq();
    let mut migrations = plan(vec![v1(), v2()]);
    // v2: five mutations, one more than a commit takes here.
    let extra = migrations[1].mutations[0].clone();
    migrations[1]
        .mutations
        .extend(std::iter::repeat_n(extra, 3));
    let e = db
        .run_migrations(migrations)
        .await
        .expect_err("v2 is too large");
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    assert!(e.to_string().contains("max_batch_rows"), "{e}");
    assert_eq!(
        db.storage().visible_seq(),
        seq,
        "v1 must not have committed"
    );
}
