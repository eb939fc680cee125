//! `aedb::engine_interface`: effect batches apply whole or are rejected
//! writing nothing; keyed state reads, writes, updates (lost updates refused),
//! index pages and ranks agree with a sorted model; processor pulls and
//! commits apply every event exactly once, however often a commit is retried
//! or a second worker races it.

#[path = "facade_common/mod.rs"]
mod facade_common;

use aedb::catalog::schema::IndexType;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::engine_interface::{
    EffectBatch, EffectBatchCommitResult, EffectEvent, EffectOperation, EffectPrecondition,
    KeyedStateQueryRequest,
};
use aedb::error::AedbErrorCode;
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbError, AedbInstance};
use facade_common::{col, create_index, create_table};

const P: &str = facade_common::P;
const S: &str = facade_common::S;
const AT: ConsistencyMode = ConsistencyMode::AtLatest;

async fn open() -> (tempfile::TempDir, AedbInstance) {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(AedbConfig::default(), dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(create_table(
        "players",
        vec![
            col("id", ColumnType::Text, false),
            col("region", ColumnType::Text, false),
            col("score", ColumnType::Integer, false),
        ],
        &["id"],
    ))
    .await
    .unwrap();
    db.commit(create_index(
        "players",
        "by_region_score",
        &["region", "score"],
        IndexType::BTree,
        None,
    ))
    .await
    .unwrap();
    db.create_accumulator(P, S, "cash", None, 16).await.unwrap();
    (dir, db)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn player(id: &str, region: &str, score: i64) -> Row {
    Row::from_values(vec![text(id), text(region), Value::Integer(score)])
}

fn write(id: &str, region: &str, score: i64) -> EffectOperation {
    EffectOperation::Write {
        keyed_state: "players".into(),
        key: text(id),
        value: player(id, region, score),
    }
}

fn accumulate(delta: i64, dedupe: &str, order_key: u64) -> EffectOperation {
    EffectOperation::Accumulate {
        accumulator: "cash".into(),
        delta,
        dedupe_id: dedupe.into(),
        order_key,
    }
}

#[tokio::test]
async fn an_effect_batch_applies_whole_or_is_rejected_writing_nothing() {
    let (_d, db) = open().await;
    let batch = EffectBatch {
        preconditions: vec![],
        effects: vec![accumulate(100, "d1", 1), write("a", "eu", 5)],
        events: vec![EffectEvent {
            event_name: "deposited".into(),
            event_key: "a".into(),
            data_json: r#"{"amount":100}"#.into(),
        }],
    };
    let applied = match db.commit_effect_batch(P, S, batch).await.unwrap() {
        EffectBatchCommitResult::Applied(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        db.accumulator_value_strong(P, S, "cash", AT).await.unwrap(),
        100
    );
    let page = db.read_event_stream(None, 0, 10, AT).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].commit_seq, applied.commit_seq, "one commit");

    // Needs 150 available: rejected, and nothing of the batch is written.
    let seq = db.storage().visible_seq();
    let batch = EffectBatch {
        preconditions: vec![EffectPrecondition::RequireAvailable {
            accumulator: "cash".into(),
            min_amount: 150,
        }],
        effects: vec![accumulate(-150, "d2", 2), write("b", "eu", 7)],
        events: vec![EffectEvent {
            event_name: "withdrawn".into(),
            event_key: "b".into(),
            data_json: "{}".into(),
        }],
    };
    let rejected = match db.commit_effect_batch(P, S, batch).await.unwrap() {
        EffectBatchCommitResult::Rejected(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(rejected.error_code, "available_below_min");
    assert_eq!(
        rejected.failed_precondition,
        "RequireAvailable(cash, min=150)"
    );
    // Available: the value less the default 10 % margin.
    assert_eq!(rejected.actual_value, 90);
    assert_eq!(
        db.accumulator_value_strong(P, S, "cash", AT).await.unwrap(),
        100
    );
    let b = db.keyed_state_read(P, S, "players", text("b"), AT).await;
    assert_eq!(b.unwrap(), None);
    let page = db.read_event_stream(None, 0, 10, AT).await.unwrap();
    assert_eq!(page.events.len(), 1, "the rejected batch emitted nothing");
    // Only the audit of the rejection was committed.
    assert_eq!(db.storage().visible_seq(), seq + 1);

    // Exposure margin: 90 available, 60 exposed; 50 more does not fit.
    let expose = |amount, id: &str| EffectOperation::Expose {
        accumulator: "cash".into(),
        amount,
        dedupe_id: id.into(),
    };
    let batch = |amount, id: &str| EffectBatch {
        preconditions: vec![EffectPrecondition::RequireExposureOk {
            accumulator: "cash".into(),
            amount,
        }],
        effects: vec![expose(amount, id)],
        events: vec![],
    };
    let r = db.commit_effect_batch(P, S, batch(60, "x1")).await.unwrap();
    assert!(matches!(r, EffectBatchCommitResult::Applied(_)), "{r:?}");
    let r = db.commit_effect_batch(P, S, batch(50, "x2")).await.unwrap();
    let EffectBatchCommitResult::Rejected(r) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.error_code, "exposure_margin_exceeded");
    assert_eq!(r.failed_precondition, "RequireExposureOk(cash, amount=50)");
    let release = EffectBatch {
        preconditions: vec![],
        effects: vec![EffectOperation::ReleaseExposure {
            accumulator: "cash".into(),
            dedupe_id: "x1".into(),
        }],
        events: vec![],
    };
    db.commit_effect_batch(P, S, release).await.unwrap();
    assert_eq!(
        db.accumulator_available(P, S, "cash", AT).await.unwrap(),
        90
    );

    // An empty batch, and an effect's own error, are errors.
    let empty = EffectBatch {
        preconditions: vec![],
        effects: vec![],
        events: vec![],
    };
    let e = db.commit_effect_batch(P, S, empty).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    let bad_key = EffectBatch {
        preconditions: vec![],
        effects: vec![EffectOperation::Write {
            keyed_state: "players".into(),
            key: text("c"),
            value: player("not-c", "eu", 1),
        }],
        events: vec![],
    };
    let seq = db.storage().visible_seq();
    assert!(db.commit_effect_batch(P, S, bad_key).await.is_err());
    assert_eq!(db.storage().visible_seq(), seq, "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_state_reads_writes_and_refuses_lost_updates() {
    let (_d, db) = open().await;
    let w = db
        .keyed_state_write(P, S, "players", text("a"), player("a", "eu", 3))
        .await
        .unwrap();
    let row = db.keyed_state_read(P, S, "players", text("a"), AT).await;
    assert_eq!(row.unwrap(), Some(player("a", "eu", 3)));
    let field = db
        .keyed_state_read_field(P, S, "players", text("a"), "score", AT)
        .await
        .unwrap();
    assert_eq!(field, Some(Value::Integer(3)));
    let e = db
        .keyed_state_read_field(P, S, "players", text("a"), "nope", AT)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no column \"nope\""), "{e}");
    // The key column must hold the key.
    let e = db
        .keyed_state_write(P, S, "players", text("b"), player("c", "eu", 1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");

    // Update: a closure over the current row.
    db.keyed_state_update(P, S, "players", text("a"), |row| {
        let mut row = row.expect("a exists");
        row.values[2] = Value::Integer(10);
        Ok(Some(row))
    })
    .await
    .unwrap();
    // An error from the closure commits nothing.
    let seq = db.storage().visible_seq();
    let e = db
        .keyed_state_update(P, S, "players", text("a"), |_| {
            Err(AedbError::Validation("no".into()))
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no"));
    assert_eq!(db.storage().visible_seq(), seq);
    // A concurrent change between the read and the commit: Conflict, not a
    // lost update.
    let racer = db.clone();
    let e = db
        .keyed_state_update(P, S, "players", text("a"), move |row| {
            let handle = tokio::runtime::Handle::current();
            std::thread::spawn(move || {
                handle.block_on(racer.keyed_state_write(
                    P,
                    S,
                    "players",
                    text("a"),
                    player("a", "us", 99),
                ))
            })
            .join()
            .unwrap()
            .unwrap();
            Ok(row)
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    let row = db.keyed_state_read(P, S, "players", text("a"), AT).await;
    assert_eq!(row.unwrap(), Some(player("a", "us", 99)));
    // Delete through update, then delete of a missing row.
    db.keyed_state_update(P, S, "players", text("a"), |_| Ok(None))
        .await
        .unwrap();
    assert_eq!(
        db.keyed_state_read(P, S, "players", text("a"), AT)
            .await
            .unwrap(),
        None
    );
    db.keyed_state_delete(P, S, "players", text("a"))
        .await
        .unwrap();
    // The past stays readable at its seq.
    let then = db
        .keyed_state_read(
            P,
            S,
            "players",
            text("a"),
            ConsistencyMode::AtSeq(w.commit_seq),
        )
        .await
        .unwrap();
    assert_eq!(then, Some(player("a", "eu", 3)));

    // Keyed state needs a one-column key; a missing table is NotFound.
    db.commit(create_table(
        "pairs",
        vec![
            col("a", ColumnType::Integer, false),
            col("b", ColumnType::Integer, false),
        ],
        &["a", "b"],
    ))
    .await
    .unwrap();
    let e = db
        .keyed_state_read(P, S, "pairs", Value::Integer(1), AT)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("one-column primary key"), "{e}");
    let e = db
        .keyed_state_read(P, S, "nope", Value::Integer(1), AT)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::TableNotFound, "{e}");
}

#[tokio::test]
async fn index_pages_and_ranks_agree_with_a_sorted_model() {
    let (_d, db) = open().await;
    let seed = aedb::pager::sim::test_seed("keyed state index", 0x1d5);
    let mut rng = fastrand::Rng::with_seed(seed);
    let regions = ["eu", "us", "ap"];
    let mut model: Vec<(String, String, i64)> = Vec::new();
    for chunk in 0..6 {
        let effects = (0..50)
            .map(|i| {
                let id = format!("p{:04}", chunk * 50 + i);
                let region = regions[rng.usize(0..regions.len())];
                let score = rng.i64(-500..500);
                model.push((id.clone(), region.to_string(), score));
                write(&id, region, score)
            })
            .collect();
        let batch = EffectBatch {
            preconditions: vec![],
            effects,
            events: vec![],
        };
        db.commit_effect_batch(P, S, batch).await.unwrap();
    }
    // Index order: region, score, then the key.
    model.sort_by(|a, b| (&a.1, a.2, &a.0).cmp(&(&b.1, b.2, &b.0)));
    let ids = |rows: &[Row]| -> Vec<String> {
        rows.iter()
            .map(|r| match &r.values[0] {
                Value::Text(s) => s.to_string(),
                v => panic!("{v:?}"),
            })
            .collect()
    };
    for _ in 0..40 {
        let prefix: Vec<Value> = match rng.u8(0..3) {
            0 => vec![],
            1 => vec![text(regions[rng.usize(0..3)])],
            _ => vec![
                text(regions[rng.usize(0..3)]),
                Value::Integer(rng.i64(-500..500)),
            ],
        };
        let (offset, limit) = (rng.usize(0..320), rng.usize(0..40));
        let req = KeyedStateQueryRequest {
            index_name: "by_region_score".into(),
            prefix: prefix.clone(),
            offset,
            limit,
        };
        let got = db
            .keyed_state_query_index(P, S, "players", req, AT)
            .await
            .unwrap();
        let want: Vec<String> = model
            .iter()
            .filter(|(_, region, score)| match prefix.as_slice() {
                [] => true,
                [Value::Text(r)] => region == r.as_str(),
                [Value::Text(r), Value::Integer(s)] => region == r.as_str() && score == s,
                _ => unreachable!(),
            })
            .skip(offset)
            .take(limit)
            .map(|m| m.0.clone())
            .collect();
        assert_eq!(
            ids(&got),
            want,
            "seed {seed}: prefix {prefix:?} offset {offset} limit {limit}"
        );
    }
    for (rank, (id, _, _)) in model.iter().enumerate().step_by(7) {
        let got = db
            .keyed_state_index_rank(P, S, "players", "by_region_score", text(id), AT)
            .await
            .unwrap();
        assert_eq!(got, Some(rank), "seed {seed}: rank of {id}");
    }
    let missing = db
        .keyed_state_index_rank(P, S, "players", "by_region_score", text("zz"), AT)
        .await
        .unwrap();
    assert_eq!(missing, None);
    let e = db
        .keyed_state_index_rank(P, S, "players", "nope", text("p0000"), AT)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::IndexNotFound, "{e}");
    let too_long = KeyedStateQueryRequest {
        index_name: "by_region_score".into(),
        prefix: vec![text("eu"), Value::Integer(1), text("x")],
        offset: 0,
        limit: 1,
    };
    let e = db
        .keyed_state_query_index(P, S, "players", too_long, AT)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
}

fn emit(key: &str, amount: i64) -> Mutation {
    Mutation::EmitEvent {
        project_id: P.into(),
        scope_id: S.into(),
        topic: "deposit".into(),
        event_key: key.into(),
        payload_json: format!(r#"{{"amount":{amount}}}"#),
    }
}

fn amount(payload: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(payload).unwrap();
    v["amount"].as_i64().unwrap()
}

#[tokio::test]
async fn processor_pull_and_commit_apply_each_event_once() {
    let (_d, db) = open().await;
    db.commit_many_atomic(vec![emit("a", 1), emit("b", 2)])
        .await
        .unwrap();
    db.emit_event(P, S, "other", "x".into(), "{}".into())
        .await
        .unwrap();
    db.commit_many_atomic(vec![emit("a", 4)]).await.unwrap();

    let pull = db.processor_pull("deposit", "totals", 10).await.unwrap();
    assert_eq!(pull.checkpoint_seq, 0);
    assert_eq!(pull.events.len(), 3, "only the topic's events");
    assert_eq!(pull.last_commit_seq, pull.events[2].commit_seq);
    let sum: i64 = pull.events.iter().map(|e| amount(&e.payload_json)).sum();
    let state = |v| Mutation::Upsert {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "players".into(),
        primary_key: vec![text("sum")],
        row: player("sum", "-", v),
    };
    db.processor_commit("totals", pull.last_commit_seq, vec![state(sum)])
        .await
        .unwrap();
    // A retry of the same commit (a crash after it landed): refused.
    let e = db
        .processor_commit("totals", pull.last_commit_seq, vec![state(sum * 2)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    let row = db.keyed_state_read(P, S, "players", text("sum"), AT).await;
    assert_eq!(row.unwrap(), Some(player("sum", "-", 7)));
    let lag = db.reactive_processor_lag("totals", AT).await.unwrap();
    assert_eq!(lag.checkpoint_seq, pull.last_commit_seq);
    // Nothing new to pull.
    let again = db.processor_pull("deposit", "totals", 10).await.unwrap();
    assert!(again.events.is_empty());
    assert_eq!(again.last_commit_seq, pull.last_commit_seq);
    // Past the head: refused.
    let head = db.storage().visible_seq();
    let e = db
        .processor_commit("totals", head + 5, vec![state(0)])
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    let e = db.processor_commit("totals", 0, vec![]).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    let e = db.processor_pull("deposit", "totals", 0).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
}

/// One context run: pulls up to `n` events and adds each to its key's row.
async fn derive(db: &AedbInstance, n: usize) -> Result<usize, AedbError> {
    let mut ctx = db.processor_context(P, S, "derive", "deposit");
    let events = ctx.pull(n).await?;
    for e in &events {
        let add = amount(&e.payload_json);
        let key = e.event_key.clone();
        ctx.update("players", text(&key), move |row| {
            let score = match row {
                Some(r) => match r.values[2] {
                    Value::Integer(s) => s,
                    _ => 0,
                },
                None => 0,
            };
            Ok(Some(player(&key, "-", score + add)))
        })
        .await?;
    }
    if let Some(e) = events.first() {
        let dedupe = format!("batch-{}", e.commit_seq);
        ctx.accumulate("cash", events.len() as i64, dedupe, e.commit_seq);
        ctx.emit("derived", e.event_key.clone(), "{}".into());
    }
    ctx.commit().await?;
    Ok(events.len())
}

#[tokio::test]
async fn a_processor_context_commits_state_and_checkpoint_together() {
    let (_d, db) = open().await;
    // Commits of two, two and three events: pulls of 3 take whole commits
    // (a commit larger than the limit comes whole).
    for n in [2, 2, 3] {
        let events = (0..n).map(|i| emit("a", 1 + i)).collect();
        db.commit_many_atomic(events).await.unwrap();
    }
    let mut ctx = db.processor_context(P, S, "derive", "deposit");
    let first = ctx.pull(3).await.unwrap();
    assert_eq!(first.len(), 2, "whole commits");
    let second = ctx.pull(1).await.unwrap();
    assert_eq!(second.len(), 2, "a second pull continues after the first");
    assert_eq!(ctx.pull(2).await.unwrap().len(), 3, "a larger commit whole");
    assert!(ctx.pull(3).await.unwrap().is_empty());
    // Staged writes are seen by the context's reads, not by others.
    ctx.write("players", text("a"), player("a", "-", 6));
    assert_eq!(
        ctx.read("players", text("a")).await.unwrap(),
        Some(player("a", "-", 6))
    );
    assert_eq!(
        db.keyed_state_read(P, S, "players", text("a"), AT)
            .await
            .unwrap(),
        None
    );
    ctx.delete("players", text("a"));
    assert_eq!(ctx.read("players", text("a")).await.unwrap(), None);
    ctx.write("players", text("a"), player("a", "-", 6));
    let q = ctx
        .query_index(
            "players",
            KeyedStateQueryRequest {
                index_name: "by_region_score".into(),
                prefix: vec![],
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(q.is_empty(), "committed state only");
    let c = ctx.commit().await.unwrap();
    let lag = db.reactive_processor_lag("derive", AT).await.unwrap();
    assert_eq!(
        lag.checkpoint_seq,
        c.commit_seq - 1,
        "past the three commits"
    );
    assert!(c.commit_seq > lag.checkpoint_seq);

    // Two workers pull the same events; one commit wins, the other is a
    // Conflict and writes nothing.
    db.commit_many_atomic(vec![emit("c", 5)]).await.unwrap();
    let mut one = db.processor_context(P, S, "derive", "deposit");
    let mut two = db.processor_context(P, S, "derive", "deposit");
    assert_eq!(one.pull(10).await.unwrap().len(), 1);
    assert_eq!(two.pull(10).await.unwrap().len(), 1);
    one.write("players", text("c"), player("c", "-", 5));
    two.write("players", text("c"), player("c", "-", 500));
    one.commit().await.unwrap();
    let e = two.commit().await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    assert_eq!(
        db.keyed_state_read(P, S, "players", text("c"), AT)
            .await
            .unwrap(),
        Some(player("c", "-", 5))
    );
    // A row read by a context and changed before its commit: Conflict.
    db.commit_many_atomic(vec![emit("c", 1)]).await.unwrap();
    let mut ctx = db.processor_context(P, S, "derive", "deposit");
    ctx.pull(10).await.unwrap();
    assert!(ctx.read("players", text("c")).await.unwrap().is_some());
    db.keyed_state_write(P, S, "players", text("c"), player("c", "-", 0))
        .await
        .unwrap();
    ctx.write("players", text("c"), player("c", "-", 6));
    let e = ctx.commit().await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Conflict, "{e}");
    // Nothing pulled and nothing staged: an error, not an empty commit.
    let ctx = db.processor_context(P, S, "derive", "deposit");
    assert_eq!(
        ctx.commit().await.unwrap_err().code(),
        AedbErrorCode::Validation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_contexts_apply_every_event_exactly_once() {
    let (_d, db) = open().await;
    let seed = aedb::pager::sim::test_seed("racing processor contexts", 0x7ace);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut want = std::collections::BTreeMap::<String, i64>::new();
    for _ in 0..60 {
        let events: Vec<Mutation> = (0..rng.usize(1..4))
            .map(|_| {
                let key = format!("k{}", rng.u8(0..5));
                let add = rng.i64(1..100);
                *want.entry(key.clone()).or_default() += add;
                emit(&key, add)
            })
            .collect();
        db.commit_many_atomic(events).await.unwrap();
    }
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move {
                let (mut applied, mut conflicts) = (0, 0);
                loop {
                    match derive(&db, 1 + w).await {
                        Ok(0) => break,
                        Ok(n) => applied += n,
                        Err(e) if e.code() == AedbErrorCode::Conflict => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                (applied, conflicts)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        let (applied, conflicts) = w.await.unwrap();
        println!("worker: {applied} events applied, {conflicts} conflicts");
        total += applied;
    }
    let events: usize = db
        .read_event_stream(Some("deposit"), 0, 1000, AT)
        .await
        .unwrap()
        .events
        .len();
    assert_eq!(total, events, "seed {seed}: every event applied once");
    for (key, sum) in want {
        let row = db.keyed_state_read(P, S, "players", text(&key), AT).await;
        assert_eq!(
            row.unwrap(),
            Some(player(&key, "-", sum)),
            "seed {seed}: {key}"
        );
    }
}
