//! Model test: random inserts, upserts, deletes, predicated updates/deletes and
//! queries (random predicates, orders, limits, pages, aggregates, old
//! snapshots, reopens) against an in-memory model; every answer is compared.
//! Seeded; `AEDB_SEED=<n>` replays a failure.

mod facade_common;

use std::collections::BTreeMap;

use aedb::catalog::schema::IndexType;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::{Mutation, TableUpdateExpr};
use aedb::config::AedbConfig;
use aedb::query::plan::{Aggregate, ConsistencyMode, Expr, Order, Query, QueryOptions};
use aedb::{AedbErrorCode, AedbInstance, CommitFinality};
use facade_common::*;

type Model = BTreeMap<i64, Vec<Value>>;

fn config() -> AedbConfig {
    AedbConfig {
        max_scan_rows: 1_000_000,
        snapshot_retention_commits: 16,
        ..AedbConfig::default()
    }
}

async fn open(dir: &std::path::Path) -> AedbInstance {
    AedbInstance::open(config(), dir).expect("open")
}

fn row(id: i64, k: Option<i64>, s: &str, u: Option<u64>) -> Vec<Value> {
    vec![
        Value::Integer(id),
        k.map_or(Value::Null, Value::Integer),
        Value::Text(s.into()),
        u.map_or(Value::Null, Value::U64),
    ]
}

fn rand_row(rng: &mut fastrand::Rng, id: i64) -> Vec<Value> {
    let k = (rng.u8(..5) > 0).then(|| rng.i64(-20..20));
    let s: String = (0..rng.usize(0..3))
        .map(|_| rng.choice(['a', 'b', 'z']).unwrap_or('a'))
        .collect();
    let u = rng.bool().then(|| rng.u64(..1000));
    row(id, k, &s, u)
}

fn rand_value(rng: &mut fastrand::Rng, column: usize) -> Value {
    match column {
        0 => Value::Integer(rng.i64(0..60)),
        1 => Value::Integer(rng.i64(-22..22)),
        2 => Value::Text(
            (0..rng.usize(0..3))
                .map(|_| rng.choice(['a', 'b', 'z']).unwrap_or('a'))
                .collect(),
        ),
        _ => Value::U64(rng.u64(..1000)),
    }
}

const COLS: [&str; 4] = ["id", "k", "s", "u"];

fn rand_expr(rng: &mut fastrand::Rng, depth: u32) -> Expr {
    let c = rng.usize(..4);
    let name = COLS[c].to_string();
    match rng.u8(..if depth > 2 { 9 } else { 12 }) {
        0 => Expr::Eq(name, rand_value(rng, c)),
        1 => Expr::Ne(name, rand_value(rng, c)),
        2 => Expr::Lt(name, rand_value(rng, c)),
        3 => Expr::Lte(name, rand_value(rng, c)),
        4 => Expr::Gt(name, rand_value(rng, c)),
        5 => Expr::Gte(name, rand_value(rng, c)),
        6 => Expr::Between(name, rand_value(rng, c), rand_value(rng, c)),
        7 => Expr::In(
            name,
            (0..rng.usize(0..7)).map(|_| rand_value(rng, c)).collect(),
        ),
        8 => {
            if rng.bool() {
                Expr::IsNull(name)
            } else {
                Expr::IsNotNull(name)
            }
        }
        9 => rand_expr(rng, depth + 1).and(rand_expr(rng, depth + 1)),
        10 => rand_expr(rng, depth + 1).or(rand_expr(rng, depth + 1)),
        _ => rand_expr(rng, depth + 1).not(),
    }
}

/// The model's evaluation of a predicate (comparisons with NULL are false).
fn eval(e: &Expr, r: &[Value]) -> bool {
    let cell = |c: &str| &r[COLS.iter().position(|n| *n == c).expect("column")];
    let cmp = |c: &str, v: &Value, f: fn(std::cmp::Ordering) -> bool| {
        let x = cell(c);
        !x.is_null() && !v.is_null() && f(x.cmp(v))
    };
    match e {
        Expr::Eq(c, v) => cmp(c, v, |o| o.is_eq()),
        Expr::Ne(c, v) => cmp(c, v, |o| o.is_ne()),
        Expr::Lt(c, v) => cmp(c, v, |o| o.is_lt()),
        Expr::Lte(c, v) => cmp(c, v, |o| o.is_le()),
        Expr::Gt(c, v) => cmp(c, v, |o| o.is_gt()),
        Expr::Gte(c, v) => cmp(c, v, |o| o.is_ge()),
        Expr::Between(c, a, b) => cmp(c, a, |o| o.is_ge()) && cmp(c, b, |o| o.is_le()),
        Expr::In(c, vs) => vs.iter().any(|v| cmp(c, v, |o| o.is_eq())),
        Expr::IsNull(c) => cell(c).is_null(),
        Expr::IsNotNull(c) => !cell(c).is_null(),
        Expr::And(a, b) => eval(a, r) && eval(b, r),
        Expr::Or(a, b) => eval(a, r) || eval(b, r),
        Expr::Not(a) => !eval(a, r),
        Expr::Like(..) | Expr::EqCaller(_) => unreachable!("not generated"),
    }
}

/// The engine's order: the order_by columns, ties by id in the last column's
/// direction.
fn sorted_by(rows: &mut [Vec<Value>], order: &[(usize, Order)]) {
    let mut order = order.to_vec();
    if let Some(&(_, last)) = order.last() {
        order.push((0, last));
    }
    rows.sort_by(|a, b| {
        order
            .iter()
            .fold(std::cmp::Ordering::Equal, |acc, &(i, o)| {
                acc.then_with(|| {
                    if o == Order::Asc {
                        a[i].cmp(&b[i])
                    } else {
                        b[i].cmp(&a[i])
                    }
                })
            })
    });
}

fn orders(rng: &mut fastrand::Rng) -> Vec<(usize, Order)> {
    match rng.u8(..9) {
        0 => vec![],
        6 => vec![(1, Order::Asc)],
        7 => vec![(1, Order::Desc)],
        8 => vec![(2, Order::Asc)],
        1 => vec![(0, Order::Asc)],
        2 => vec![(0, Order::Desc)],
        3 => vec![(1, Order::Asc), (0, Order::Asc)],
        4 => vec![(1, Order::Desc), (0, Order::Desc)],
        _ => vec![(2, Order::Desc), (0, Order::Asc)],
    }
}

async fn check_query(db: &AedbInstance, model: &Model, rng: &mut fastrand::Rng, ctx: &str) {
    let pred = rng.bool().then(|| rand_expr(rng, 0));
    let order = orders(rng);
    let limit = rng.bool().then(|| rng.usize(1..20));
    let mut q = Query::select(&["*"]).from("t");
    if let Some(p) = &pred {
        q = q.where_(p.clone());
    }
    for (i, o) in &order {
        q = q.order_by(COLS[*i], *o);
    }
    if let Some(l) = limit {
        q = q.limit(l);
    }
    let mut expected: Vec<Vec<Value>> = model
        .values()
        .filter(|r| pred.as_ref().is_none_or(|p| eval(p, r)))
        .cloned()
        .collect();
    sorted_by(&mut expected, &order);
    // Every page, following cursors.
    let mut got: Vec<Vec<Value>> = Vec::new();
    let mut cursor = None;
    let mut first_page = None;
    for _ in 0..1_000 {
        let opts = QueryOptions {
            cursor: cursor.clone(),
            ..QueryOptions::default()
        };
        let r = db
            .query_with_options(P, S, q.clone(), opts)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: query {q:?}: {e}"));
        first_page.get_or_insert(r.rows.len());
        got.extend(r.rows.into_iter().map(|r| r.values));
        match r.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if let Some(l) = limit {
        assert_eq!(
            first_page,
            Some(expected.len().min(l)),
            "{ctx}: first page of {q:?}"
        );
    }
    if order.is_empty() {
        got.sort();
        expected.sort();
    }
    assert_eq!(got, expected, "{ctx}: {q:?}");
    // The same predicate aggregated.
    let mut agg = Query::select(&["*"])
        .from("t")
        .aggregate(Aggregate::Count)
        .aggregate(Aggregate::Sum("k".into()));
    if let Some(p) = &pred {
        agg = agg.where_(p.clone());
    }
    let r = db
        .query(P, S, agg)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: aggregate: {e}"));
    let sum: i64 = expected
        .iter()
        .filter_map(|r| {
            if let Value::Integer(k) = r[1] {
                Some(k)
            } else {
                None
            }
        })
        .sum();
    let any_k = expected.iter().any(|r| !r[1].is_null());
    assert_eq!(
        r.rows[0].values,
        vec![
            Value::Integer(expected.len() as i64),
            if any_k {
                Value::Integer(sum)
            } else {
                Value::Null
            }
        ],
        "{ctx}: aggregate"
    );
}

async fn run(seed: u64, ops: usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path()).await;
    db.create_project(P).await.unwrap();
    let cols = vec![
        col("id", ColumnType::Integer, false),
        col("k", ColumnType::Integer, true),
        col("s", ColumnType::Text, false),
        col("u", ColumnType::U64, true),
    ];
    db.commit(create_table("t", cols, &["id"])).await.unwrap();
    db.commit(create_index("t", "by_k", &["k"], IndexType::BTree, None))
        .await
        .unwrap();
    db.commit(create_index(
        "t",
        "by_s_u",
        &["s", "u"],
        IndexType::BTree,
        None,
    ))
    .await
    .unwrap();
    let mut model = Model::new();
    let mut history: Vec<(u64, Model)> = Vec::new();
    for step in 0..ops {
        let ctx = format!("seed {seed} step {step}");
        let id = rng.i64(0..60);
        let fin = if rng.u8(..4) == 0 {
            CommitFinality::Durable
        } else {
            CommitFinality::Visible
        };
        let result = match rng.u8(..10) {
            0..=2 => {
                let r = rand_row(&mut rng, id);
                let m = Mutation::Insert {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "t".into(),
                    primary_key: vec![Value::Integer(id)],
                    row: Row::from_values(r.clone()),
                };
                match db.commit_with_finality(m, fin).await {
                    Ok(c) => {
                        assert!(
                            !model.contains_key(&id),
                            "{ctx}: insert over an existing key succeeded"
                        );
                        model.insert(id, r);
                        Some(c.commit_seq)
                    }
                    Err(e) => {
                        assert_eq!(e.code(), AedbErrorCode::DuplicatePrimaryKey, "{ctx}: {e}");
                        assert!(
                            model.contains_key(&id),
                            "{ctx}: duplicate reported for a new key"
                        );
                        None
                    }
                }
            }
            3 => {
                let r = rand_row(&mut rng, id);
                let m = Mutation::Upsert {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "t".into(),
                    primary_key: vec![Value::Integer(id)],
                    row: Row::from_values(r.clone()),
                };
                model.insert(id, r);
                Some(db.commit_with_finality(m, fin).await.unwrap().commit_seq)
            }
            4 => {
                let m = Mutation::Delete {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "t".into(),
                    primary_key: vec![Value::Integer(id)],
                };
                let n = db.commit_with_finality(m, fin).await.unwrap().affected_rows;
                assert_eq!(
                    n,
                    u64::from(model.remove(&id).is_some()),
                    "{ctx}: delete count"
                );
                None
            }
            5 => {
                let p = rand_expr(&mut rng, 1);
                let m = Mutation::DeleteWhere {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "t".into(),
                    predicate: p.clone(),
                    limit: None,
                };
                let n = db.commit_with_finality(m, fin).await.unwrap().affected_rows;
                let before = model.len();
                model.retain(|_, r| !eval(&p, r));
                assert_eq!(n as usize, before - model.len(), "{ctx}: DeleteWhere {p:?}");
                None
            }
            6 => {
                let p = rand_expr(&mut rng, 1);
                let add = rng.i64(-3..4);
                let s = rand_value(&mut rng, 2);
                let m = Mutation::UpdateWhereExpr {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "t".into(),
                    predicate: p.clone(),
                    updates: vec![
                        ("k".into(), TableUpdateExpr::AddI64(add)),
                        ("s".into(), TableUpdateExpr::Value(s.clone())),
                    ],
                    limit: None,
                };
                let n = db.commit_with_finality(m, fin).await.unwrap().affected_rows;
                let mut hits = 0;
                for r in model.values_mut().filter(|r| eval(&p, r)) {
                    hits += 1;
                    r[1] = Value::Integer(match r[1] {
                        Value::Integer(k) => k + add,
                        _ => add,
                    });
                    r[2] = s.clone();
                }
                assert_eq!(n, hits, "{ctx}: UpdateWhereExpr {p:?}");
                None
            }
            7 => {
                // An old snapshot answers as the model did then (or is expired).
                if let Some((seq, old)) = history.get(rng.usize(..history.len().max(1))).cloned() {
                    let opts = QueryOptions {
                        consistency: ConsistencyMode::AtSeq(seq),
                        ..QueryOptions::default()
                    };
                    match db
                        .query_with_options(P, S, Query::select(&["*"]).from("t"), opts)
                        .await
                    {
                        Ok(r) => assert_eq!(
                            r.rows.into_iter().map(|r| r.values).collect::<Vec<_>>(),
                            old.into_values().collect::<Vec<_>>(),
                            "{ctx}: AtSeq({seq})"
                        ),
                        Err(e) => {
                            assert_eq!(e.code(), AedbErrorCode::SnapshotExpired, "{ctx}: {e}")
                        }
                    }
                }
                None
            }
            8 if rng.u8(..10) == 0 => {
                db.shutdown().await.unwrap();
                drop(db);
                db = open(dir.path()).await;
                history.clear();
                None
            }
            _ => {
                check_query(&db, &model, &mut rng, &ctx).await;
                None
            }
        };
        if let Some(seq) = result {
            history.push((seq, model.clone()));
            if history.len() > 40 {
                history.remove(0);
            }
        }
    }
    check_query(&db, &model, &mut fastrand::Rng::with_seed(seed), "final").await;
    // Every index entry matches a row: a query through each index equals the model.
    for k in -25..25 {
        let q = Query::select(&["*"])
            .from("t")
            .where_(Expr::Eq("k".into(), Value::Integer(k)))
            .use_index("by_k");
        let mut got: Vec<Vec<Value>> = db
            .query(P, S, q)
            .await
            .unwrap()
            .rows
            .into_iter()
            .map(|r| r.values)
            .collect();
        got.sort();
        let expected: Vec<Vec<Value>> = model
            .values()
            .filter(|r| r[1] == Value::Integer(k))
            .cloned()
            .collect();
        assert_eq!(got, expected, "seed {seed}: index by_k at {k}");
    }
    let report = db.storage().check().expect("storage check");
    assert!(report.is_ok(), "seed {seed}: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_operations_match_the_model() {
    let base = aedb::pager::sim::test_seed("facade_model", 0x6d6f_64656c);
    let seeds: u64 = std::env::var("AEDB_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    for i in 0..seeds {
        run(base.wrapping_add(i), 400).await;
    }
}
