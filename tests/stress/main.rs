//! Stress: 64 tokio tasks mix every kind of `AedbInstance` call for a bounded
//! time — table writes, typed KV numerics, KV sets and deletes, a sharded
//! counter, accumulator deltas, event emits, queries by key, key range and
//! index at `Latest` and `AtSeq`, preflights, durability waits, checkpoints and
//! metrics — and then the database must hold exactly what the acknowledged
//! calls wrote, and hold it again after a close and reopen.
//!
//! Each task owns disjoint keys (item ids `t * ID_SPAN ..`, ledger row `t`,
//! KV keys `kv/<tt>/…`, event keys `t<t>-…`) and models them, changing its
//! model only when a call returns `Ok`. The shared accumulator and sharded
//! counter are modelled by every task's acknowledged deltas and their seqs.
//! What must hold:
//!
//! 1. A task's commit seqs strictly increase and a `Durable` receipt is
//!    durable. The seqs acknowledged to all tasks are exactly the seqs the run
//!    committed, and `operational_metrics` counts exactly those commits and the
//!    failed calls: a failed call takes no seq.
//! 2. A task's `ledger` row counts its acknowledged table commits: each table
//!    write commits atomically with a ledger bump, and a commit made to fail
//!    after its bump (a duplicate key) keeps nothing.
//! 3. `items` holds exactly each task's model rows (its acknowledged inserts
//!    less its deletes), read by primary key, key range and the `by_owner`
//!    index at `Latest` (read-your-writes) and at `AtSeq` of a recent commit of
//!    the task (an expired snapshot is allowed, but not every time).
//! 4. KV: a task's U64 is the sum of its adds, its U256 the net of its incs
//!    and decs (a dec below zero is `Underflow` and changes nothing), its set
//!    keys are the model's; every key's version is the seq of its last write.
//! 5. The accumulator's strong value and the sharded counter equal the sums of
//!    all acknowledged deltas, at the end and at retained `AtSeq` seqs, and
//!    never go back as one task reads them (every delta is positive).
//! 6. The `stress` event topic holds exactly the acknowledged emits, each at
//!    the seq of its own commit.
//! 7. A preflight answers as the state says and writes nothing; a checkpoint
//!    covers every commit acknowledged before it was asked for.
//! 8. `check_invariants` passes on the quiescent database; after `shutdown`
//!    and a reopen the same state reads back, nothing is replayed and the next
//!    commit takes the next seq.
//!
//! Not here: crashes and I/O faults (`crash_matrix.rs`, `storage_faults.rs`,
//! `facade_recovery.rs`), callers and grants (`permissions_random.rs`), and
//! `check_invariants` while commits run (it checks a quiescent database).
//!
//! The seed is printed at the start and in every failure message.
//! `AEDB_STRESS_SEED=<n>` replays each task's choice of calls (not the
//! scheduler's interleaving of the tasks). The run lasts 8 s, for CI; a soak
//! run sets `AEDB_STRESS_SECS`:
//! `AEDB_STRESS_SECS=600 cargo test --release --test stress -- --nocapture`.

#[path = "../facade_common/mod.rs"]
mod facade_common;
mod reads;
mod verify;
mod writes;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aedb::catalog::schema::IndexType;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::PreflightResult;
use aedb::commit::validation::{
    KvU64MissingPolicy, KvU64OverflowPolicy, Mutation, TableUpdateExpr, counter_shard_index,
    counter_shard_storage_key,
};
use aedb::config::AedbConfig;
use aedb::query::QueryError;
use aedb::query::plan::{Aggregate, ConsistencyMode, Expr, Order, Query, QueryOptions};
use aedb::{
    AedbErrorCode, AedbInstance, CommitFinality, CommitResult, IdempotencyOutcome,
    OperationalMetrics,
};
use facade_common::{P, S, col, create_index, create_table, insert};
use verify::{
    check_commits, check_history, check_integrity, compare, coverage, expected_state, read_state,
};

const TASKS: i64 = 64;
/// Task `t` owns item ids `t * ID_SPAN ..`.
const ID_SPAN: i64 = 1 << 32;
/// Most live items per task: every query stays within one page.
const ROW_CAP: usize = 48;
/// KV keys a task sets and deletes.
const SLOTS: u32 = 16;
const HOT: &[u8] = b"hot";
const HOT_SHARDS: u16 = 8;
const ACC: &str = "pot";
const TOPIC: &str = "stress";
/// Recent table commits a task keeps for `AtSeq` reads.
const HISTORY: usize = 4;
/// Recently deleted ids a task keeps for lookups that must miss.
const GONE: usize = 8;
const LATEST: ConsistencyMode = ConsistencyMode::AtLatest;

/// `AEDB_STRESS_SEED`, else the clock.
fn seed() -> u64 {
    match std::env::var("AEDB_STRESS_SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("AEDB_STRESS_SEED={s:?}: {e}")),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

/// `AEDB_STRESS_SECS`, else 8 (CI).
fn run_secs() -> u64 {
    match std::env::var("AEDB_STRESS_SECS") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("AEDB_STRESS_SECS={s:?}: {e}")),
        Err(_) => 8,
    }
}

/// Keeps 1,024 commits for `AtSeq` reads (the default 64 would expire most of
/// them under 64 writers) and queues commits behind 16 in-flight slots.
fn config() -> AedbConfig {
    AedbConfig {
        snapshot_retention_commits: 1024,
        max_inflight_commits: 16,
        ..AedbConfig::default()
    }
}

/// `items` (id PK, owner, val; index `by_owner`), `ledger` (task PK,
/// commits) with a zero row per task, and the accumulator.
async fn setup(db: &AedbInstance, seed: u64) {
    db.create_project(P)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: project: {e}"));
    let integer = |name: &str| col(name, ColumnType::Integer, false);
    let ledger_rows = (0..TASKS)
        .map(|t| Row::from_values(vec![Value::Integer(t), Value::Integer(0)]))
        .collect();
    for m in [
        create_table(
            "items",
            vec![integer("id"), integer("owner"), integer("val")],
            &["id"],
        ),
        create_index("items", "by_owner", &["owner"], IndexType::BTree, None),
        create_table(
            "ledger",
            vec![integer("task"), integer("commits")],
            &["task"],
        ),
        Mutation::InsertBatch {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "ledger".into(),
            rows: ledger_rows,
        },
    ] {
        db.commit(m)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: setup: {e}"));
    }
    db.create_accumulator(P, S, ACC, Some(4_096), 16)
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: accumulator: {e}"));
}

fn int(ctx: &str, v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        other => panic!("{ctx}: an Integer column holds {other:?}"),
    }
}

fn item(id: i64, owner: i64, val: i64) -> Row {
    Row::from_values(vec![
        Value::Integer(id),
        Value::Integer(owner),
        Value::Integer(val),
    ])
}

/// Item rows read as (id, owner, val).
fn triples(ctx: &str, rows: &[Row]) -> Vec<(i64, i64, i64)> {
    rows.iter()
        .map(|r| match r.values.as_slice() {
            [id, owner, val] => (int(ctx, id), int(ctx, owner), int(ctx, val)),
            other => panic!("{ctx}: an item row of {} values: {other:?}", other.len()),
        })
        .collect()
}

fn items_where(predicate: Expr) -> Query {
    Query::select(&["id", "owner", "val"])
        .from("items")
        .where_(predicate)
}

fn options(consistency: ConsistencyMode) -> QueryOptions {
    QueryOptions {
        consistency,
        ..QueryOptions::default()
    }
}

fn be256(v: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[16..].copy_from_slice(&v.to_be_bytes());
    out
}

/// Task `t`'s ledger count, and the seq the read saw.
async fn ledger_at(
    db: &AedbInstance,
    ctx: &str,
    t: i64,
    at: ConsistencyMode,
) -> Result<(i64, u64), QueryError> {
    let q = Query::select(&["commits"])
        .from("ledger")
        .where_(Expr::Eq("task".into(), Value::Integer(t)));
    let r = db.query_with_options(P, S, q, options(at)).await?;
    match r.rows.as_slice() {
        [row] => Ok((int(ctx, &row.values[0]), r.snapshot_seq)),
        rows => panic!("{ctx}: {} ledger rows for task {t} at {at:?}", rows.len()),
    }
}

/// What every task shares: the instance, the seed, the deadline, and the
/// accumulator's order keys, handed out in order (a delta whose key another
/// task's later key overtook is refused with `OrderKeyNotIncreasing`).
struct Shared {
    db: AedbInstance,
    seed: u64,
    deadline: Instant,
    order_key: AtomicU64,
}

/// What a table write does to the task's model.
#[derive(Debug, Clone, Copy)]
enum Effect {
    Put(i64, i64),
    Delete(i64),
}

/// One task: its own random choices and its model of what it owns.
struct Worker {
    sh: Arc<Shared>,
    t: i64,
    rng: fastrand::Rng,
    step: u64,
    /// Every acknowledged commit's seq, in order.
    seqs: Vec<u64>,
    last_seq: u64,
    /// The last seq known durable to this task.
    last_durable: u64,
    /// Commit calls that failed as the model said they must.
    failed: u64,
    /// Live items: id -> val.
    rows: BTreeMap<i64, i64>,
    next_id: i64,
    inserts: i64,
    deletes: i64,
    gone: VecDeque<i64>,
    table_commits: i64,
    /// (seq, ledger count, rows) after each recent table commit.
    history: VecDeque<(u64, i64, BTreeMap<i64, i64>)>,
    /// (value, version) of the task's U64 and U256 keys.
    kv_u64: Option<(u64, u64)>,
    kv_u256: Option<(u128, u64)>,
    /// key -> (value, version) of the keys it sets.
    kv_slots: BTreeMap<Vec<u8>, (Vec<u8>, u64)>,
    /// (seq, amount, shard hint) of its counter adds.
    hot: Vec<(u64, u64, u32)>,
    /// (seq, delta) of its accumulator deltas.
    acc: Vec<(u64, i64)>,
    /// (seq, key, payload) of its events.
    events: Vec<(u64, String, String)>,
    /// The highest accumulator value, counter total and commit count it read.
    seen_acc: i64,
    seen_hot: u64,
    seen_commits: u64,
    /// Calls made, by kind.
    done: BTreeMap<&'static str, u64>,
}

impl Worker {
    fn new(sh: Arc<Shared>, t: i64) -> Self {
        let rng =
            fastrand::Rng::with_seed(sh.seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Worker {
            sh,
            t,
            rng,
            step: 0,
            seqs: Vec::new(),
            last_seq: 0,
            last_durable: 0,
            failed: 0,
            rows: BTreeMap::new(),
            next_id: 0,
            inserts: 0,
            deletes: 0,
            gone: VecDeque::new(),
            table_commits: 0,
            history: VecDeque::new(),
            kv_u64: None,
            kv_u256: None,
            kv_slots: BTreeMap::new(),
            hot: Vec::new(),
            acc: Vec::new(),
            events: Vec::new(),
            seen_acc: 0,
            seen_hot: 0,
            seen_commits: 0,
            done: BTreeMap::new(),
        }
    }

    async fn run(mut self) -> Self {
        while Instant::now() < self.sh.deadline {
            self.step += 1;
            let kind = match self.rng.u32(0..1000) {
                0..=219 => self.table_write().await,
                220..=239 => self.failing_table_write().await,
                240..=299 => self.kv_add_u64().await,
                300..=359 => self.kv_u256().await,
                360..=429 => self.kv_slot().await,
                430..=479 => self.counter_add().await,
                480..=539 => self.accumulate().await,
                540..=589 => self.emit().await,
                590..=679 => self.query_latest().await,
                680..=739 => self.query_at_seq().await,
                740..=799 => self.kv_read().await,
                800..=839 => self.read_events().await,
                840..=879 => self.preflight().await,
                880..=919 => self.shared_reads().await,
                920..=949 => self.metrics().await,
                950..=995 => self.wait_durable().await,
                _ => self.checkpoint().await,
            };
            *self.done.entry(kind).or_default() += 1;
        }
        self
    }

    fn ctx(&self) -> String {
        format!("seed {} task {} step {}", self.sh.seed, self.t, self.step)
    }

    fn db(&self) -> AedbInstance {
        self.sh.db.clone()
    }

    fn key(&self, name: &str) -> Vec<u8> {
        format!("kv/{:02}/{name}", self.t).into_bytes()
    }

    /// Records an acknowledged commit (invariant 1): its seq follows the
    /// task's last one, and a `Durable` one returned durable.
    fn acked(&mut self, r: &CommitResult, durable: bool) -> u64 {
        let ctx = self.ctx();
        assert!(
            r.commit_seq > self.last_seq,
            "{ctx}: commit seq {} does not follow the task's last, {}",
            r.commit_seq,
            self.last_seq
        );
        assert_eq!(r.idempotency, IdempotencyOutcome::Applied, "{ctx}: {r:?}");
        if durable {
            assert!(
                r.durable_head_seq >= r.commit_seq,
                "{ctx}: a Durable commit returned before it was durable: {r:?}"
            );
            self.last_durable = r.commit_seq;
        }
        self.last_seq = r.commit_seq;
        self.seqs.push(r.commit_seq);
        r.commit_seq
    }

    /// One of the task's live items, at random.
    fn some_row(&mut self) -> i64 {
        let i = self.rng.usize(..self.rows.len());
        *self.rows.keys().nth(i).expect("a live row")
    }

    /// `rows` as the model keeps them (id -> val), all owned by this task.
    fn owned(&self, ctx: &str, rows: &[Row]) -> BTreeMap<i64, i64> {
        let triples = triples(ctx, rows);
        assert!(
            triples.iter().all(|&(_, owner, _)| owner == self.t),
            "{ctx}: another task's item among {triples:?}"
        );
        let map: BTreeMap<i64, i64> = triples.iter().map(|&(id, _, v)| (id, v)).collect();
        assert_eq!(
            map.len(),
            triples.len(),
            "{ctx}: an id twice in {triples:?}"
        );
        map
    }

    fn ledger_bump(&self) -> Mutation {
        Mutation::UpdateWhereExpr {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "ledger".into(),
            predicate: Expr::Eq("task".into(), Value::Integer(self.t)),
            updates: vec![("commits".into(), TableUpdateExpr::AddI64(1))],
            limit: None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_calls_of_64_tasks_keep_every_acknowledged_effect() {
    let (seed, secs) = (seed(), run_secs());
    eprintln!(
        "stress: seed {seed}, {secs} s, {TASKS} tasks (AEDB_STRESS_SEED={seed} replays the tasks' choices; AEDB_STRESS_SECS sets the time)"
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("seed {seed}: tempdir: {e}"));
    let db = AedbInstance::open(config(), dir.path())
        .unwrap_or_else(|e| panic!("seed {seed}: open: {e}"));
    setup(&db, seed).await;
    let base = db.operational_metrics().await;
    let shared = Arc::new(Shared {
        db: db.clone(),
        seed,
        deadline: Instant::now() + Duration::from_secs(secs),
        order_key: AtomicU64::new(1),
    });
    let handles: Vec<_> = (0..TASKS)
        .map(|t| tokio::spawn(Worker::new(shared.clone(), t).run()))
        .collect();
    let mut workers = Vec::new();
    for (t, h) in handles.into_iter().enumerate() {
        let w = h
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: task {t} failed: {e}"));
        workers.push(w);
    }

    let end = db.operational_metrics().await;
    coverage(seed, &workers);
    check_commits(seed, &base, &end, &workers);
    let live = read_state(&db, seed).await;
    compare(
        seed,
        "the database against the acknowledged calls",
        &live,
        &expected_state(&workers),
    );
    check_history(
        &db,
        seed,
        &workers,
        base.visible_head_seq,
        end.visible_head_seq,
    )
    .await;
    check_integrity(&db, seed, &live).await;

    // Every clone must go before the reopen.
    drop(workers);
    drop(shared);
    db.shutdown()
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: shutdown: {e}"));
    drop(db);
    let db = AedbInstance::open(config(), dir.path())
        .unwrap_or_else(|e| panic!("seed {seed}: reopen: {e}"));
    let report = db.recovery_report();
    assert_eq!(
        (report.replayed, report.head_seq),
        (0, end.visible_head_seq),
        "seed {seed}: reopen after shutdown: {report:?}"
    );
    compare(
        seed,
        "the reopened database against the closed one",
        &read_state(&db, seed).await,
        &live,
    );
    check_integrity(&db, seed, &live).await;
    let r = db
        .kv_set(P, S, b"after-reopen".to_vec(), b"1".to_vec())
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: a commit after the reopen: {e}"));
    assert_eq!(
        r.commit_seq,
        end.visible_head_seq + 1,
        "seed {seed}: the first commit after the reopen"
    );
}
