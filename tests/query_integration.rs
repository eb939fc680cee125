//! Queries: access paths (checked with explain_query and rows_examined),
//! ordering, pagination, scan bounds, aggregates, joins, consistency modes and
//! query errors.

mod facade_common;

use aedb::catalog::schema::IndexType;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::query::QueryError;
use aedb::query::plan::{Aggregate, ConsistencyMode, Expr, Order, Query, QueryOptions, lit};
use aedb::{AedbErrorCode, AedbInstance, CommitFinality};
use facade_common::*;

/// `users` with ids 1..=n, name u<id>, age id % 100 (NULL when id % 7 == 0).
async fn populated(n: i64, config: AedbConfig) -> (tempfile::TempDir, AedbInstance) {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config, dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .unwrap();
    db.commit(create_by_age()).await.unwrap();
    let rows: Vec<Row> = (1..=n)
        .map(|i| user(i, &format!("u{i}"), (i % 7 != 0).then_some(i % 100)))
        .collect();
    for chunk in rows.chunks(5_000) {
        let m = Mutation::InsertBatch {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "users".into(),
            rows: chunk.to_vec(),
        };
        db.commit_with_finality(m, CommitFinality::Visible)
            .await
            .unwrap();
    }
    (dir, db)
}

fn big_scan() -> AedbConfig {
    AedbConfig {
        max_scan_rows: 1_000_000,
        ..AedbConfig::default()
    }
}

#[tokio::test]
async fn primary_key_point_and_range() {
    let (_d, db) = populated(2_000, AedbConfig::default()).await;
    let q = Query::select(&["id", "name"])
        .from("users")
        .where_(Expr::Eq("id".into(), Value::Integer(1234)));
    let plan = db
        .explain_query(P, S, q.clone(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (
            plan.access_path.as_str(),
            plan.estimated_scan_rows,
            plan.has_residual_filter
        ),
        ("pk point", 1, false)
    );
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(
        r.rows,
        vec![Row::from_values(vec![
            Value::Integer(1234),
            Value::Text("u1234".into())
        ])]
    );
    assert_eq!(r.rows_examined, 1);
    let range = Query::select(&["id"]).from("users").where_(
        aedb::query::plan::col("id")
            .gt(lit(100i64))
            .and(aedb::query::plan::col("id").lte(lit(110i64))),
    );
    let r = db.query(P, S, range.clone()).await.unwrap();
    assert_eq!(ids(&r.rows), (101..=110).collect::<Vec<_>>());
    assert_eq!(r.rows_examined, 10);
    assert_eq!(
        db.explain_query(P, S, range, QueryOptions::default())
            .await
            .unwrap()
            .access_path,
        "pk range"
    );
    // A literal of another integer type converts.
    let r = db
        .query(
            P,
            S,
            Query::select(&["id"])
                .from("users")
                .where_(Expr::Eq("id".into(), Value::U64(5))),
        )
        .await
        .unwrap();
    assert_eq!(ids(&r.rows), vec![5]);
}

#[tokio::test]
async fn index_range_of_100_rows_reads_about_100_rows() {
    let (_d, db) = populated(10_000, AedbConfig::default()).await;
    // age 42 appears for ids ≡ 42 (mod 100): 100 ids, minus those ≡ 0 (mod 7).
    let q = Query::select(&["id", "age"])
        .from("users")
        .where_(Expr::Between(
            "age".into(),
            Value::Integer(42),
            Value::Integer(42),
        ));
    let plan = db
        .explain_query(P, S, q.clone(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.index_used.as_deref(), Some("by_age"));
    let r = db.query(P, S, q).await.unwrap();
    let expected: Vec<i64> = (1..=10_000)
        .filter(|i| i % 100 == 42 && i % 7 != 0)
        .collect();
    let mut got = ids(&r.rows);
    got.sort();
    assert_eq!(got, expected);
    assert_eq!(r.rows_examined, expected.len());
    // Index order: age ascending, then id.
    let q = Query::select(&["id", "age"])
        .from("users")
        .where_(Expr::Gte("age".into(), Value::Integer(98)))
        .order_by("age", Order::Asc)
        .limit(5);
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(
        ids(&r.rows),
        vec![198, 298, 398, 498, 598],
        "id 98 has a NULL age"
    );
    assert_eq!(
        r.rows_examined, 5,
        "streams in index order and stops at the limit"
    );
}

#[tokio::test]
async fn filtered_limit_reads_about_limit_rows() {
    let (_d, db) = populated(10_000, AedbConfig::default()).await;
    let q = Query::select(&["id"])
        .from("users")
        .where_(Expr::Like("name".into(), "u%5".into()))
        .limit(10);
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(ids(&r.rows), vec![5, 15, 25, 35, 45, 55, 65, 75, 85, 95]);
    // Reads on to the eleventh match (id 105) to know more rows follow.
    assert_eq!(
        r.rows_examined, 104,
        "stops after the page, not at the end of the table"
    );
    assert!(r.truncated && r.cursor.is_some());
}

#[tokio::test]
async fn ordering_streams_or_sorts() {
    let (_d, db) = populated(300, big_scan()).await;
    let q = Query::select(&["id"])
        .from("users")
        .order_by("id", Order::Desc)
        .limit(3);
    let r = db.query(P, S, q.clone()).await.unwrap();
    assert_eq!((ids(&r.rows), r.rows_examined), (vec![300, 299, 298], 3));
    assert!(
        db.explain_query(P, S, q, QueryOptions::default())
            .await
            .unwrap()
            .streams_in_order
    );
    let q = Query::select(&["id", "name"])
        .from("users")
        .order_by("name", Order::Desc)
        .limit(3);
    assert!(
        !db.explain_query(P, S, q.clone(), QueryOptions::default())
            .await
            .unwrap()
            .streams_in_order
    );
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(
        ids(&r.rows),
        vec![99, 98, 97],
        "text order: u99 > u98 > u97 > u300"
    );
}

async fn all_pages(db: &AedbInstance, q: Query) -> Vec<i64> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let r = db
            .query_with_options(
                P,
                S,
                q.clone(),
                QueryOptions {
                    cursor: cursor.clone(),
                    ..QueryOptions::default()
                },
            )
            .await
            .unwrap();
        out.extend(ids(&r.rows));
        match r.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn cursor_pagination_covers_every_row_once() {
    let (_d, db) = populated(500, big_scan()).await;
    let streamed = all_pages(
        &db,
        Query::select(&["id"])
            .from("users")
            .where_(Expr::Gt("age".into(), Value::Integer(50)))
            .limit(7),
    )
    .await;
    let mut expected: Vec<i64> = (1..=500).filter(|i| i % 7 != 0 && i % 100 > 50).collect();
    let mut sorted = streamed.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    let buffered = all_pages(
        &db,
        Query::select(&["id", "name"])
            .from("users")
            .order_by("name", Order::Asc)
            .limit(33),
    )
    .await;
    assert_eq!(buffered.len(), 500);
    let mut names: Vec<String> = buffered.iter().map(|i| format!("u{i}")).collect();
    let copy = names.clone();
    names.sort();
    assert_eq!(names, copy, "pages continue the sort order");
    expected = (1..=500).rev().collect();
    assert_eq!(
        all_pages(
            &db,
            Query::select(&["id"])
                .from("users")
                .order_by("id", Order::Desc)
                .limit(64)
        )
        .await,
        expected
    );
    let bad = QueryOptions {
        cursor: Some("garbage".into()),
        ..QueryOptions::default()
    };
    assert_eq!(
        db.query_with_options(P, S, Query::select(&["*"]).from("users"), bad)
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::Validation
    );
}

#[tokio::test]
async fn scans_are_bounded_by_max_scan_rows() {
    let config = AedbConfig {
        max_scan_rows: 100,
        ..AedbConfig::default()
    };
    let (_d, db) = populated(500, config).await;
    // An unlimited query returns a page of max_scan_rows rows and a cursor.
    let r = db
        .query(P, S, Query::select(&["*"]).from("users"))
        .await
        .unwrap();
    assert_eq!((r.rows.len(), r.truncated), (100, true));
    // A selective filter stops after max_scan_rows rows read, with a cursor to go on.
    let q = Query::select(&["id"])
        .from("users")
        .where_(Expr::Eq("name".into(), Value::Text("u450".into())));
    let r = db.query(P, S, q.clone()).await.unwrap();
    assert!(
        r.rows.is_empty() && r.truncated && r.rows_examined == 100,
        "{r:?}"
    );
    assert_eq!(all_pages(&db, q).await, vec![450]);
    // A sort that needs every row is refused unless allowed.
    let sorted = Query::select(&["id"])
        .from("users")
        .order_by("name", Order::Asc)
        .limit(1);
    match db.query(P, S, sorted.clone()).await.unwrap_err() {
        QueryError::ScanBoundExceeded {
            estimated_rows,
            max_scan_rows,
        } => assert_eq!((estimated_rows, max_scan_rows), (500, 100)),
        other => panic!("{other:?}"),
    }
    let all = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    assert_eq!(
        ids(&db.query_with_options(P, S, sorted, all).await.unwrap().rows),
        vec![1]
    );
}

#[tokio::test]
async fn group_by_aggregates_and_having() {
    let (_d, db) = populated(700, big_scan()).await;
    let q = Query::select(&["*"])
        .from("users")
        .where_(Expr::Lte("id".into(), Value::Integer(20)))
        .group_by(&["age"])
        .aggregate(Aggregate::Count)
        .aggregate(Aggregate::Sum("id".into()))
        .having(Expr::Gt("count_star".into(), Value::Integer(0)))
        .order_by("sum_id", Order::Desc)
        .limit(2);
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(r.columns, vec!["age", "count_star", "sum_id"]);
    // ids 7 and 14 have a NULL age: that group sums to 21, the largest.
    assert_eq!(
        r.rows[0].values,
        vec![Value::Null, Value::Integer(2), Value::Integer(21)]
    );
    assert_eq!(
        r.rows[1].values,
        vec![Value::Integer(20), Value::Integer(1), Value::Integer(20)]
    );
    let totals = Query::select(&["count_star", "min_age", "max_age", "avg_id"])
        .from("users")
        .aggregate(Aggregate::Count)
        .aggregate(Aggregate::Min("age".into()))
        .aggregate(Aggregate::Max("age".into()))
        .aggregate(Aggregate::Avg("id".into()));
    let r = db.query(P, S, totals).await.unwrap();
    assert_eq!(
        r.rows[0].values,
        vec![
            Value::Integer(700),
            Value::Integer(0),
            Value::Integer(99),
            Value::Float(350.5)
        ],
        "id 100 has age 0"
    );
    let nulls = Query::select(&["age", "count_star"])
        .from("users")
        .group_by(&["age"])
        .aggregate(Aggregate::Count)
        .having(Expr::IsNull("age".into()));
    assert_eq!(
        db.query(P, S, nulls).await.unwrap().rows[0].values,
        vec![Value::Null, Value::Integer(100)]
    );
    let bad = Query::select(&["*"])
        .from("users")
        .aggregate(Aggregate::Sum("name".into()));
    assert_eq!(
        db.query(P, S, bad).await.unwrap_err().code(),
        AedbErrorCode::TypeMismatch
    );
}

#[tokio::test]
async fn inner_and_left_joins() {
    let (_d, db) = with_users().await;
    db.commit(create_table(
        "orders",
        vec![
            col("oid", ColumnType::Integer, false),
            col("user_id", ColumnType::Integer, false),
            col("total", ColumnType::Integer, false),
        ],
        &["oid"],
    ))
    .await
    .unwrap();
    for (i, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        db.commit(insert_user(i, name, None)).await.unwrap();
    }
    for (oid, uid, total) in [(10, 1, 5), (11, 1, 7), (12, 2, 9)] {
        let row = Row::from_values(vec![
            Value::Integer(oid),
            Value::Integer(uid),
            Value::Integer(total),
        ]);
        db.commit(insert("orders", vec![Value::Integer(oid)], row))
            .await
            .unwrap();
    }
    // orders → users by users' primary key.
    let q = Query::select(&["orders.oid", "users.name"])
        .from("orders")
        .inner_join("users", "user_id", "id")
        .order_by("oid", Order::Asc);
    let r = db.query(P, S, q).await.unwrap();
    let pairs: Vec<(Value, Value)> = r
        .rows
        .iter()
        .map(|r| (r.values[0].clone(), r.values[1].clone()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (Value::Integer(10), Value::Text("alice".into())),
            (Value::Integer(11), Value::Text("alice".into())),
            (Value::Integer(12), Value::Text("bob".into()))
        ]
    );
    // users ⟕ orders by a non-key column (hash join); carol has none.
    let q = Query::select(&["name", "oid"])
        .from("users")
        .alias("u")
        .left_join("orders", "u.id", "user_id")
        .order_by("name", Order::Asc);
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(r.rows.len(), 4);
    assert_eq!(
        r.rows[3].values,
        vec![Value::Text("carol".into()), Value::Null]
    );
    let per_user = Query::select(&["users.name", "count_star"])
        .from("users")
        .inner_join("orders", "id", "user_id")
        .group_by(&["users.name"])
        .aggregate(Aggregate::Count);
    let r = db.query(P, S, per_user).await.unwrap();
    assert_eq!(
        r.rows[0].values,
        vec![Value::Text("alice".into()), Value::Integer(2)]
    );
    let ambiguous = Query::select(&["*"])
        .from("users")
        .inner_join("orders", "id", "user_id")
        .where_(Expr::Eq("nope".into(), Value::Integer(1)));
    assert_eq!(
        db.query(P, S, ambiguous).await.unwrap_err().code(),
        AedbErrorCode::UnknownColumn
    );
}

#[tokio::test]
async fn consistency_modes_pick_the_snapshot() {
    let (_d, db) = with_users().await;
    let first = db
        .commit(insert_user(1, "a", None))
        .await
        .unwrap()
        .commit_seq;
    db.checkpoint_now().await.unwrap();
    db.commit(insert_user(2, "b", None)).await.unwrap();
    let all = |c| QueryOptions {
        consistency: c,
        ..QueryOptions::default()
    };
    let q = Query::select(&["id"]).from("users");
    assert_eq!(
        ids(&db
            .query_with_options(P, S, q.clone(), all(ConsistencyMode::AtSeq(first)))
            .await
            .unwrap()
            .rows),
        vec![1]
    );
    assert_eq!(
        ids(&db
            .query_with_options(P, S, q.clone(), all(ConsistencyMode::AtCheckpoint))
            .await
            .unwrap()
            .rows),
        vec![1]
    );
    let latest = db
        .query_with_options(P, S, q.clone(), all(ConsistencyMode::AtLatest))
        .await
        .unwrap();
    assert_eq!(ids(&latest.rows), vec![1, 2]);
    assert_eq!(
        latest.snapshot_seq,
        db.snapshot_probe(ConsistencyMode::AtLatest).await.unwrap()
    );
    assert_eq!(
        db.snapshot_probe(ConsistencyMode::AtSeq(first))
            .await
            .unwrap(),
        first
    );
    let future = db
        .query_with_options(
            P,
            S,
            q.clone(),
            all(ConsistencyMode::AtSeq(latest.snapshot_seq + 5)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(future, QueryError::SeqNotYetVisible { .. }),
        "{future:?}"
    );
    for i in 3..100 {
        db.commit_with_finality(insert_user(i, "x", None), CommitFinality::Visible)
            .await
            .unwrap();
    }
    let old = db
        .query_with_options(P, S, q, all(ConsistencyMode::AtSeq(first)))
        .await
        .unwrap_err();
    assert_eq!(old.code(), AedbErrorCode::SnapshotExpired, "{old:?}");
    db.wait_for_durable(db.storage().visible_seq())
        .await
        .unwrap();
    assert_eq!(db.storage().durable_seq(), db.storage().visible_seq());
}

#[tokio::test]
async fn composite_keys_sort_column_by_column() {
    let (_d, db) = with_users().await;
    let cols = vec![
        col("a", ColumnType::Text, false),
        col("b", ColumnType::Integer, false),
        col("v", ColumnType::Float, true),
    ];
    db.commit(create_table("pairs", cols, &["a", "b"]))
        .await
        .unwrap();
    for (a, b) in [
        ("x", 5),
        ("x", -3),
        ("x", 10),
        ("xa", 1),
        ("", 7),
        ("x\0", 2),
    ] {
        let row = Row::from_values(vec![
            Value::Text(a.into()),
            Value::Integer(b),
            Value::Float(b as f64 / 2.0),
        ]);
        db.commit(insert(
            "pairs",
            vec![Value::Text(a.into()), Value::Integer(b)],
            row,
        ))
        .await
        .unwrap();
    }
    let all = db
        .query(P, S, Query::select(&["a", "b"]).from("pairs"))
        .await
        .unwrap();
    let keys: Vec<(Value, Value)> = all
        .rows
        .iter()
        .map(|r| (r.values[0].clone(), r.values[1].clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "stored order is value order");
    let q = Query::select(&["b"]).from("pairs").where_(
        Expr::Eq("a".into(), Value::Text("x".into())).and(Expr::Gt("b".into(), Value::Integer(-3))),
    );
    let plan = db
        .explain_query(P, S, q.clone(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.access_path, "pk range");
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(
        r.rows
            .iter()
            .map(|r| r.values[0].clone())
            .collect::<Vec<_>>(),
        vec![Value::Integer(5), Value::Integer(10)]
    );
    assert_eq!(r.rows_examined, 2);
}

#[tokio::test]
async fn in_lists_become_key_ranges_and_paginate_across_them() {
    let (_d, db) = populated(1_000, big_scan()).await;
    let q = Query::select(&["id"]).from("users").where_(Expr::In(
        "id".into(),
        vec![
            Value::Integer(700),
            Value::Integer(5),
            Value::Integer(5000),
            Value::Integer(42),
        ],
    ));
    let plan = db
        .explain_query(P, S, q.clone(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (plan.access_path.as_str(), plan.estimated_scan_rows),
        ("pk 4 ranges", 3),
        "one range per value; 5000 holds no row"
    );
    let r = db.query(P, S, q).await.unwrap();
    assert_eq!(
        (ids(&r.rows), r.rows_examined),
        (vec![5, 42, 700], 3),
        "key order, only the listed keys read"
    );
    // An index In with descending order, paged 7 rows at a time across its ranges.
    let ages = vec![Value::Integer(3), Value::Integer(97), Value::Integer(50)];
    let q = Query::select(&["id", "age"])
        .from("users")
        .where_(Expr::In("age".into(), ages))
        .order_by("age", Order::Desc)
        .limit(7);
    let plan = db
        .explain_query(P, S, q.clone(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (plan.access_path.as_str(), plan.streams_in_order),
        ("index by_age 3 ranges", true)
    );
    let got = all_pages(&db, q).await;
    let mut expected: Vec<(i64, i64)> = (1..=1_000)
        .filter(|i| i % 7 != 0 && [3, 97, 50].contains(&(i % 100)))
        .map(|i| (i % 100, i))
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        got,
        expected.into_iter().map(|(_, i)| i).collect::<Vec<_>>()
    );
    // Forward over primary-key ranges, one row a page.
    let q = Query::select(&["id"])
        .from("users")
        .where_(Expr::In(
            "id".into(),
            vec![Value::Integer(9), Value::Integer(3), Value::Integer(600)],
        ))
        .limit(1);
    assert_eq!(all_pages(&db, q).await, vec![3, 9, 600]);
}

#[tokio::test]
async fn predicates_or_not_in_like_and_partial_indexes() {
    let (_d, db) = populated(200, big_scan()).await;
    let active = Expr::IsNotNull("age".into());
    db.commit(create_index(
        "users",
        "young",
        &["age"],
        IndexType::BTree,
        Some(active.clone()),
    ))
    .await
    .unwrap();
    let q = Query::select(&["id"]).from("users").where_(
        Expr::In(
            "id".into(),
            vec![Value::Integer(3), Value::Integer(300), Value::Integer(7)],
        )
        .or(Expr::Eq("name".into(), Value::Text("u9".into()))),
    );
    let mut got = ids(&db.query(P, S, q).await.unwrap().rows);
    got.sort();
    assert_eq!(got, vec![3, 7, 9]);
    let q = Query::select(&["id"]).from("users").where_(
        Expr::Not(Box::new(Expr::Like("name".into(), "u1%".into())))
            .and(Expr::Lt("id".into(), Value::Integer(12))),
    );
    assert_eq!(
        ids(&db.query(P, S, q).await.unwrap().rows),
        vec![2, 3, 4, 5, 6, 7, 8, 9]
    );
    let q = Query::select(&["id"])
        .from("users")
        .where_(active.and(Expr::Eq("age".into(), Value::Integer(3))))
        .use_index("young");
    let plan = db
        .explain_query(P, S, q.clone(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.index_used.as_deref(), Some("young"));
    let mut got = ids(&db.query(P, S, q).await.unwrap().rows);
    got.sort();
    assert_eq!(got, vec![3, 103]);
}

#[tokio::test]
async fn query_errors_are_typed() {
    let (_d, db) = with_users().await;
    let e = db
        .query(P, S, Query::select(&["nope"]).from("users"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, QueryError::ColumnNotFound { ref column, .. } if column == "nope"),
        "{e:?}"
    );
    let e = db
        .query(
            P,
            S,
            Query::select(&["*"])
                .from("users")
                .where_(Expr::Eq("name".into(), Value::Integer(1))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, QueryError::TypeMismatch { ref column, .. } if column == "name"),
        "{e:?}"
    );
    let e = db
        .query(
            P,
            S,
            Query::select(&["*"])
                .from("users")
                .order_by("nope", Order::Asc),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::UnknownColumn);
    let e = db
        .query(P, S, Query::select(&["*"]).from("ghosts"))
        .await
        .unwrap_err();
    assert!(matches!(e, QueryError::TableNotFound { .. }), "{e:?}");
    let e = db
        .query(P, S, Query::select(&["*"]).from("users").use_index("nope"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation);
    let mut deep = Expr::IsNull("age".into());
    for _ in 0..40 {
        deep = deep.not();
    }
    assert_eq!(
        db.query(P, S, Query::select(&["*"]).from("users").where_(deep))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::Validation
    );
    assert_eq!(
        db.query(P, S, Query::select(&["*"]))
            .await
            .unwrap_err()
            .code(),
        AedbErrorCode::Validation,
        "no table"
    );
}
