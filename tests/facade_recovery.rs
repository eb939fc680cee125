//! The facade across reopens: after a clean shutdown (nothing to replay, all
//! data, catalog and indexes back), and after a crash at every persistence call
//! of a table workload on the simulated file system (three crash images each):
//! the reopened database holds exactly a committed state at or after the last
//! durable acknowledgement, its indexes agree with its rows, its grants are
//! those of that state, an idempotent envelope's record is there exactly when
//! its effect is (a replay is a `Duplicate` of the recovered commit, or applies
//! if the effect was lost), and it takes new commits.

mod facade_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use aedb::catalog::DdlOperation;
use aedb::catalog::types::{Row, Value};
use aedb::commit::tx::{IdempotencyKey, ReadSet, TransactionEnvelope, WriteClass, WriteIntent};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::feed::{ChangeFilter, ChangeTarget, ChangeValue};
use aedb::pager::sim::SimFs;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::{Expr, Query, QueryOptions};
use aedb::{AedbError, AedbInstance, IdempotencyOutcome};
use facade_common::*;

/// The `users` rows by id; a grant the workload gives (`reader` may read
/// `users`) is the pseudo-row `GRANTED`, so one comparison covers both.
type Model = Option<BTreeMap<i64, Vec<Value>>>;

const GRANTED: i64 = i64::MIN;

/// The workload's events as a pseudo-row: [how many the stream holds].
const EVENTS: i64 = i64::MIN + 2;

/// The workload's accumulator as a pseudo-row: [strong value, exposure,
/// materialized value], read back after a crash like the rows.
const ACC: i64 = i64::MIN + 1;

fn reader_grant() -> Permission {
    Permission::TableRead {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
    }
}

fn config() -> AedbConfig {
    AedbConfig {
        max_segment_bytes: 1500,
        max_scan_rows: 100_000,
        change_feed_retain_commits: 100_000,
        ..AedbConfig::default()
    }
}

/// The `users` rows the change feed describes: every row change from seq 0
/// applied in order. After any crash it must be the recovered table.
async fn rows_from_the_feed(db: &AedbInstance) -> Result<BTreeMap<i64, Vec<Value>>, String> {
    let mut sub = db
        .subscribe_commits(0, ChangeFilter::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = BTreeMap::new();
    while let Some(c) = sub.try_next().map_err(|e| e.to_string())? {
        let ChangeTarget::Row { primary_key, .. } = &c.target else {
            continue;
        };
        let Some(Value::Integer(id)) = primary_key.first() else {
            return Err(format!("unexpected key {primary_key:?}"));
        };
        match c.new {
            Some(ChangeValue::Row(r)) => rows.insert(*id, r.values),
            _ => rows.remove(id),
        };
    }
    Ok(rows)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The `users` rows as the table and as the `by_age` index see them; an error if
/// they disagree (a lost or stale index entry).
async fn read_users(db: &AedbInstance) -> Result<Model, String> {
    let tables = db.list_tables(P, S).await;
    if matches!(&tables, Err(AedbError::NotFound { .. }))
        || tables.as_ref().is_ok_and(|t| t.is_empty())
    {
        return Ok(None);
    }
    let all = db
        .query(P, S, Query::select(&["*"]).from("users"))
        .await
        .map_err(|e| e.to_string())?;
    let rows: BTreeMap<i64, Vec<Value>> = all
        .rows
        .into_iter()
        .map(|r| {
            (
                if let Value::Integer(i) = r.values[0] {
                    i
                } else {
                    -1
                },
                r.values,
            )
        })
        .collect();
    if db
        .list_indexes(P, S, "users")
        .await
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Ok(Some(rows));
    }
    let opts = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    let via_index = db
        .query_with_options(
            P,
            S,
            Query::select(&["*"])
                .from("users")
                .where_(Expr::Gte("age".into(), Value::Integer(i64::MIN)))
                .use_index("by_age"),
            opts,
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = rows;
    let at = aedb::query::plan::ConsistencyMode::AtLatest;
    if let Ok(strong) = db.accumulator_value_strong(P, S, "bank", at).await {
        let exposure = db
            .accumulator_exposure(P, S, "bank", at)
            .await
            .map_err(|e| e.to_string())?;
        let value = db
            .accumulator_value(P, S, "bank", at)
            .await
            .map_err(|e| e.to_string())?;
        rows.insert(
            ACC,
            vec![
                Value::Integer(strong),
                Value::Integer(exposure),
                Value::Integer(value),
            ],
        );
    }
    let events = db
        .read_event_stream(None, 0, 1_000, at)
        .await
        .map_err(|e| e.to_string())?;
    if !events.events.is_empty() {
        rows.insert(EVENTS, vec![Value::Integer(events.events.len() as i64)]);
    }
    let reader = CallerContext::new("reader");
    let q = Query::select(&["id"]).from("users").limit(1);
    if db.query_as(&reader, P, S, q).await.is_ok() {
        rows.insert(GRANTED, vec![Value::Text("reader may read".into())]);
    }
    let with_age: Vec<&Vec<Value>> = rows
        .iter()
        .filter(|(id, r)| **id != GRANTED && **id != ACC && **id != EVENTS && !r[2].is_null())
        .map(|(_, r)| r)
        .collect();
    let mut indexed: Vec<Vec<Value>> = via_index.rows.into_iter().map(|r| r.values).collect();
    indexed.sort();
    if indexed.iter().collect::<Vec<_>>() != with_age {
        return Err(format!(
            "index by_age disagrees with the rows: {indexed:?} vs {with_age:?}"
        ));
    }
    Ok(Some(rows))
}

/// What a workload got through: the model after each acknowledged commit, the
/// commit in flight when it stopped, and the last durable acknowledgement.
#[derive(Default)]
struct Run {
    states: Vec<(u64, Model)>,
    in_flight: Option<(u64, Model)>,
    durable: u64,
}

impl Run {
    /// Before any DDL: the empty database (seq 0), its catalog bootstrap (seq
    /// 1), or its `_system` audit tables (seq 2).
    fn new() -> Run {
        Run {
            states: vec![(0, None), (1, None), (2, None)],
            ..Run::default()
        }
    }

    async fn commit(
        &mut self,
        db: &AedbInstance,
        m: Mutation,
        after: Model,
    ) -> Result<(), AedbError> {
        self.in_flight = Some((db.storage().visible_seq() + 1, after.clone()));
        let r = db.commit(m).await?;
        self.in_flight = None;
        self.states.push((r.commit_seq, after));
        self.durable = r.commit_seq;
        Ok(())
    }

    /// `commit`, of several mutations in one commit.
    async fn commit_batch(
        &mut self,
        db: &AedbInstance,
        ms: Vec<Mutation>,
        after: Model,
    ) -> Result<(), AedbError> {
        self.in_flight = Some((db.storage().visible_seq() + 1, after.clone()));
        let r = db.commit_many_atomic(ms).await?;
        self.in_flight = None;
        self.states.push((r.commit_seq, after));
        self.durable = r.commit_seq;
        Ok(())
    }

    /// `commit`, of the workload's idempotent envelope.
    async fn commit_keyed(&mut self, db: &AedbInstance, after: Model) -> Result<(), AedbError> {
        self.in_flight = Some((db.storage().visible_seq() + 1, after.clone()));
        let r = db.commit_envelope(keyed_envelope()).await?;
        self.in_flight = None;
        self.states.push((r.commit_seq, after));
        self.durable = r.commit_seq;
        Ok(())
    }

    /// Whether a recovered (seq, state) is one this run may leave behind.
    fn accepts(&self, seq: u64, got: &Model) -> bool {
        seq >= self.durable
            && self
                .states
                .iter()
                .chain(self.in_flight.iter())
                .any(|(s, m)| *s == seq && m == got)
    }
}

/// The workload's accumulator delta at step `i` (dedupe key `d<i>`).
fn bank_delta(i: i64) -> Mutation {
    Mutation::Accumulate {
        project_id: P.into(),
        scope_id: S.into(),
        accumulator_name: "bank".into(),
        delta: 100 * i,
        dedupe_key: format!("d{i}"),
        order_key: i as u64,
        release_exposure_id: None,
    }
}

/// The row the workload's idempotent envelope writes.
const KEYED: i64 = 777;

fn keyed_envelope() -> TransactionEnvelope {
    TransactionEnvelope {
        caller: None,
        idempotency_key: Some(IdempotencyKey([0x77; 16])),
        write_class: WriteClass::Standard,
        assertions: vec![],
        read_set: ReadSet::default(),
        write_intent: WriteIntent {
            mutations: vec![insert_user(KEYED, "keyed", None)],
        },
        base_seq: 0,
    }
}

/// The workload: catalog, then commits of inserts, upserts, deletes, a grant
/// and its revoke, an idempotent envelope and a checkpoint.
async fn workload(db: &AedbInstance, run: &mut Run) -> Result<(), AedbError> {
    run.commit(
        db,
        Mutation::Ddl(aedb::catalog::DdlOperation::CreateProject {
            project_id: P.into(),
            owner_id: None,
            if_not_exists: true,
        }),
        None,
    )
    .await?;
    let mut model = BTreeMap::new();
    run.commit(
        db,
        create_table("users", users_columns(), &["id"]),
        Some(model.clone()),
    )
    .await?;
    run.commit(db, create_by_age(), Some(model.clone())).await?;
    model.insert(ACC, vec![Value::Integer(0); 3]);
    run.commit(
        db,
        Mutation::Ddl(DdlOperation::CreateAccumulator {
            project_id: P.into(),
            scope_id: S.into(),
            accumulator_name: "bank".into(),
            if_not_exists: false,
            value_type: aedb::catalog::schema::AccumulatorValueType::BigInt,
            dedupe_retain_commits: None,
            snapshot_every: 3,
            exposure_margin_bps: 1_000,
            exposure_ttl_commits: None,
        }),
        Some(model.clone()),
    )
    .await?;
    let mut bank = (0i64, 0i64, 0i64);
    for i in 0..12i64 {
        if i % 3 == 1 {
            // A delta of 100 * i; projected every third.
            bank.0 += 100 * i;
            if i == 7 {
                bank.2 = bank.0;
            }
            model.insert(
                ACC,
                vec![
                    Value::Integer(bank.0),
                    Value::Integer(bank.1),
                    Value::Integer(bank.2),
                ],
            );
            run.commit(db, bank_delta(i), Some(model.clone())).await?;
        }
        if i == 2 || i == 10 {
            let n = if i == 2 { 2 } else { 3 };
            let emitted = model.get(&EVENTS).map_or(0, |r| match r[0] {
                Value::Integer(c) => c,
                _ => 0,
            });
            model.insert(EVENTS, vec![Value::Integer(emitted + n)]);
            let batch = (0..n)
                .map(|k| Mutation::EmitEvent {
                    project_id: P.into(),
                    scope_id: S.into(),
                    topic: "workload".into(),
                    event_key: format!("{i}.{k}"),
                    payload_json: format!("{{\"i\":{i}}}"),
                })
                .collect::<Vec<_>>();
            run.commit_batch(db, batch, Some(model.clone())).await?;
        }
        if i == 8 {
            bank.1 += 50;
            model.insert(
                ACC,
                vec![
                    Value::Integer(bank.0),
                    Value::Integer(bank.1),
                    Value::Integer(bank.2),
                ],
            );
            let expose = Mutation::ExposeAccumulator {
                project_id: P.into(),
                scope_id: S.into(),
                accumulator_name: "bank".into(),
                amount: 50,
                exposure_id: "hold".into(),
            };
            run.commit(db, expose, Some(model.clone())).await?;
        }
        let m = match i % 4 {
            0 | 1 => {
                let rows: Vec<Row> = (0..3)
                    .map(|j| user(i * 10 + j, &format!("n{i}{j}"), (j != 1).then_some(i + j)))
                    .collect();
                for r in &rows {
                    model.insert(
                        if let Value::Integer(id) = r.values[0] {
                            id
                        } else {
                            0
                        },
                        r.values.clone(),
                    );
                }
                Mutation::UpsertBatch {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "users".into(),
                    rows,
                }
            }
            2 => {
                let id = (i - 2) * 10;
                model.remove(&id);
                Mutation::Delete {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "users".into(),
                    primary_key: vec![Value::Integer(id)],
                }
            }
            _ => {
                let r = user(i * 10 - 9, "moved", Some(99));
                model.insert(i * 10 - 9, r.values.clone());
                Mutation::Upsert {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "users".into(),
                    primary_key: vec![Value::Integer(i * 10 - 9)],
                    row: r,
                }
            }
        };
        run.commit(db, m, Some(model.clone())).await?;
        if i == 6 {
            db.checkpoint_now().await?;
        }
        if i == 3 {
            model.insert(GRANTED, vec![Value::Text("reader may read".into())]);
            let grant = DdlOperation::GrantPermission {
                caller_id: "reader".into(),
                permission: reader_grant(),
                actor_id: None,
                delegable: false,
            };
            run.commit(db, Mutation::Ddl(grant), Some(model.clone()))
                .await?;
        }
        if i == 5 {
            model.insert(KEYED, user(KEYED, "keyed", None).values);
            run.commit_keyed(db, Some(model.clone())).await?;
        }
        if i == 9 {
            model.remove(&GRANTED);
            let revoke = DdlOperation::RevokePermission {
                caller_id: "reader".into(),
                permission: reader_grant(),
                actor_id: None,
            };
            run.commit(db, Mutation::Ddl(revoke), Some(model.clone()))
                .await?;
        }
    }
    Ok(())
}

fn open_sim(fs: &SimFs) -> Result<AedbInstance, AedbError> {
    AedbInstance::open_with_vfs(config(), Arc::new(fs.clone()), Path::new("/db"))
}

#[test]
fn crash_at_every_call_recovers_a_committed_state() {
    let rt = rt();
    let seed = aedb::pager::sim::test_seed("facade_crash", 0xfacade);
    let clean = SimFs::new(seed);
    rt.block_on(async {
        let db = open_sim(&clean).expect("open");
        workload(&db, &mut Run::new()).await.expect("clean run");
    });
    let calls = clean.calls();
    println!("facade crash matrix: {calls} crash points x 3 images");
    for crash_at in 0..calls {
        let mut run = Run::new();
        let images = crash_images(seed, crash_at, |fs| {
            rt.block_on(async {
                if let Ok(db) = open_sim(fs) {
                    let _ = workload(&db, &mut run).await;
                }
            })
        });
        for (ctx, image) in images {
            rt.block_on(async {
                let db = open_sim(&image).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                // Before reading: a denied `query_as` of `reader` is audited
                // in a commit of its own.
                let seq = db.storage().visible_seq();
                let got = read_users(&db).await.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert!(run.accepts(seq, &got), "{ctx}: recovered seq {seq} ({got:?}) is no committed state at or after durable {}", run.durable);
                // A delta's dedupe key survived exactly with the delta: a
                // replay is a duplicate when its effect is there.
                if let Some(acc) = got.as_ref().and_then(|r| r.get(&ACC)) {
                    // Delta 1 (100) is the first: the value is 0 without it.
                    let applied = acc[0] != Value::Integer(0);
                    let replay = db.commit(bank_delta(1)).await.unwrap_or_else(|e| panic!("{ctx}: replay: {e}"));
                    let expected = if applied { IdempotencyOutcome::Duplicate } else { IdempotencyOutcome::Applied };
                    assert_eq!(replay.idempotency, expected, "{ctx}: replay of delta 1 on {acc:?}");
                }
                // The change log survived exactly with the rows it describes.
                let fed = rows_from_the_feed(&db).await.unwrap_or_else(|e| panic!("{ctx}: feed: {e}"));
                let table: BTreeMap<i64, Vec<Value>> = got.clone().unwrap_or_default().into_iter().filter(|(id, _)| *id != GRANTED && *id != ACC && *id != EVENTS).collect();
                assert_eq!(fed, table, "{ctx}: the change feed disagrees with the recovered rows");
                // The idempotency record survived exactly with its effect.
                if let Some(rows) = &got {
                    let replay = db.commit_envelope(keyed_envelope()).await.unwrap_or_else(|e| panic!("{ctx}: replay: {e}"));
                    let expected = if rows.contains_key(&KEYED) { IdempotencyOutcome::Duplicate } else { IdempotencyOutcome::Applied };
                    assert_eq!(replay.idempotency, expected, "{ctx}: replay of the keyed envelope");
                }
                // The recovered database takes commits.
                db.create_project("after").await.unwrap_or_else(|e| panic!("{ctx}: commit after recovery: {e}"));
                let report = db.storage().check().expect("check");
                assert!(report.is_ok(), "{ctx}: {report:?}");
            });
        }
    }
}

#[tokio::test]
async fn reopen_after_clean_shutdown_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new();
    let before;
    {
        let db = AedbInstance::open(config(), dir.path()).unwrap();
        workload(&db, &mut run).await.unwrap();
        before = read_users(&db).await.unwrap();
        db.shutdown().await.unwrap();
    }
    let db = AedbInstance::open(config(), dir.path()).unwrap();
    assert_eq!(db.recovery_report().replayed, 0);
    assert_eq!(read_users(&db).await.unwrap(), before);
    assert_eq!(before, run.states.last().unwrap().1);
    // The catalog came back whole: a duplicate index name is still refused.
    let dup = db.commit(create_by_age()).await.unwrap_err();
    assert_eq!(dup.code(), aedb::AedbErrorCode::IndexAlreadyExists);
    // A second instance on the same directory is refused while this one is open.
    assert!(AedbInstance::open(config(), dir.path()).is_err());
}

#[tokio::test]
async fn reopen_without_shutdown_replays_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new();
    let config = AedbConfig {
        checkpoint_interval_ms: 3_600_000,
        ..config()
    };
    {
        let db = AedbInstance::open(config.clone(), dir.path()).unwrap();
        workload(&db, &mut run).await.unwrap();
        // Simulate a process that dies without closing: leak the instance.
        std::mem::forget(db);
    }
    // The flock belongs to the leaked file descriptors of this process, so copy the
    // files to a fresh directory (what a restarted process would find).
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let db = AedbInstance::open(config, copy.path()).unwrap();
    assert!(
        db.recovery_report().replayed > 0,
        "{:?}",
        db.recovery_report()
    );
    assert_eq!(read_users(&db).await.unwrap(), run.states.last().unwrap().1);
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
