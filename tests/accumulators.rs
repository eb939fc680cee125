//! Accumulators against an in-memory model: random accumulates (fresh, repeated,
//! conflicting and out-of-order dedupe and order keys), exposures, releases,
//! expiry, projector runs and reopens; every reading (value, strong value, lag,
//! exposure, available, metrics) agrees with the model at every step and at a
//! retained earlier `AtSeq`. Also: 64 tasks exposing against one accumulator
//! never over-reserve; the DDL and its errors.
//!
//! Seeded; `AEDB_SEED=<n>` replays a failure.

use std::collections::BTreeMap;
use std::sync::Arc;

use aedb::catalog::DdlOperation;
use aedb::catalog::schema::AccumulatorValueType;
use aedb::commit::validation::Mutation;
use aedb::error::AedbErrorCode;
use aedb::query::plan::ConsistencyMode;
use aedb::{
    AccumulatorExposureMetrics, AccumulatorLag, AedbError, AedbInstance, IdempotencyOutcome,
};

const P: &str = "casino";
const S: &str = "app";
const A: &str = "house";
const SNAPSHOT_EVERY: u64 = 4;
const MARGIN_BPS: u32 = 1_000;
const TTL: u64 = 6;
const RETAIN: u64 = 10;

/// The accumulator as the model keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    materialized: i64,
    pending: i64,
    unapplied: u64,
    last_applied: u64,
    latest: u64,
    latest_seq: u64,
    materialized_seq: u64,
    /// id → (amount, opened at seq)
    exposures: BTreeMap<String, (i64, u64)>,
    rejections: u64,
    /// dedupe key → (order key, delta, seq)
    dedupe: BTreeMap<String, (u64, i64, u64)>,
}

/// Everything a reader sees at one seq.
#[derive(Debug, Clone, PartialEq)]
struct Readings {
    value: i64,
    strong: i64,
    lag: AccumulatorLag,
    exposure: i64,
    available: i64,
    metrics: AccumulatorExposureMetrics,
}

fn available(effective: i64, exposure: i64) -> i64 {
    (i128::from(effective) * (10_000 - i128::from(MARGIN_BPS)) / 10_000 - i128::from(exposure))
        as i64
}

impl Model {
    fn effective(&self) -> i64 {
        self.materialized + self.pending
    }

    /// Open exposures at snapshot `seq` (opened at s, gone from s + TTL on).
    fn live(&self, seq: u64) -> impl Iterator<Item = (&String, &(i64, u64))> {
        self.exposures
            .iter()
            .filter(move |(_, (_, s))| s + TTL > seq)
    }

    fn prune(&mut self, seq: u64) {
        self.exposures.retain(|_, (_, s)| *s + TTL > seq);
    }

    fn readings(&self, seq: u64) -> Readings {
        let exposure: i64 = self.live(seq).map(|(_, (a, _))| a).sum();
        let open = self.live(seq).count();
        let available = available(self.effective(), exposure);
        Readings {
            value: self.materialized,
            strong: self.effective(),
            lag: AccumulatorLag {
                latest_order_key: self.latest,
                last_applied_order_key: self.last_applied,
                lag_orders: self.latest - self.last_applied,
                latest_seq: self.latest_seq,
                materialized_seq: self.materialized_seq,
                lag_commits: self.latest_seq.saturating_sub(self.materialized_seq),
                unapplied_deltas: self.unapplied as usize,
                projector_error: None,
            },
            exposure,
            available,
            metrics: AccumulatorExposureMetrics {
                total_exposure: exposure,
                available,
                rejection_count: self.rejections,
                open_exposure_count: open,
            },
        }
    }

    fn project(&mut self, seq: u64) {
        self.materialized += self.pending;
        self.pending = 0;
        self.unapplied = 0;
        self.last_applied = self.latest;
        self.materialized_seq = seq;
    }
}

async fn read(db: &AedbInstance, at: ConsistencyMode) -> Result<Readings, AedbError> {
    Ok(Readings {
        value: db.accumulator_value(P, S, A, at).await?,
        strong: db.accumulator_value_strong(P, S, A, at).await?,
        lag: db.accumulator_lag(P, S, A, at).await?,
        exposure: db.accumulator_exposure(P, S, A, at).await?,
        available: db.accumulator_available(P, S, A, at).await?,
        metrics: db.accumulator_exposure_metrics(P, S, A, at).await?,
    })
}

async fn open(dir: &std::path::Path) -> AedbInstance {
    AedbInstance::open(Default::default(), dir).expect("open")
}

async fn create(db: &AedbInstance) {
    db.create_accumulator_with_options(
        P,
        S,
        A,
        Some(RETAIN),
        SNAPSHOT_EVERY,
        MARGIN_BPS,
        Some(TTL),
    )
    .await
    .expect("create");
}

/// The outcome the model predicts for an accumulate at commit `n`.
enum Predicted {
    Applied,
    Duplicate(u64),
    Fails(AedbErrorCode),
}

#[tokio::test]
async fn accumulators_match_the_model() {
    let seed = aedb::pager::sim::test_seed("accumulators", 0xacc);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path()).await;
    db.create_project(P).await.unwrap();
    create(&db).await;
    let mut m = Model::default();
    let mut history: Vec<(u64, Readings)> = Vec::new();
    let mut next_key = 0u32;
    let mut next_exposure = 0u32;
    let mut counts = BTreeMap::<&str, u32>::new();
    // Fund it.
    let r = db
        .accumulate(P, S, A, 50_000, "fund".into(), 1)
        .await
        .unwrap();
    m.pending = 50_000;
    m.unapplied = 1;
    m.latest = 1;
    m.latest_seq = r.commit_seq;
    m.dedupe.insert("fund".into(), (1, 50_000, r.commit_seq));
    for step in 0..400 {
        let ctx = format!("seed {seed} step {step}");
        let n = db.storage().visible_seq() + 1;
        match rng.u8(0..10) {
            0..=3 => {
                // An accumulate: fresh, a repeat, a conflicting repeat, or out of order.
                let live_keys: Vec<_> = m
                    .dedupe
                    .iter()
                    .filter(|(_, (_, _, s))| n - s < RETAIN)
                    .map(|(k, v)| (k.clone(), *v))
                    .collect();
                let kind = rng.u8(0..10);
                let (key, ok, delta) = match (kind, live_keys.is_empty()) {
                    (0 | 1, false) => {
                        let (k, (ok, d, _)) = live_keys[rng.usize(..live_keys.len())].clone();
                        if kind == 0 {
                            (k, ok, d)
                        } else {
                            (k, ok, d + 1)
                        }
                    }
                    (2, _) => {
                        next_key += 1;
                        (
                            format!("k{next_key}"),
                            m.latest.saturating_sub(rng.u64(0..2)),
                            5,
                        )
                    }
                    _ => {
                        next_key += 1;
                        (
                            format!("k{next_key}"),
                            m.latest + rng.u64(1..4),
                            rng.i64(-3_000..3_000),
                        )
                    }
                };
                let release = (rng.u8(0..3) == 0)
                    .then(|| m.exposures.keys().next().cloned())
                    .flatten();
                let predicted = match m.dedupe.get(&key) {
                    Some(&(o, d, s)) if n - s < RETAIN => {
                        if (o, d) == (ok, delta) {
                            Predicted::Duplicate(s)
                        } else {
                            Predicted::Fails(AedbErrorCode::Validation)
                        }
                    }
                    _ if ok <= m.latest => Predicted::Fails(AedbErrorCode::OrderKeyNotIncreasing),
                    _ => Predicted::Applied,
                };
                let r = db
                    .accumulate_with_release(P, S, A, delta, key.clone(), ok, release.clone())
                    .await;
                match (predicted, r) {
                    (Predicted::Applied, Ok(r)) => {
                        *counts.entry("applied").or_default() += 1;
                        assert_eq!(r.commit_seq, n, "{ctx}");
                        m.prune(n);
                        m.pending += delta;
                        m.unapplied += 1;
                        m.latest = ok;
                        m.latest_seq = n;
                        m.dedupe.insert(key, (ok, delta, n));
                        if let Some(id) = release {
                            m.exposures.remove(&id);
                        }
                        if m.unapplied >= SNAPSHOT_EVERY {
                            m.project(n);
                        }
                    }
                    (Predicted::Duplicate(s), Ok(r)) => {
                        *counts.entry("duplicate").or_default() += 1;
                        assert_eq!(
                            (r.idempotency, r.canonical_commit_seq),
                            (IdempotencyOutcome::Duplicate, s),
                            "{ctx}"
                        );
                        assert_eq!(
                            db.storage().visible_seq(),
                            n - 1,
                            "{ctx}: a duplicate commits nothing"
                        );
                    }
                    (Predicted::Fails(code), Err(e)) => {
                        *counts.entry("refused").or_default() += 1;
                        assert_eq!(e.code(), code, "{ctx}: {e}");
                    }
                    (_, r) => panic!(
                        "{ctx}: accumulate {key} ok {ok} delta {delta}: model and engine disagree: {r:?}"
                    ),
                }
            }
            4 | 5 => {
                let amount = rng.i64(1..20_000);
                next_exposure += 1;
                let id = format!("x{next_exposure}");
                m.prune(n);
                let open: i64 = m.exposures.values().map(|(a, _)| a).sum();
                let left = available(m.effective(), open);
                match db.expose_accumulator(P, S, A, amount, id.clone()).await {
                    Ok(r) => {
                        assert!(
                            amount <= left,
                            "{ctx}: {amount} reserved with {left} available"
                        );
                        m.exposures.insert(id, (amount, r.commit_seq));
                        *counts.entry("exposed").or_default() += 1;
                    }
                    Err(AedbError::ExposureRejected { available, .. }) => {
                        assert!(
                            amount > left,
                            "{ctx}: {amount} refused with {left} available"
                        );
                        assert_eq!(available, left, "{ctx}");
                        // Counted in a commit of its own.
                        m.rejections += 1;
                        *counts.entry("rejected").or_default() += 1;
                    }
                    Err(e) => panic!("{ctx}: {e}"),
                }
            }
            6 => {
                let id = if rng.bool() {
                    m.exposures
                        .keys()
                        .next()
                        .cloned()
                        .unwrap_or_else(|| "none".into())
                } else {
                    "none".into()
                };
                db.release_accumulator_exposure(P, S, A, id.clone())
                    .await
                    .unwrap();
                m.prune(n);
                m.exposures.remove(&id);
            }
            7 => {
                db.project_accumulator(P, S, A).await.unwrap();
                m.prune(n);
                m.project(n);
                *counts.entry("projected").or_default() += 1;
            }
            8 => {
                // Time passes: a commit elsewhere.
                db.kv_set(P, S, b"tick".to_vec(), vec![step as u8])
                    .await
                    .unwrap();
            }
            _ => {
                if rng.u8(0..4) == 0 {
                    drop(db);
                    db = open(dir.path()).await;
                    history.clear(); // snapshots before a reopen are not retained
                    *counts.entry("reopened").or_default() += 1;
                }
            }
        }
        let seq = db.storage().visible_seq();
        let expected = m.readings(seq);
        let got = read(&db, ConsistencyMode::AtLatest).await.unwrap();
        assert_eq!(got, expected, "{ctx} at seq {seq}");
        history.push((seq, expected));
        // A retained earlier seq reads as it did then.
        let back = history.len().saturating_sub(1 + rng.usize(0..20));
        let (old, then) = history[back].clone();
        let got = read(&db, ConsistencyMode::AtSeq(old)).await.unwrap();
        assert_eq!(got, then, "{ctx}: AtSeq({old})");
    }
    println!("accumulator model: {counts:?}");
    for k in [
        "applied",
        "duplicate",
        "refused",
        "exposed",
        "rejected",
        "projected",
        "reopened",
    ] {
        assert!(
            counts.get(k).copied().unwrap_or(0) > 0,
            "seed {seed}: no {k} step"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_exposures_never_over_reserve() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(open(dir.path()).await);
    db.create_project(P).await.unwrap();
    // No exposure TTL: every reservation stays open.
    db.create_accumulator(P, S, A, None, SNAPSHOT_EVERY)
        .await
        .unwrap();
    db.accumulate(P, S, A, 10_000, "fund".into(), 1)
        .await
        .unwrap();
    // 9,000 available (10 % margin); 64 tasks try 5 x 100 each = 32,000.
    let mut handles = Vec::new();
    for t in 0..64 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut reserved = 0i64;
            for i in 0..5 {
                match db
                    .expose_accumulator(P, S, A, 100, format!("t{t}-{i}"))
                    .await
                {
                    Ok(_) => reserved += 100,
                    Err(AedbError::ExposureRejected { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            reserved
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    let at = ConsistencyMode::AtLatest;
    assert_eq!(total, 9_000, "exactly what was available, no more");
    assert_eq!(db.accumulator_exposure(P, S, A, at).await.unwrap(), 9_000);
    assert_eq!(db.accumulator_available(P, S, A, at).await.unwrap(), 0);
    let metrics = db.accumulator_exposure_metrics(P, S, A, at).await.unwrap();
    assert_eq!(metrics.rejection_count, 320 - 90);
    assert_eq!(metrics.open_exposure_count, 90);
}

#[tokio::test]
async fn accumulator_ddl_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path()).await;
    db.create_project(P).await.unwrap();
    create(&db).await;
    // The same settings again: a no-op; other settings: a conflict.
    create(&db).await;
    let e = db.create_accumulator(P, S, A, None, 7).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::AccumulatorAlreadyExists, "{e}");
    let e = db
        .create_accumulator(P, S, "zero", None, 0)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    let e = db
        .accumulate(P, S, "missing", 1, "k".into(), 1)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::AccumulatorNotFound, "{e}");
    let e = db
        .accumulator_value(P, S, "missing", ConsistencyMode::AtLatest)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::AccumulatorNotFound, "{e}");
    let e = db
        .expose_accumulator(P, S, A, 0, "zero".into())
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    db.accumulate(P, S, A, 5, "a".into(), 10).await.unwrap();
    let e = db.accumulate(P, S, A, 5, "b".into(), 10).await.unwrap_err();
    assert!(
        matches!(
            e,
            AedbError::OrderKeyNotIncreasing {
                latest: 10,
                got: 10,
                ..
            }
        ),
        "{e}"
    );
    // A repeated delta beside another mutation: the commit applies the other
    // one and is not reported as a duplicate.
    let r = db
        .commit_many_atomic(vec![
            Mutation::Accumulate {
                project_id: P.into(),
                scope_id: S.into(),
                accumulator_name: A.into(),
                delta: 5,
                dedupe_key: "a".into(),
                order_key: 10,
                release_exposure_id: None,
            },
            // DDL reports no affected rows: the commit must still apply it.
            Mutation::Ddl(DdlOperation::CreateScope {
                project_id: P.into(),
                scope_id: "beside".into(),
                owner_id: None,
                if_not_exists: false,
            }),
        ])
        .await
        .unwrap();
    assert_eq!(r.idempotency, IdempotencyOutcome::Applied);
    let scopes = db.list_scopes(P).await.unwrap();
    assert!(
        scopes.iter().any(|s| s == "beside"),
        "the other mutation was committed: {scopes:?}"
    );
    // Dropping forgets it; creating it again starts from zero.
    db.drop_accumulator(P, S, A).await.unwrap();
    db.commit(Mutation::Ddl(DdlOperation::CreateAccumulator {
        project_id: P.into(),
        scope_id: S.into(),
        accumulator_name: A.into(),
        if_not_exists: false,
        value_type: AccumulatorValueType::BigInt,
        dedupe_retain_commits: None,
        snapshot_every: 1,
        exposure_margin_bps: 0,
        exposure_ttl_commits: None,
    }))
    .await
    .unwrap();
    let at = ConsistencyMode::AtLatest;
    assert_eq!(db.accumulator_value_strong(P, S, A, at).await.unwrap(), 0);
    db.accumulate(P, S, A, 5, "a".into(), 1).await.unwrap();
    assert_eq!(
        db.accumulator_value(P, S, A, at).await.unwrap(),
        5,
        "projected every delta"
    );
    // Dropping the scope drops its accumulators.
    db.drop_project(P).await.unwrap();
    db.create_project(P).await.unwrap();
    let e = db.accumulator_value(P, S, A, at).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::AccumulatorNotFound, "{e}");
}
