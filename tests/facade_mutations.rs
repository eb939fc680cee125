//! Every mutation kind, its success and its typed failures; a failure leaves
//! nothing behind.

mod facade_common;

use aedb::catalog::DdlOperation;
use aedb::catalog::schema::{Constraint, IndexType, TableAlteration};
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::PreflightResult;
use aedb::commit::validation::{
    ConflictAction, ConflictTarget, Mutation, TableUpdateExpr, UpdateExpr,
};
use aedb::query::plan::{ConsistencyMode, Expr, Query, QueryOptions};
use aedb::{AedbError, AedbErrorCode, AedbInstance};
use facade_common::*;

async fn all_users(db: &AedbInstance) -> Vec<Row> {
    db.query(P, S, Query::select(&["*"]).from("users"))
        .await
        .expect("query")
        .rows
}

fn alter(alteration: TableAlteration) -> Mutation {
    Mutation::Ddl(DdlOperation::AlterTable {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        alteration,
    })
}

fn u256(n: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&n.to_be_bytes());
    b
}

#[tokio::test]
async fn insert_and_duplicate_key() {
    let (_d, db) = with_users().await;
    let r = db.commit(insert_user(1, "alice", Some(30))).await.unwrap();
    assert!(
        r.commit_seq > 0 && r.durable_head_seq >= r.commit_seq,
        "{r:?}"
    );
    let err = db.commit(insert_user(1, "again", None)).await.unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::DuplicatePrimaryKey);
    assert!(
        err.to_string().contains("users") && err.to_string().contains('1'),
        "{err}"
    );
    assert_eq!(all_users(&db).await, vec![user(1, "alice", Some(30))]);
}

#[tokio::test]
async fn bad_rows_get_typed_errors_naming_table_and_column() {
    let (_d, db) = with_users().await;
    let wrong_type = insert(
        "users",
        vec![Value::Integer(1)],
        Row::from_values(vec![Value::Integer(1), Value::Integer(5)]),
    );
    match db.commit(wrong_type).await.unwrap_err() {
        AedbError::TypeMismatch {
            table,
            column,
            expected,
            actual,
        } => {
            assert_eq!(
                (
                    table.as_str(),
                    column.as_str(),
                    expected.as_str(),
                    actual.as_str()
                ),
                ("users", "name", "Text", "Integer")
            )
        }
        other => panic!("{other:?}"),
    }
    let null_name = insert(
        "users",
        vec![Value::Integer(1)],
        Row::from_values(vec![Value::Integer(1), Value::Null]),
    );
    assert!(
        matches!(db.commit(null_name).await.unwrap_err(), AedbError::NotNullViolation { ref column, .. } if column == "name")
    );
    let too_long = insert(
        "users",
        vec![Value::Integer(1)],
        Row::from_values(vec![Value::Integer(1); 5]),
    );
    assert_eq!(
        db.commit(too_long).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    let pk_mismatch = insert("users", vec![Value::Integer(2)], user(1, "a", None));
    assert_eq!(
        db.commit(pk_mismatch).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    let no_table = Mutation::Insert {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "nope".into(),
        primary_key: vec![],
        row: user(1, "a", None),
    };
    assert_eq!(
        db.commit(no_table).await.unwrap_err().code(),
        AedbErrorCode::TableNotFound
    );
    let no_scope = Mutation::Insert {
        project_id: P.into(),
        scope_id: "nope".into(),
        table_name: "users".into(),
        primary_key: vec![],
        row: user(1, "a", None),
    };
    assert_eq!(
        db.commit(no_scope).await.unwrap_err().code(),
        AedbErrorCode::ScopeNotFound
    );
    let no_project = Mutation::Insert {
        project_id: "nope".into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: vec![],
        row: user(1, "a", None),
    };
    assert_eq!(
        db.commit(no_project).await.unwrap_err().code(),
        AedbErrorCode::ProjectNotFound
    );
    let big = insert(
        "users",
        vec![Value::Integer(1)],
        user(1, &"x".repeat(2 << 20), None),
    );
    assert_eq!(
        db.commit(big).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    // An integer that fits converts; one that does not is refused.
    let small = Row::from_values(vec![Value::U64(7), Value::Text("u".into())]);
    db.commit(insert("users", vec![Value::U8(7)], small))
        .await
        .unwrap();
    let huge = Row::from_values(vec![Value::U64(u64::MAX), Value::Text("u".into())]);
    assert_eq!(
        db.commit(insert("users", vec![], huge))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::TypeMismatch
    );
    assert_eq!(
        all_users(&db).await,
        vec![Row::from_values(vec![
            Value::Integer(7),
            Value::Text("u".into()),
            Value::Null,
            Value::Null
        ])]
    );
}

#[tokio::test]
async fn batches_and_many_atomic_are_all_or_nothing() {
    let (_d, db) = with_users().await;
    let batch = |rows| Mutation::InsertBatch {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        rows,
    };
    let err = db
        .commit(batch(vec![
            user(1, "a", None),
            user(2, "b", None),
            user(1, "dup", None),
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::DuplicatePrimaryKey);
    assert!(all_users(&db).await.is_empty());
    let r = db
        .commit(batch(vec![user(1, "a", None), user(2, "b", None)]))
        .await
        .unwrap();
    assert_eq!(r.affected_rows, 2);
    let err = db
        .commit_many_atomic(vec![insert_user(3, "c", None), insert_user(2, "dup", None)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), AedbErrorCode::DuplicatePrimaryKey);
    assert_eq!(ids(&all_users(&db).await), vec![1, 2]);
    db.commit_many_atomic(vec![insert_user(3, "c", None), insert_user(4, "d", None)])
        .await
        .unwrap();
    assert_eq!(ids(&all_users(&db).await), vec![1, 2, 3, 4]);
    assert_eq!(
        db.commit_many_atomic(vec![]).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    let upserts = Mutation::UpsertBatch {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        rows: vec![user(1, "A", Some(1)), user(9, "i", None)],
    };
    db.commit(upserts).await.unwrap();
    let rows = all_users(&db).await;
    assert_eq!(ids(&rows), vec![1, 2, 3, 4, 9]);
    assert_eq!(rows[0], user(1, "A", Some(1)));
}

#[tokio::test]
async fn upsert_on_conflict_actions() {
    let (_d, db) = with_users().await;
    db.commit(create_index(
        "users",
        "by_name",
        &["name"],
        IndexType::UniqueHash,
        None,
    ))
    .await
    .unwrap();
    db.commit(insert_user(1, "alice", Some(10))).await.unwrap();
    let on = |row, target, action| Mutation::UpsertOnConflict {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        row,
        conflict_target: target,
        conflict_action: action,
    };
    // No conflict: inserted.
    db.commit(on(
        user(2, "bob", Some(5)),
        ConflictTarget::PrimaryKey,
        ConflictAction::DoNothing,
    ))
    .await
    .unwrap();
    // Conflict on the key: nothing.
    let r = db
        .commit(on(
            user(1, "zed", Some(99)),
            ConflictTarget::PrimaryKey,
            ConflictAction::DoNothing,
        ))
        .await
        .unwrap();
    assert_eq!(r.affected_rows, 0);
    // Merge takes non-NULL proposed values.
    db.commit(on(
        user(1, "alice", None),
        ConflictTarget::PrimaryKey,
        ConflictAction::DoMerge,
    ))
    .await
    .unwrap();
    assert_eq!(all_users(&db).await[0], user(1, "alice", Some(10)));
    // Conflict through the unique index on name: update the existing row (id 1).
    let set = ConflictAction::DoUpdate(vec![("age".into(), Value::Integer(11))]);
    db.commit(on(
        user(7, "alice", None),
        ConflictTarget::Index("by_name".into()),
        set,
    ))
    .await
    .unwrap();
    let add = ConflictAction::DoUpdateWith(vec![(
        "age".into(),
        UpdateExpr::AddI64 {
            existing_column: "age".into(),
            proposed_column: "age".into(),
        },
    )]);
    db.commit(on(
        user(8, "alice", Some(4)),
        ConflictTarget::Columns(vec!["name".into()]),
        add,
    ))
    .await
    .unwrap();
    assert_eq!(
        all_users(&db).await,
        vec![user(1, "alice", Some(15)), user(2, "bob", Some(5))]
    );
    // A target that is no unique index is refused.
    let bad = on(
        user(3, "c", None),
        ConflictTarget::Columns(vec!["age".into()]),
        ConflictAction::DoNothing,
    );
    assert_eq!(
        db.commit(bad).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    // A unique index refuses a second row with the same name.
    assert_eq!(
        db.commit(insert_user(3, "bob", None))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::UniqueViolation
    );
}

#[tokio::test]
async fn deletes_and_updates_by_predicate() {
    let (_d, db) = with_users().await;
    for i in 1..=10 {
        db.commit_with_finality(
            insert_user(
                i,
                &format!("u{i}"),
                if i % 2 == 0 { Some(i * 10) } else { None },
            ),
            aedb::CommitFinality::Visible,
        )
        .await
        .unwrap();
    }
    let del = Mutation::Delete {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: vec![Value::Integer(10)],
    };
    assert_eq!(db.commit(del.clone()).await.unwrap().affected_rows, 1);
    assert_eq!(
        db.commit(del).await.unwrap().affected_rows,
        0,
        "deleting a missing row is no error"
    );
    let dw = Mutation::DeleteWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Gt("id".into(), Value::Integer(6)),
        limit: Some(2),
    };
    assert_eq!(db.commit(dw).await.unwrap().affected_rows, 2);
    assert_eq!(ids(&all_users(&db).await), vec![1, 2, 3, 4, 5, 6, 9]);
    let uw = Mutation::UpdateWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::IsNull("age".into()),
        updates: vec![("age".into(), Value::Integer(0))],
        limit: None,
    };
    assert_eq!(db.commit(uw).await.unwrap().affected_rows, 4);
    let ux = Mutation::UpdateWhereExpr {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Lte("id".into(), Value::Integer(2)),
        updates: vec![
            ("age".into(), TableUpdateExpr::AddI64(5)),
            (
                "name".into(),
                TableUpdateExpr::Value(Value::Text("low".into())),
            ),
        ],
        limit: None,
    };
    db.commit(ux).await.unwrap();
    let rows = all_users(&db).await;
    assert_eq!(rows[0], user(1, "low", Some(5)));
    assert_eq!(rows[1], user(2, "low", Some(25)));
    let overflow = Mutation::UpdateWhereExpr {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Eq("id".into(), Value::Integer(1)),
        updates: vec![("age".into(), TableUpdateExpr::AddI64(i64::MAX))],
        limit: None,
    };
    assert_eq!(
        db.commit(overflow).await.unwrap_err().code(),
        AedbErrorCode::Overflow
    );
    let pk_update = Mutation::UpdateWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Eq("id".into(), Value::Integer(1)),
        updates: vec![("id".into(), Value::Integer(50))],
        limit: None,
    };
    assert_eq!(
        db.commit(pk_update).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    let unknown = Mutation::DeleteWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        predicate: Expr::Eq("nope".into(), Value::Integer(1)),
        limit: None,
    };
    assert_eq!(
        db.commit(unknown).await.unwrap_err().code(),
        AedbErrorCode::UnknownColumn
    );
    assert_eq!(
        all_users(&db).await[0],
        user(1, "low", Some(5)),
        "failed updates left nothing"
    );
}

#[tokio::test]
async fn u256_increment_and_decrement() {
    let (_d, db) = with_users().await;
    db.commit(insert_user(1, "a", None)).await.unwrap();
    let step = |inc: bool, n: u64| {
        let (project_id, scope_id, table_name, primary_key, column) = (
            P.into(),
            S.into(),
            "users".into(),
            vec![Value::Integer(1)],
            "balance".into(),
        );
        if inc {
            Mutation::TableIncU256 {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                amount_be: u256(n),
            }
        } else {
            Mutation::TableDecU256 {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                amount_be: u256(n),
            }
        }
    };
    db.commit(step(true, 100)).await.unwrap();
    db.commit(step(false, 30)).await.unwrap();
    assert_eq!(all_users(&db).await[0].values[3], Value::U256(u256(70)));
    assert_eq!(
        db.commit(step(false, 71)).await.unwrap_err().code(),
        AedbErrorCode::Underflow
    );
    let max = Mutation::TableIncU256 {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: vec![Value::Integer(1)],
        column: "balance".into(),
        amount_be: [0xFF; 32],
    };
    assert_eq!(
        db.commit(max).await.unwrap_err().code(),
        AedbErrorCode::Overflow
    );
    let wrong_col = Mutation::TableIncU256 {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: vec![Value::Integer(1)],
        column: "age".into(),
        amount_be: u256(1),
    };
    assert_eq!(
        db.commit(wrong_col).await.unwrap_err().code(),
        AedbErrorCode::TypeMismatch
    );
    assert_eq!(all_users(&db).await[0].values[3], Value::U256(u256(70)));
}

#[tokio::test]
async fn constraints_and_alterations() {
    let (_d, db) = with_users().await;
    db.commit(insert_user(1, "a", Some(20))).await.unwrap();
    db.commit(insert_user(2, "b", Some(20))).await.unwrap();
    // A unique constraint the rows break is refused, leaving the table as it was.
    let uniq_age = alter(TableAlteration::AddConstraint(Constraint::Unique {
        name: "u_age".into(),
        columns: vec!["age".into()],
    }));
    assert_eq!(
        db.commit(uniq_age).await.unwrap_err().code(),
        AedbErrorCode::UniqueViolation
    );
    let uniq_name = alter(TableAlteration::AddConstraint(Constraint::Unique {
        name: "u_name".into(),
        columns: vec!["name".into()],
    }));
    db.commit(uniq_name).await.unwrap();
    assert_eq!(
        db.commit(insert_user(3, "a", None))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::UniqueViolation
    );
    let check = alter(TableAlteration::AddConstraint(Constraint::Check {
        name: "adult".into(),
        expr: Expr::Gte("age".into(), Value::Integer(18)),
    }));
    db.commit(check).await.unwrap();
    match db.commit(insert_user(3, "c", Some(3))).await.unwrap_err() {
        AedbError::CheckConstraintFailed { table, constraint } => {
            assert_eq!((table.as_str(), constraint.as_str()), ("users", "adult"))
        }
        other => panic!("{other:?}"),
    }
    let mut deep = Expr::IsNull("age".into());
    // (Deep enough that an unguarded recursive evaluator would be at risk; Rust's
    // own recursive drop of the boxes bounds how deep a test can go.)
    for _ in 0..5_000 {
        deep = Expr::Not(Box::new(deep));
    }
    let too_deep = alter(TableAlteration::AddConstraint(Constraint::Check {
        name: "deep".into(),
        expr: deep,
    }));
    assert_eq!(
        db.commit(too_deep).await.unwrap_err().code(),
        AedbErrorCode::Validation,
        "a 5,000-deep check is refused before anything recurses into it"
    );
    let default = alter(TableAlteration::AddConstraint(Constraint::Default {
        column: "age".into(),
        value: Value::Integer(18),
    }));
    db.commit(default).await.unwrap();
    db.commit(insert_user(3, "c", None)).await.unwrap();
    assert_eq!(all_users(&db).await[2], user(3, "c", Some(18)));
    db.commit(alter(TableAlteration::DropConstraint {
        name: "u_name".into(),
    }))
    .await
    .unwrap();
    db.commit(insert_user(4, "a", Some(40))).await.unwrap();
    // Columns: add (nullable), rename, drop.
    db.commit(alter(TableAlteration::AddColumn(col(
        "email",
        ColumnType::Text,
        true,
    ))))
    .await
    .unwrap();
    let not_null = alter(TableAlteration::AddColumn(col(
        "must",
        ColumnType::Text,
        false,
    )));
    assert_eq!(
        db.commit(not_null).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    db.commit(alter(TableAlteration::RenameColumn {
        from: "age".into(),
        to: "years".into(),
    }))
    .await
    .unwrap();
    let q = Query::select(&["id", "years", "email"])
        .from("users")
        .where_(Expr::Gte("years".into(), Value::Integer(40)));
    let rows = db.query(P, S, q).await.unwrap().rows;
    assert_eq!(
        rows,
        vec![Row::from_values(vec![
            Value::Integer(4),
            Value::Integer(40),
            Value::Null
        ])]
    );
    assert_eq!(
        db.commit(alter(TableAlteration::DropColumn {
            name: "years".into()
        }))
        .await
        .unwrap_err()
        .code(),
        AedbErrorCode::Validation,
        "used by a check"
    );
    db.commit(alter(TableAlteration::DropColumn {
        name: "balance".into(),
    }))
    .await
    .unwrap();
    let schema = db.describe_table(P, S, "users").await.unwrap();
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "years", "email"]);
    assert_eq!(all_users(&db).await[3].values.len(), 4);
}

#[tokio::test]
async fn ddl_is_idempotent_where_0_1_9_is_and_typed_elsewhere() {
    let (_d, db) = with_users().await;
    db.create_project(P).await.unwrap();
    db.create_scope(P, S).await.unwrap();
    db.create_scope(P, "other").await.unwrap();
    assert_eq!(
        db.list_scopes(P).await.unwrap(),
        vec!["app".to_string(), "other".to_string()]
    );
    assert_eq!(
        db.commit(create_table("users", users_columns(), &["id"]))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::TableAlreadyExists
    );
    assert_eq!(
        db.commit(create_table(
            "t",
            vec![col("a", ColumnType::Integer, true)],
            &["a"]
        ))
        .await
        .unwrap_err()
        .code(),
        AedbErrorCode::Validation,
        "nullable key"
    );
    assert_eq!(
        db.commit(create_table(
            "t",
            vec![col("a", ColumnType::Integer, false)],
            &["b"]
        ))
        .await
        .unwrap_err()
        .code(),
        AedbErrorCode::UnknownColumn
    );
    assert_eq!(
        db.create_scope("nope", S).await.unwrap_err().code(),
        AedbErrorCode::ProjectNotFound
    );
    assert_eq!(
        db.commit(create_index(
            "users",
            "ix",
            &["nope"],
            IndexType::BTree,
            None
        ))
        .await
        .unwrap_err()
        .code(),
        AedbErrorCode::UnknownColumn
    );
    db.commit(create_index(
        "users",
        "ix",
        &["age"],
        IndexType::BTree,
        None,
    ))
    .await
    .unwrap();
    assert_eq!(
        db.commit(create_index(
            "users",
            "ix",
            &["age"],
            IndexType::BTree,
            None
        ))
        .await
        .unwrap_err()
        .code(),
        AedbErrorCode::IndexAlreadyExists
    );
    assert_eq!(db.list_indexes(P, S, "users").await.unwrap().len(), 1);
    // Ours and the engine's `_system` (audit tables).
    let projects = db.list_projects().await.unwrap();
    let ids: Vec<&str> = projects.iter().map(|p| p.project_id.as_str()).collect();
    assert_eq!(ids, ["_system", P]);
    assert_eq!(projects[1].scope_count, 2);
    assert_eq!(db.list_tables(P, S).await.unwrap().len(), 1);
    db.commit(insert_user(1, "a", None)).await.unwrap();
    db.drop_scope(P, S).await.unwrap();
    assert_eq!(
        db.query(P, S, Query::select(&["*"]).from("users"))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::ScopeNotFound
    );
    db.create_scope(P, S).await.unwrap();
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .unwrap();
    assert!(
        all_users(&db).await.is_empty(),
        "a re-created table starts empty"
    );
    db.drop_project(P).await.unwrap();
    db.drop_project(P).await.unwrap();
    let left: Vec<String> = db
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.project_id)
        .collect();
    assert_eq!(left, ["_system"]);
    assert_eq!(
        db.storage().tree_roots().unwrap().len(),
        5,
        "only the catalog tree and the four _system tables (two audits, dead letters, the migration history) are left"
    );
}

#[tokio::test]
async fn preflight_is_advisory_and_writes_nothing() {
    let (_d, db) = with_users().await;
    db.commit(insert_user(1, "a", None)).await.unwrap();
    let seq = db.storage().visible_seq();
    assert_eq!(
        db.preflight(insert_user(2, "b", None)).await,
        PreflightResult::Ok { affected_rows: 1 }
    );
    assert!(
        matches!(db.preflight(insert_user(1, "b", None)).await, PreflightResult::Err { reason } if reason.contains("duplicate"))
    );
    let plan = db.preflight_plan(insert_user(2, "b", None)).await;
    assert!(
        plan.valid && plan.base_seq == seq && plan.estimated_affected_rows == 1,
        "{plan:?}"
    );
    assert_eq!(db.storage().visible_seq(), seq, "preflight commits nothing");
    assert_eq!(ids(&all_users(&db).await), vec![1]);
}

#[tokio::test]
async fn kv_space_per_scope() {
    let (_d, db) = with_users().await;
    assert_eq!(
        db.kv_get_no_auth(P, S, b"a", ConsistencyMode::AtLatest)
            .await
            .unwrap(),
        None
    );
    for k in [b"a1".as_slice(), b"a2", b"b1"] {
        db.kv_set(P, S, k.to_vec(), k.to_vec()).await.unwrap();
    }
    let a2 = db
        .kv_get_no_auth(P, S, b"a2", ConsistencyMode::AtLatest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a2.value, b"a2");
    let page = db
        .kv_scan_prefix_no_auth(P, S, b"a", 10, ConsistencyMode::AtLatest)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[1], (b"a2".to_vec(), a2));
    db.kv_del(P, S, b"a1".to_vec()).await.unwrap();
    assert_eq!(
        db.kv_scan_prefix_no_auth(P, S, b"", 10, ConsistencyMode::AtLatest)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        db.kv_set(P, S, vec![], vec![]).await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
    assert_eq!(
        db.kv_set(P, S, vec![1; 2000], vec![])
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::Validation
    );
    assert_eq!(
        db.kv_set(P, "nope", vec![1], vec![])
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::ScopeNotFound
    );
    let _ = QueryOptions::default();
}
