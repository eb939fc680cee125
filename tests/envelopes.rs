//! Transaction and action envelopes: every read assertion passing and
//! failing (a failure writes nothing, names the assertion and what it found,
//! and is recorded in `_system.app.assertion_audit`), read-set conflicts,
//! idempotency (duplicates, reuse with another request, reopen, expiry exactly
//! at the window), table and KV compare-and-swap, and 64 concurrent
//! optimistic writers that never lose an update.

mod facade_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aedb::catalog::types::{Row, Value};
use aedb::commit::action::{ActionCommitOutcome, ActionEnvelopeRequest};
use aedb::commit::tx::{
    AssertionActual, IdempotencyKey, ReadAssertion, ReadBound, ReadKey, ReadRange, ReadRangeEntry,
    ReadSet, ReadSetEntry, TransactionEnvelope, WriteClass, WriteIntent,
};
use aedb::commit::validation::{CompareOp, Mutation};
use aedb::config::AedbConfig;
use aedb::error::AedbErrorCode;
use aedb::query::plan::{ConsistencyMode, Expr, Query};
use aedb::{AedbError, AedbInstance, IdempotencyOutcome};
use facade_common::{P, S, insert_user, with_users};

const AT: ConsistencyMode = ConsistencyMode::AtLatest;

fn kv_set(key: &[u8], value: &[u8]) -> Mutation {
    Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

fn envelope(assertions: Vec<ReadAssertion>, mutations: Vec<Mutation>) -> TransactionEnvelope {
    TransactionEnvelope {
        caller: None,
        idempotency_key: None,
        write_class: WriteClass::Standard,
        assertions,
        read_set: ReadSet::default(),
        write_intent: WriteIntent { mutations },
        base_seq: 0,
    }
}

fn pk(id: i64) -> Vec<Value> {
    vec![Value::Integer(id)]
}

async fn assertion_audit_rows(db: &AedbInstance) -> Vec<Row> {
    let q = Query::select(&["*"]).from("assertion_audit");
    db.query("_system", "app", q).await.unwrap().rows
}

/// Seeds: KV `a` = "x", KV `n` = 5 as U64; accumulator `acc` = 1,000 (10 %
/// margin: 900 available); users 1 (age 30) and 2 (age 40).
async fn seeded() -> (tempfile::TempDir, AedbInstance, u64) {
    let (d, db) = with_users().await;
    db.create_accumulator(P, S, "acc", None, 10).await.unwrap();
    db.accumulate(P, S, "acc", 1_000, "fund".into(), 1)
        .await
        .unwrap();
    db.kv_set(P, S, b"a".to_vec(), b"x".to_vec()).await.unwrap();
    db.kv_set(P, S, b"n".to_vec(), 5u64.to_be_bytes().to_vec())
        .await
        .unwrap();
    db.commit(insert_user(1, "ann", Some(30))).await.unwrap();
    let last = db.commit(insert_user(2, "bob", Some(40))).await.unwrap();
    (d, db, last.commit_seq)
}

/// Every variant, as (holds, fails): the first holds on the seed, the second
/// does not (with what it should report).
fn cases(row2_seq: u64) -> Vec<(&'static str, ReadAssertion, ReadAssertion, AssertionActual)> {
    let (p, s) = (P.to_string(), S.to_string());
    let key_equals = |expected: &[u8]| ReadAssertion::KeyEquals {
        project_id: p.clone(),
        scope_id: s.clone(),
        key: b"a".to_vec(),
        expected: expected.to_vec(),
    };
    let key_compare = |op, t: u64| ReadAssertion::KeyCompare {
        project_id: p.clone(),
        scope_id: s.clone(),
        key: b"n".to_vec(),
        op,
        threshold: t.to_be_bytes().to_vec(),
    };
    let key_exists = |key: &[u8], expected| ReadAssertion::KeyExists {
        project_id: p.clone(),
        scope_id: s.clone(),
        key: key.to_vec(),
        expected,
    };
    let row = |f: &dyn Fn(String, String, String, Vec<Value>) -> ReadAssertion, id| {
        f(p.clone(), s.clone(), "users".into(), pk(id))
    };
    let row_version = |seq| {
        move |project_id, scope_id, table_name, primary_key| ReadAssertion::RowVersion {
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq: seq,
        }
    };
    let row_exists = |project_id, scope_id, table_name, primary_key| ReadAssertion::RowExists {
        project_id,
        scope_id,
        table_name,
        primary_key,
        expected: true,
    };
    let age_at_least = |t: i64| {
        move |project_id, scope_id, table_name, primary_key| ReadAssertion::RowColumnCompare {
            project_id,
            scope_id,
            table_name,
            primary_key,
            column: "age".into(),
            op: CompareOp::Gte,
            threshold: Value::Integer(t),
        }
    };
    let count = |filter: Option<Expr>, t| ReadAssertion::CountCompare {
        project_id: p.clone(),
        scope_id: s.clone(),
        table_name: "users".into(),
        filter,
        op: CompareOp::Eq,
        threshold: t,
    };
    let sum = |t: i64| ReadAssertion::SumCompare {
        project_id: p.clone(),
        scope_id: s.clone(),
        table_name: "users".into(),
        column: "age".into(),
        filter: None,
        op: CompareOp::Lte,
        threshold: Value::Integer(t),
    };
    let older = || Some(Expr::Gt("age".into(), Value::Integer(35)));
    let available = |min_amount| ReadAssertion::AccumulatorAvailableAtLeast {
        project_id: p.clone(),
        scope_id: s.clone(),
        accumulator_name: "acc".into(),
        min_amount,
    };
    let margin = |additional_exposure| ReadAssertion::AccumulatorExposureWithinMargin {
        project_id: p.clone(),
        scope_id: s.clone(),
        accumulator_name: "acc".into(),
        additional_exposure,
    };
    vec![
        (
            "AccumulatorAvailableAtLeast",
            available(900),
            available(901),
            AssertionActual::Value(Value::Integer(900)),
        ),
        (
            "AccumulatorExposureWithinMargin",
            margin(900),
            margin(901),
            AssertionActual::Value(Value::Integer(900)),
        ),
        (
            "KeyEquals",
            key_equals(b"x"),
            key_equals(b"y"),
            AssertionActual::Bytes(b"x".to_vec()),
        ),
        (
            "KeyCompare",
            key_compare(CompareOp::Gte, 5),
            key_compare(CompareOp::Gt, 5),
            AssertionActual::Bytes(5u64.to_be_bytes().to_vec()),
        ),
        (
            "KeyExists",
            key_exists(b"a", true),
            key_exists(b"zz", true),
            AssertionActual::Bool(false),
        ),
        (
            "RowVersion",
            row(&row_version(row2_seq), 2),
            row(&row_version(row2_seq - 1), 2),
            AssertionActual::Version(row2_seq),
        ),
        (
            "RowExists",
            row(&row_exists, 1),
            row(&row_exists, 3),
            AssertionActual::Bool(false),
        ),
        (
            "RowColumnCompare",
            row(&age_at_least(40), 2),
            row(&age_at_least(41), 2),
            AssertionActual::Value(Value::Integer(40)),
        ),
        (
            "CountCompare",
            count(None, 2),
            count(older(), 2),
            AssertionActual::Count(1),
        ),
        (
            "SumCompare",
            sum(70),
            sum(69),
            AssertionActual::Value(Value::Integer(70)),
        ),
        (
            "All",
            ReadAssertion::All(vec![key_equals(b"x"), key_exists(b"a", true)]),
            ReadAssertion::All(vec![key_equals(b"x"), key_exists(b"zz", true)]),
            AssertionActual::Bool(false),
        ),
        (
            "Any",
            ReadAssertion::Any(vec![key_equals(b"y"), key_exists(b"a", true)]),
            ReadAssertion::Any(vec![key_equals(b"y"), key_exists(b"zz", true)]),
            AssertionActual::Bool(false),
        ),
        (
            "Not",
            ReadAssertion::Not(Box::new(key_equals(b"y"))),
            ReadAssertion::Not(Box::new(key_equals(b"x"))),
            AssertionActual::Bytes(b"x".to_vec()),
        ),
    ]
}

#[tokio::test]
async fn every_assertion_passes_and_fails_as_it_says() {
    let (_d, db, row2_seq) = seeded().await;
    // KeyVersion needs the seq of `a`'s write.
    let a_seq = db
        .kv_get_no_auth(P, S, b"a", AT)
        .await
        .unwrap()
        .unwrap()
        .version;
    let key_version = |seq| ReadAssertion::KeyVersion {
        project_id: P.into(),
        scope_id: S.into(),
        key: b"a".to_vec(),
        expected_seq: seq,
    };
    let mut all = cases(row2_seq);
    all.push((
        "KeyVersion",
        key_version(a_seq),
        key_version(a_seq + 1),
        AssertionActual::Version(a_seq),
    ));
    for (i, (name, holds, fails, actual)) in all.into_iter().enumerate() {
        let marker = format!("ok-{i}").into_bytes();
        let passed = db
            .commit_envelope(envelope(vec![holds], vec![kv_set(b"marker", &marker)]))
            .await
            .unwrap_or_else(|e| panic!("{name}: the holding assertion failed: {e}"));
        assert_eq!(passed.idempotency, IdempotencyOutcome::Applied);
        let audited = assertion_audit_rows(&db).await.len();
        let seq_before = db.storage().visible_seq();
        let err = db
            .commit_envelope(envelope(
                vec![key_version(a_seq), fails.clone()],
                vec![kv_set(b"marker", b"must not be written")],
            ))
            .await
            .unwrap_err();
        match &err {
            AedbError::AssertionFailed {
                index,
                assertion,
                actual: got,
            } => {
                assert_eq!(*index, 1, "{name}: the second assertion failed");
                assert_eq!(**assertion, fails, "{name}");
                assert_eq!(**got, actual, "{name}");
            }
            other => panic!("{name}: expected AssertionFailed, got {other}"),
        }
        assert_eq!(err.code(), AedbErrorCode::AssertionFailed);
        let marker_now = db
            .kv_get_no_auth(P, S, b"marker", AT)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(marker_now.value, marker, "{name}: a failed envelope wrote");
        let rows = assertion_audit_rows(&db).await;
        assert_eq!(rows.len(), audited + 1, "{name}: the failure is audited");
        assert_eq!(
            db.storage().visible_seq(),
            seq_before + 1,
            "{name}: only the audit row was committed"
        );
        let last = rows.last().unwrap();
        assert_eq!(last.values[6], Value::Integer(1), "{name}: assertion_index");
    }
    // An assertion on an accumulator that does not exist says so.
    let e = db
        .commit_envelope(envelope(
            vec![ReadAssertion::AccumulatorAvailableAtLeast {
                project_id: P.into(),
                scope_id: S.into(),
                accumulator_name: "missing".into(),
                min_amount: 1,
            }],
            vec![kv_set(b"marker", b"no")],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::AccumulatorNotFound, "{e}");
}

#[tokio::test]
async fn read_sets_conflict_on_changed_points_and_ranges() {
    let (_d, db, _) = seeded().await;
    let base = db.storage().visible_seq();
    let a = db.kv_get_no_auth(P, S, b"a", AT).await.unwrap().unwrap();
    let point = |version| ReadSetEntry {
        key: ReadKey::KvKey {
            project_id: P.into(),
            scope_id: S.into(),
            key: b"a".to_vec(),
        },
        version_at_read: version,
    };
    let range = |max| ReadRangeEntry {
        range: ReadRange::TableRange {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "users".into(),
            start: ReadBound::Included(pk(1)),
            end: ReadBound::Excluded(pk(10)),
        },
        max_version_at_read: max,
        structural_version_at_read: 0,
    };
    let with_reads = |points, ranges, base_seq| TransactionEnvelope {
        read_set: ReadSet { points, ranges },
        base_seq,
        ..envelope(vec![], vec![kv_set(b"w", b"1")])
    };
    // Nothing changed: commits.
    db.commit_envelope(with_reads(vec![point(a.version)], vec![range(base)], base))
        .await
        .unwrap();
    // The point changed since.
    db.kv_set(P, S, b"a".to_vec(), b"z".to_vec()).await.unwrap();
    let e = db
        .commit_envelope(with_reads(vec![point(a.version)], vec![], base))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    // An insert into the range: a newer version than was read.
    let base = db.storage().visible_seq();
    db.commit(insert_user(5, "eve", None)).await.unwrap();
    let e = db
        .commit_envelope(with_reads(vec![], vec![range(base)], base))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    // A delete from the range: no newer version, but the range differs from
    // base_seq's.
    let base = db.storage().visible_seq();
    db.commit(Mutation::Delete {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: pk(5),
    })
    .await
    .unwrap();
    let e = db
        .commit_envelope(with_reads(vec![], vec![range(base)], base))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    assert!(e.to_string().contains("changed since base_seq"), "{e}");
    // A base ahead of the head is a caller mistake.
    let e = db
        .commit_envelope(with_reads(vec![], vec![], base + 100))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
}

fn keyed(key: u8, mutations: Vec<Mutation>) -> TransactionEnvelope {
    TransactionEnvelope {
        idempotency_key: Some(IdempotencyKey([key; 16])),
        ..envelope(vec![], mutations)
    }
}

#[tokio::test]
async fn idempotency_keys_return_the_first_commit_and_expire_at_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let config = || AedbConfig {
        idempotency_window_commits: 3,
        ..AedbConfig::default()
    };
    let first = {
        let db = AedbInstance::open(config(), dir.path()).unwrap();
        db.create_project(P).await.unwrap();
        let inc = Mutation::KvIncU256 {
            project_id: P.into(),
            scope_id: S.into(),
            key: b"c".to_vec(),
            amount_be: [1; 32],
        };
        let first = db
            .commit_envelope(keyed(1, vec![inc.clone()]))
            .await
            .unwrap();
        assert_eq!(first.idempotency, IdempotencyOutcome::Applied);
        let again = db
            .commit_envelope(keyed(1, vec![inc.clone()]))
            .await
            .unwrap();
        assert_eq!(again.idempotency, IdempotencyOutcome::Duplicate);
        assert_eq!(again.canonical_commit_seq, first.commit_seq);
        assert_eq!(db.storage().visible_seq(), first.commit_seq, "no commit");
        // The same key with another request is refused.
        let e = db
            .commit_envelope(keyed(1, vec![kv_set(b"other", b"x")]))
            .await
            .unwrap_err();
        assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
        first.commit_seq
    };
    // After a reopen the record is read from the page file.
    let db = AedbInstance::open(config(), dir.path()).unwrap();
    let inc = Mutation::KvIncU256 {
        project_id: P.into(),
        scope_id: S.into(),
        key: b"c".to_vec(),
        amount_be: [1; 32],
    };
    let again = db
        .commit_envelope(keyed(1, vec![inc.clone()]))
        .await
        .unwrap();
    assert_eq!(
        (again.idempotency, again.canonical_commit_seq),
        (IdempotencyOutcome::Duplicate, first)
    );
    // Remembered while fewer than 3 commits followed it: 2 more, still a duplicate.
    db.kv_set(P, S, b"x".to_vec(), b"1".to_vec()).await.unwrap();
    db.kv_set(P, S, b"x".to_vec(), b"2".to_vec()).await.unwrap();
    let still = db
        .commit_envelope(keyed(1, vec![inc.clone()]))
        .await
        .unwrap();
    assert_eq!(still.idempotency, IdempotencyOutcome::Duplicate);
    // The third following commit ends the window: the key applies again.
    db.kv_set(P, S, b"x".to_vec(), b"3".to_vec()).await.unwrap();
    let fresh = db.commit_envelope(keyed(1, vec![inc])).await.unwrap();
    assert_eq!(fresh.idempotency, IdempotencyOutcome::Applied);
    let c = db.kv_get_no_auth(P, S, b"c", AT).await.unwrap().unwrap();
    assert_eq!(c.value, [2; 32], "applied twice in all, once per window");
}

#[tokio::test]
async fn action_envelopes_report_applied_then_duplicate() {
    let (_d, db, _) = seeded().await;
    let req = || ActionEnvelopeRequest {
        caller: None,
        idempotency_key: IdempotencyKey([7; 16]),
        write_class: WriteClass::Economic,
        base_seq: 0,
        assertions: vec![ReadAssertion::KeyExists {
            project_id: P.into(),
            scope_id: S.into(),
            key: b"a".to_vec(),
            expected: true,
        }],
        mutations: vec![kv_set(b"effect", b"1"), kv_set(b"meta", b"m")],
    };
    let first = db.commit_action_envelope(req()).await.unwrap();
    assert_eq!(first.outcome, ActionCommitOutcome::Applied);
    let second = db.commit_action_envelope(req()).await.unwrap();
    assert_eq!(second.outcome, ActionCommitOutcome::Duplicate);
    assert_eq!(second.commit_seq, first.commit_seq);
}

#[tokio::test]
async fn compare_and_swap_on_rows_and_keys() {
    let (_d, db, row2_seq) = seeded().await;
    let bob = |age| {
        Row::from_values(vec![
            Value::Integer(2),
            Value::Text("bob".into()),
            Value::Integer(age),
            Value::Null,
        ])
    };
    let c = db
        .compare_and_swap(P, S, "users", pk(2), bob(41), row2_seq)
        .await
        .unwrap();
    let e = db
        .compare_and_swap(P, S, "users", pk(2), bob(42), row2_seq)
        .await
        .unwrap_err();
    match e {
        AedbError::AssertionFailed { actual, .. } => {
            assert_eq!(*actual, AssertionActual::Version(c.commit_seq));
        }
        other => panic!("expected AssertionFailed, got {other}"),
    }
    // Absent rows have version 0.
    db.compare_and_swap(
        P,
        S,
        "users",
        pk(9),
        Row::from_values(vec![
            Value::Integer(9),
            Value::Text("new".into()),
            Value::Null,
            Value::Null,
        ]),
        0,
    )
    .await
    .unwrap();
    let a = db.kv_get_no_auth(P, S, b"a", AT).await.unwrap().unwrap();
    db.kv_compare_and_swap(P, S, b"a".to_vec(), b"b".to_vec(), a.version)
        .await
        .unwrap();
    let e = db
        .kv_compare_and_swap(P, S, b"a".to_vec(), b"c".to_vec(), a.version)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::AssertionFailed);
    let now = db.kv_get_no_auth(P, S, b"a", AT).await.unwrap().unwrap();
    assert_eq!(now.value, b"b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_optimistic_writers_never_lose_an_update() {
    let (_d, db) = with_users().await;
    let db = Arc::new(db);
    let conflicts = Arc::new(AtomicU64::new(0));
    const TASKS: u64 = 64;
    const EACH: u64 = 3;
    let mut handles = Vec::new();
    for _ in 0..TASKS {
        let (db, conflicts) = (db.clone(), conflicts.clone());
        handles.push(tokio::spawn(async move {
            let mut done = 0;
            while done < EACH {
                let base = db.storage().visible_seq();
                let read = db
                    .kv_get_no_auth(P, S, b"counter", ConsistencyMode::AtSeq(base))
                    .await
                    .unwrap();
                let (n, version) = read.map_or((0, 0), |e| {
                    (u64::from_be_bytes(e.value.try_into().unwrap()), e.version)
                });
                let env = TransactionEnvelope {
                    read_set: ReadSet {
                        points: vec![ReadSetEntry {
                            key: ReadKey::KvKey {
                                project_id: P.into(),
                                scope_id: S.into(),
                                key: b"counter".to_vec(),
                            },
                            version_at_read: version,
                        }],
                        ranges: vec![],
                    },
                    base_seq: base,
                    ..envelope(vec![], vec![kv_set(b"counter", &(n + 1).to_be_bytes())])
                };
                match db.commit_envelope(env).await {
                    Ok(_) => done += 1,
                    Err(e) if e.code() == AedbErrorCode::Conflict => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let e = db
        .kv_get_no_auth(P, S, b"counter", AT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u64::from_be_bytes(e.value.try_into().unwrap()),
        TASKS * EACH
    );
    let conflicts = conflicts.load(Ordering::Relaxed);
    println!(
        "64 optimistic writers: {} commits, {conflicts} conflicts reported and retried",
        TASKS * EACH
    );
    assert!(conflicts > 0, "64 writers on one key must collide");
}

#[tokio::test]
async fn count_assertions_on_key_ranges_count_without_reading_rows() {
    // max_scan_rows = 10: reading 40 rows would fail; counting them from the
    // B+tree's subtree counts does not.
    let dir = tempfile::tempdir().unwrap();
    let config = AedbConfig {
        max_scan_rows: 10,
        ..AedbConfig::default()
    };
    let db = AedbInstance::open(config, dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(facade_common::create_table(
        "users",
        facade_common::users_columns(),
        &["id"],
    ))
    .await
    .unwrap();
    for chunk in (0..50).collect::<Vec<i64>>().chunks(10) {
        let rows = chunk
            .iter()
            .map(|&i| facade_common::user(i, "u", Some(i)))
            .collect();
        db.commit(Mutation::InsertBatch {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "users".into(),
            rows,
        })
        .await
        .unwrap();
    }
    let count = |filter: Expr, threshold| ReadAssertion::CountCompare {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        filter: Some(filter),
        op: CompareOp::Eq,
        threshold,
    };
    let range = Expr::Between("id".into(), Value::Integer(0), Value::Integer(39));
    db.commit_envelope(envelope(
        vec![count(range.clone(), 40)],
        vec![kv_set(b"m", b"1")],
    ))
    .await
    .unwrap();
    let e = db
        .commit_envelope(envelope(vec![count(range, 41)], vec![kv_set(b"m", b"2")]))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AedbError::AssertionFailed { actual, .. } if **actual == AssertionActual::Count(40)),
        "{e}"
    );
    // A filter the key bounds do not answer reads rows, bounded by max_scan_rows.
    let by_age = Expr::Gte("age".into(), Value::Integer(0));
    let e = db
        .commit_envelope(envelope(vec![count(by_age, 50)], vec![kv_set(b"m", b"3")]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
}

#[tokio::test]
async fn compare_and_step_a_u256_column_on_the_row_version() {
    let (_d, db) = with_users().await;
    let mut row = facade_common::user(1, "ann", None);
    row.values[3] = Value::U256([0; 32]);
    let first = db
        .commit(Mutation::Insert {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "users".into(),
            primary_key: pk(1),
            row,
        })
        .await
        .unwrap();
    let mut five = [0u8; 32];
    five[31] = 5;
    let inc = db
        .compare_and_inc_u256(P, S, "users", pk(1), "balance", five, first.commit_seq)
        .await
        .unwrap();
    // A stale version: refused, nothing written.
    let e = db
        .compare_and_dec_u256(P, S, "users", pk(1), "balance", five, first.commit_seq)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AedbError::AssertionFailed { actual, .. } if **actual == AssertionActual::Version(inc.commit_seq)),
        "{e}"
    );
    // The current version, but below zero: the step's own error.
    let mut six = [0u8; 32];
    six[31] = 6;
    let e = db
        .compare_and_dec_u256(P, S, "users", pk(1), "balance", six, inc.commit_seq)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Underflow, "{e}");
    db.compare_and_dec_u256(P, S, "users", pk(1), "balance", five, inc.commit_seq)
        .await
        .unwrap();
    let q = Query::select(&["balance"]).from("users");
    let rows = db.query(P, S, q).await.unwrap().rows;
    assert_eq!(rows[0].values[0], Value::U256([0; 32]));
}

#[tokio::test]
async fn idempotency_keys_expire_at_the_time_window() {
    let dir = tempfile::tempdir().unwrap();
    let config = AedbConfig {
        idempotency_window_seconds: 1,
        idempotency_window_commits: 0,
        ..AedbConfig::default()
    };
    let db = AedbInstance::open(config, dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    let first = db
        .commit_envelope(keyed(3, vec![kv_set(b"t", b"1")]))
        .await
        .unwrap();
    let again = db
        .commit_envelope(keyed(3, vec![kv_set(b"t", b"1")]))
        .await
        .unwrap();
    assert_eq!(
        (again.idempotency, again.canonical_commit_seq),
        (IdempotencyOutcome::Duplicate, first.commit_seq)
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = db
        .commit_envelope(keyed(3, vec![kv_set(b"t", b"1")]))
        .await
        .unwrap();
    assert_eq!(
        later.idempotency,
        IdempotencyOutcome::Applied,
        "forgotten after 1 s"
    );
}

#[tokio::test]
async fn a_preflight_plan_commits_optimistically_through_its_read_set() {
    let (_d, db, _) = seeded().await;
    let update = Mutation::Upsert {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: pk(1),
        row: facade_common::user(1, "ann", Some(31)),
    };
    let as_envelope = |plan: aedb::commit::PreflightPlan| TransactionEnvelope {
        read_set: plan.read_set,
        base_seq: plan.base_seq,
        ..envelope(vec![], plan.write_intent.mutations)
    };
    let plan = db.preflight_plan(update.clone()).await;
    assert!(plan.valid, "{plan:?}");
    assert_eq!(plan.read_set.points.len(), 1);
    db.commit_envelope(as_envelope(plan)).await.unwrap();
    // Planned, then someone else writes the row: the envelope conflicts.
    let plan = db.preflight_plan(update).await;
    db.commit(Mutation::Upsert {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        primary_key: pk(1),
        row: facade_common::user(1, "ann", Some(99)),
    })
    .await
    .unwrap();
    let e = db.commit_envelope(as_envelope(plan)).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    let q = Query::select(&["age"])
        .from("users")
        .where_(Expr::Eq("id".into(), Value::Integer(1)));
    let age = db.query(P, S, q).await.unwrap().rows[0].values[0].clone();
    assert_eq!(
        age,
        Value::Integer(99),
        "the conflicting envelope wrote nothing"
    );
}
