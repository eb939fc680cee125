//! The seed suite: the seed API (tables, indexes, queries, KV) of our facade
//! beside aedb 0.1.9, the crate whose README is our spec. Same schema, rows and
//! calls for both; each engine and size runs in its own child process.
//!
//! Table `users(id Integer PK, name Text, age Integer)` with a BTree index on
//! `age`; row i has age i / 10, so an index range of 10 ages is 100 rows.

mod adapter;
pub mod ours;
pub mod v019;

use std::path::Path;
use std::time::Instant;

use crate::workload::{Res, note, row};

pub const ENGINES: [&str; 3] = ["aedb", "aedb+caller", "aedb019"];
pub const LOAD_BATCH: usize = 5_000;
pub const SERIAL_INSERTS: usize = 1_000;
pub const TASKS: usize = 64;
pub const PER_TASK: usize = 50;
pub const POINT_QUERIES: usize = 10_000;
pub const RANGE_QUERIES: usize = 1_000;
pub const KV_OPS: usize = 1_000;

/// (row name, label, unit); the order of the table.
pub const MIGRATIONS: usize = 10;

pub const ROWS: [(&str, &str, &str); 27] = [
    (
        "load_rows_per_s",
        "(s0) load N rows, batches of 5,000, durable",
        "rows/s",
    ),
    (
        "insert_serial_per_s",
        "(s1) 1,000 durable single-row inserts, serial",
        "inserts/s",
    ),
    (
        "insert_64_per_s",
        "(s2) 64 tasks x 50 durable single-row inserts",
        "inserts/s",
    ),
    ("pk_query_us", "(s3) PK point query (mean of 10,000)", "us"),
    (
        "index_range_us",
        "(s4) index range query, 100 rows (mean of 1,000)",
        "us",
    ),
    (
        "kv_set_per_s",
        "(s5) 1,000 durable KV sets, serial",
        "sets/s",
    ),
    ("kv_get_us", "(s6) KV get (mean of 10,000)", "us"),
    (
        "accumulate_per_s",
        "(s7) 1,000 durable accumulate calls, serial",
        "calls/s",
    ),
    (
        "kv_add_u256_serial_per_s",
        "(s8) 1,000 durable KvAddU256Ex, serial",
        "ops/s",
    ),
    (
        "kv_add_u256_64_per_s",
        "(s9) 64 tasks x 50 durable KvAddU256Ex",
        "ops/s",
    ),
    (
        "action_envelope_64_per_s",
        "(s10) 64 tasks x 50 durable commit_action_envelope",
        "actions/s",
    ),
    (
        "accumulate_visible_per_s",
        "(s12) 10,000 accumulate calls, Visible finality, serial",
        "calls/s",
    ),
    (
        "accumulate_64_per_s",
        "(s13) 64 tasks x 50 durable accumulate calls (one accumulator each)",
        "calls/s",
    ),
    (
        "value_strong_us",
        "(s14) accumulator_value_strong with N deltas pending (mean of 10,000)",
        "us",
    ),
    (
        "emit_64_per_s",
        "(s15) 64 tasks x 50 durable emit_event",
        "events/s",
    ),
    (
        "read_events_us",
        "(s16) read_event_stream of 1,000 events (mean of 100)",
        "us",
    ),
    (
        "processor_lag_p50_us",
        "(s17) processor lag: emit_event called -> handler holds it, p50 of 200",
        "us",
    ),
    (
        "processor_lag_p99_us",
        "(s18) processor lag, p99 of 200",
        "us",
    ),
    (
        "emit_no_processor_us",
        "(s19) durable emit_event latency, no processor (mean of 200)",
        "us",
    ),
    (
        "emit_stalled_processor_us",
        "(s20) the same while a processor's handler is stalled (same run)",
        "us",
    ),
    (
        "backup_mib_per_s",
        "(s21) backup_full of the loaded database while 64 tasks insert",
        "MiB/s",
    ),
    (
        "insert_p99_quiet_us",
        "(s22) 64 tasks x 50 durable inserts, p99, no backup running",
        "us",
    ),
    (
        "insert_p99_backup_us",
        "(s23) the same while backup_full runs (same run)",
        "us",
    ),
    (
        "metrics_call_us",
        "(s24) operational_metrics() call (mean of 10,000)",
        "us",
    ),
    (
        "migrations_ms",
        "(s25) run_migrations: 10 versions, each a nullable column and an index on `name` of the N-row table",
        "ms",
    ),
    (
        "migrations_again_ms",
        "(s26) the same list again: every version checked and skipped",
        "ms",
    ),
    (
        "change_feed_lag_us",
        "(s11) change feed: durable KV set returned -> change received (mean of 1,000)",
        "us",
    ),
];

/// The seed API calls the suite makes; every commit is durable.
pub trait SeedEngine {
    fn setup(&self) -> Res<()>;
    /// Durable batches of rows `ids` (one commit per slice).
    fn insert_batch(&self, ids: &[i64]) -> Res<()>;
    fn insert_serial(&self, ids: &[i64]) -> Res<()>;
    fn insert_concurrent(&self, ids: &[i64], tasks: usize) -> Res<()>;
    /// Point queries by primary key; returns rows found.
    fn pk_queries(&self, ids: &[i64]) -> Res<usize>;
    /// `age BETWEEN a AND a + 9` for each a; returns rows found.
    fn index_ranges(&self, ages: &[i64]) -> Res<usize>;
    fn kv_sets(&self, keys: &[Vec<u8>]) -> Res<()>;
    fn kv_gets(&self, keys: &[Vec<u8>]) -> Res<usize>;
    /// `None` when the engine has no accumulators.
    fn accumulate(&self, n: usize) -> Res<Option<()>>;
    /// `n` durable `KvAddU256Ex` on one key.
    fn kv_add_u256_serial(&self, n: usize) -> Res<()>;
    /// `tasks` tasks, each `per` durable `KvAddU256Ex` on its own key.
    fn kv_add_u256_concurrent(&self, tasks: usize, per: usize) -> Res<()>;
    /// `tasks` tasks, each `per` actions (effect + metadata, own key).
    fn action_envelopes_concurrent(&self, tasks: usize, per: usize) -> Res<()>;
    /// `n` accumulate calls with `Visible` finality.
    fn accumulate_visible(&self, n: usize) -> Res<()>;
    /// `tasks` tasks, each `per` durable accumulate calls on its own accumulator.
    fn accumulate_concurrent(&self, tasks: usize, per: usize) -> Res<()>;
    /// Loads `deltas` unprojected deltas, then the mean of `reads` strong reads (µs).
    fn value_strong_us(&self, deltas: usize, reads: usize) -> Res<f64>;
    /// `tasks` tasks, each `per` durable `emit_event` calls.
    fn emit_concurrent(&self, tasks: usize, per: usize) -> Res<()>;
    /// Emits `events` in one commit, then the mean of `reads` reads of them (µs).
    fn read_events_us(&self, events: usize, reads: usize) -> Res<f64>;
    /// Per event of `n`, serial: the time from calling a durable
    /// `emit_event` to a running processor's handler holding it (µs).
    fn processor_lag_us(&self, n: usize) -> Res<Vec<f64>>;
    /// Mean durable `emit_event` latency over `n` calls (µs), without a
    /// processor, then while a processor's handler sleeps on its batch.
    fn stalled_processor_us(&self, n: usize) -> Res<(f64, f64)>;
    /// A full backup's rate (MiB/s) while `tasks` x `per` durable inserts
    /// run, and those inserts' p99 latency (µs) before and during it.
    fn backup_under_load(&self, tasks: usize, per: usize) -> Res<(f64, f64, f64)>;
    /// Mean `operational_metrics()` call time over `n` calls (µs).
    fn metrics_call_us(&self, n: usize) -> Res<f64>;
    /// Mean time from a durable commit returning to its change reaching a
    /// subscriber; `None` without a change feed.
    fn change_feed_lag_us(&self, n: usize) -> Res<Option<f64>>;
    /// `run_migrations` of `n` versions (each a nullable column and an index
    /// on `users`), then the same list again (all skipped), in ms.
    fn migrations_ms(&self, n: usize) -> Res<(f64, f64)>;
}

pub fn age_of(id: i64) -> i64 {
    id / 10
}

/// Runs the suite (the child process) and prints `ROW` lines.
pub fn run(engine: &str, n: usize, dir: &Path) -> Res<()> {
    let e: Box<dyn SeedEngine> = match engine {
        "aedb" => Box::new(ours::Ours::open(dir)?),
        // The same suite through `commit_as` / `query_with_options_as`.
        "aedb+caller" => Box::new(ours::Ours::open_as(dir)?),
        "aedb019" => Box::new(v019::V019::open(dir)?),
        other => return Err(format!("unknown seed engine {other:?}").into()),
    };
    e.setup()?;
    let mut rng = fastrand::Rng::with_seed(7);
    let n = n as i64;
    let t = Instant::now();
    let ids: Vec<i64> = (0..n).collect();
    for chunk in ids.chunks(LOAD_BATCH) {
        e.insert_batch(chunk)?;
    }
    row("load_rows_per_s", n as f64 / t.elapsed().as_secs_f64());

    let fresh: Vec<i64> = (n..n + (SERIAL_INSERTS + TASKS * PER_TASK) as i64).collect();
    let (serial, concurrent) = fresh.split_at(SERIAL_INSERTS);
    let t = Instant::now();
    e.insert_serial(serial)?;
    row(
        "insert_serial_per_s",
        serial.len() as f64 / t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    e.insert_concurrent(concurrent, TASKS)?;
    row(
        "insert_64_per_s",
        concurrent.len() as f64 / t.elapsed().as_secs_f64(),
    );

    let probes: Vec<i64> = (0..POINT_QUERIES).map(|_| rng.i64(0..n)).collect();
    let t = Instant::now();
    let found = e.pk_queries(&probes)?;
    row(
        "pk_query_us",
        t.elapsed().as_secs_f64() * 1e6 / probes.len() as f64,
    );
    if found != probes.len() {
        return Err(format!(
            "{engine}: {found} of {} point queries found their row",
            probes.len()
        )
        .into());
    }
    let max_age = age_of(n - 1) - 10;
    let ages: Vec<i64> = (0..RANGE_QUERIES)
        .map(|_| rng.i64(0..max_age.max(1)))
        .collect();
    let t = Instant::now();
    let rows = e.index_ranges(&ages)?;
    row(
        "index_range_us",
        t.elapsed().as_secs_f64() * 1e6 / ages.len() as f64,
    );
    if rows != ages.len() * 100 {
        return Err(format!(
            "{engine}: index ranges returned {rows} rows, expected {}",
            ages.len() * 100
        )
        .into());
    }

    let keys: Vec<Vec<u8>> = (0..KV_OPS)
        .map(|i| format!("key:{i:08}").into_bytes())
        .collect();
    let t = Instant::now();
    e.kv_sets(&keys)?;
    row(
        "kv_set_per_s",
        keys.len() as f64 / t.elapsed().as_secs_f64(),
    );
    let gets: Vec<Vec<u8>> = (0..POINT_QUERIES)
        .map(|_| keys[rng.usize(..keys.len())].clone())
        .collect();
    let t = Instant::now();
    let hits = e.kv_gets(&gets)?;
    row(
        "kv_get_us",
        t.elapsed().as_secs_f64() * 1e6 / gets.len() as f64,
    );
    if hits != gets.len() {
        return Err(format!("{engine}: {hits} of {} KV gets hit", gets.len()).into());
    }
    let t = Instant::now();
    match e.accumulate(KV_OPS)? {
        Some(()) => row(
            "accumulate_per_s",
            KV_OPS as f64 / t.elapsed().as_secs_f64(),
        ),
        None => note(
            "accumulate_per_s",
            &format!("{engine}: n/a, accumulators are not built yet"),
        ),
    }
    let t = Instant::now();
    e.kv_add_u256_serial(KV_OPS)?;
    row(
        "kv_add_u256_serial_per_s",
        KV_OPS as f64 / t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    e.kv_add_u256_concurrent(TASKS, PER_TASK)?;
    row(
        "kv_add_u256_64_per_s",
        (TASKS * PER_TASK) as f64 / t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    e.action_envelopes_concurrent(TASKS, PER_TASK)?;
    row(
        "action_envelope_64_per_s",
        (TASKS * PER_TASK) as f64 / t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    e.accumulate_visible(10 * KV_OPS)?;
    row(
        "accumulate_visible_per_s",
        (10 * KV_OPS) as f64 / t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    e.accumulate_concurrent(TASKS, PER_TASK)?;
    row(
        "accumulate_64_per_s",
        (TASKS * PER_TASK) as f64 / t.elapsed().as_secs_f64(),
    );
    row(
        "value_strong_us",
        e.value_strong_us(n as usize, POINT_QUERIES)?,
    );
    let t = Instant::now();
    e.emit_concurrent(TASKS, PER_TASK)?;
    row(
        "emit_64_per_s",
        (TASKS * PER_TASK) as f64 / t.elapsed().as_secs_f64(),
    );
    row("read_events_us", e.read_events_us(1_000, 100)?);
    let mut lags = e.processor_lag_us(200)?;
    lags.sort_by(f64::total_cmp);
    row("processor_lag_p50_us", lags[lags.len() / 2]);
    row("processor_lag_p99_us", lags[lags.len() * 99 / 100]);
    let (without, with) = e.stalled_processor_us(200)?;
    row("emit_no_processor_us", without);
    row("emit_stalled_processor_us", with);
    let (mib_per_s, quiet, busy) = e.backup_under_load(TASKS, PER_TASK)?;
    row("backup_mib_per_s", mib_per_s);
    row("insert_p99_quiet_us", quiet);
    row("insert_p99_backup_us", busy);
    row("metrics_call_us", e.metrics_call_us(POINT_QUERIES)?);
    let (first, again) = e.migrations_ms(MIGRATIONS)?;
    row("migrations_ms", first);
    row("migrations_again_ms", again);
    match e.change_feed_lag_us(KV_OPS)? {
        Some(us) => row("change_feed_lag_us", us),
        None => note(
            "change_feed_lag_us",
            &format!("{engine}: n/a, no change feed"),
        ),
    }
    Ok(())
}
