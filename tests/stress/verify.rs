//! The end of a stress run: the whole state read back and compared with what
//! the tasks' acknowledged calls wrote, the commit seqs, retained history,
//! integrity and the coverage of call kinds.

use super::*;

/// The whole database as the facade reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    /// (id, owner, val), by id.
    items: Vec<(i64, i64, i64)>,
    /// `COUNT(*)` of `items`.
    count: i64,
    /// (task, commits), by task.
    ledger: Vec<(i64, i64)>,
    /// (key, value, version) of the `kv/` and `hot` keys, by key.
    kv: Vec<(Vec<u8>, Vec<u8>, u64)>,
    acc: i64,
    hot: u64,
    /// (seq, key, payload) of the `stress` events, by seq.
    events: Vec<(u64, String, String)>,
}

pub(super) async fn read_state(db: &AedbInstance, seed: u64) -> State {
    let ctx = format!("seed {seed}: reading the state");
    let all = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    let q = Query::select(&["id", "owner", "val"])
        .from("items")
        .order_by("id", Order::Asc);
    let r = db
        .query_with_options(P, S, q, all.clone())
        .await
        .unwrap_or_else(|e| panic!("{ctx}: items: {e}"));
    assert!(
        r.cursor.is_none() && !r.truncated,
        "{ctx}: items span pages"
    );
    let items = triples(&ctx, &r.rows);
    let q = Query::select(&["count_star"])
        .from("items")
        .aggregate(Aggregate::Count);
    let r = db
        .query_with_options(P, S, q, all.clone())
        .await
        .unwrap_or_else(|e| panic!("{ctx}: count: {e}"));
    let count = int(&ctx, &r.rows[0].values[0]);
    let q = Query::select(&["task", "commits"])
        .from("ledger")
        .order_by("task", Order::Asc);
    let r = db
        .query_with_options(P, S, q, all)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: ledger: {e}"));
    let ledger = r
        .rows
        .iter()
        .map(|row| (int(&ctx, &row.values[0]), int(&ctx, &row.values[1])))
        .collect();
    let mut kv = Vec::new();
    for prefix in [HOT, b"kv/".as_slice()] {
        let entries = db
            .kv_scan_prefix_no_auth(P, S, prefix, 10_000, LATEST)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: kv scan: {e}"));
        assert!(entries.len() < 10_000, "{ctx}: a KV scan filled its page");
        kv.extend(entries.into_iter().map(|(k, e)| (k, e.value, e.version)));
    }
    kv.sort();
    let acc = db
        .accumulator_value_strong(P, S, ACC, LATEST)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: accumulator: {e}"));
    let hot = db
        .counter_read_sharded(P, S, HOT, HOT_SHARDS, LATEST)
        .await
        .unwrap_or_else(|e| panic!("{ctx}: counter: {e}"));
    let mut events = Vec::new();
    let mut from = 0;
    loop {
        let page = db
            .read_event_stream(Some(TOPIC), from, 1_000, LATEST)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: events after {from}: {e}"));
        for e in &page.events {
            let at = (e.topic.as_str(), e.project_id.as_str(), e.scope_id.as_str());
            assert_eq!(at, (TOPIC, P, S), "{ctx}: {e:?}");
        }
        events.extend(
            page.events
                .into_iter()
                .map(|e| (e.commit_seq, e.event_key, e.payload_json)),
        );
        match page.next_commit_seq {
            Some(next) if next > from => from = next,
            Some(next) => panic!("{ctx}: the event stream went from {from} to {next}"),
            None => break,
        }
    }
    State {
        items,
        count,
        ledger,
        kv,
        acc,
        hot,
        events,
    }
}

/// The state the acknowledged calls made.
pub(super) fn expected_state(workers: &[Worker]) -> State {
    let mut items = Vec::new();
    let mut ledger = Vec::new();
    let mut kv = BTreeMap::new();
    let mut shards: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
    let mut events = Vec::new();
    let (mut count, mut acc, mut hot) = (0, 0, 0);
    for w in workers {
        items.extend(w.rows.iter().map(|(&id, &val)| (id, w.t, val)));
        count += w.inserts - w.deletes;
        ledger.push((w.t, w.table_commits));
        kv.extend(
            w.kv_model()
                .into_iter()
                .map(|(k, v, version)| (k, (v, version))),
        );
        for &(seq, amount, hint) in &w.hot {
            let shard = shards
                .entry(counter_shard_index(hint, HOT_SHARDS))
                .or_default();
            shard.0 += amount;
            shard.1 = shard.1.max(seq);
            hot += amount;
        }
        acc += w.acc.iter().map(|&(_, d)| d).sum::<i64>();
        events.extend(w.events.iter().cloned());
    }
    for (shard, (sum, version)) in shards {
        let key = counter_shard_storage_key(HOT, shard);
        kv.insert(key, (sum.to_be_bytes().to_vec(), version));
    }
    items.sort_unstable();
    ledger.sort_unstable();
    events.sort();
    let kv = kv
        .into_iter()
        .map(|(k, (v, version))| (k, v, version))
        .collect();
    State {
        items,
        count,
        ledger,
        kv,
        acc,
        hot,
        events,
    }
}

/// Panics at the first element where `got` and `want` differ.
pub(super) fn same<T: PartialEq + Debug>(
    seed: u64,
    what: &str,
    field: &str,
    got: &[T],
    want: &[T],
) {
    if got == want {
        return;
    }
    let i = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "seed {seed}: {what}: {field} differ ({} found, {} expected); first at {i}: found {:?}, expected {:?}",
        got.len(),
        want.len(),
        got.get(i),
        want.get(i)
    );
}

pub(super) fn compare(seed: u64, what: &str, got: &State, want: &State) {
    same(seed, what, "items", &got.items, &want.items);
    same(seed, what, "ledger rows", &got.ledger, &want.ledger);
    same(seed, what, "KV entries", &got.kv, &want.kv);
    same(seed, what, "events", &got.events, &want.events);
    assert_eq!(
        (got.count, got.acc, got.hot),
        (want.count, want.acc, want.hot),
        "seed {seed}: {what}: (item count, accumulator, counter)"
    );
    assert_eq!(
        got.count,
        got.items.len() as i64,
        "seed {seed}: {what}: COUNT(*) against the rows read"
    );
}

/// Invariant 1 across tasks: the acknowledged seqs are exactly the run's
/// commits, and the metrics count them and the failed calls.
pub(super) fn check_commits(
    seed: u64,
    base: &OperationalMetrics,
    end: &OperationalMetrics,
    workers: &[Worker],
) {
    let mut seqs: Vec<u64> = workers
        .iter()
        .flat_map(|w| w.seqs.iter().copied())
        .collect();
    seqs.sort_unstable();
    let run: Vec<u64> = (base.visible_head_seq + 1..=end.visible_head_seq).collect();
    same(
        seed,
        "commits",
        "acknowledged seqs against the seqs committed",
        &seqs,
        &run,
    );
    let failed: u64 = workers.iter().map(|w| w.failed).sum();
    assert_eq!(
        (
            end.commits_total - base.commits_total,
            end.commit_errors - base.commit_errors
        ),
        (seqs.len() as u64, failed),
        "seed {seed}: operational_metrics' (commits, errors) during the run"
    );
}

/// Invariant 5 at retained seqs: the accumulator and the counter at
/// `AtSeq(s)` equal the sums of the deltas committed at or before `s`.
pub(super) async fn check_history(
    db: &AedbInstance,
    seed: u64,
    workers: &[Worker],
    base_seq: u64,
    end_seq: u64,
) {
    let mut acc_at: BTreeMap<u64, i64> = BTreeMap::new();
    let mut hot_at: BTreeMap<u64, u64> = BTreeMap::new();
    for w in workers {
        acc_at.extend(w.acc.iter().copied());
        hot_at.extend(w.hot.iter().map(|&(seq, amount, _)| (seq, amount)));
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let lo = (base_seq + 1).max(end_seq.saturating_sub(200));
    let (mut read, mut expired) = (0, 0);
    for _ in 0..32 {
        if lo > end_seq {
            break;
        }
        let s = rng.u64(lo..=end_seq);
        let at = ConsistencyMode::AtSeq(s);
        let want_acc: i64 = acc_at.range(..=s).map(|(_, d)| d).sum();
        let want_hot: u64 = hot_at.range(..=s).map(|(_, a)| a).sum();
        let got = (
            db.accumulator_value_strong(P, S, ACC, at).await,
            db.counter_read_sharded(P, S, HOT, HOT_SHARDS, at).await,
        );
        match got {
            (Ok(a), Ok(h)) => {
                assert_eq!(
                    (a, h),
                    (want_acc, want_hot),
                    "seed {seed}: (accumulator, counter) at {at:?}"
                );
                read += 1;
            }
            (Err(e), _) | (_, Err(e)) if e.code() == AedbErrorCode::SnapshotExpired => expired += 1,
            (a, h) => panic!("seed {seed}: at {at:?}: accumulator {a:?}, counter {h:?}"),
        }
    }
    assert!(
        read > 0,
        "seed {seed}: no AtSeq read of the last 200 commits ({lo}..={end_seq}) was retained ({expired} expired)"
    );
}

/// Invariant 8: `check_invariants` passes, and counted the item and ledger
/// rows and the owner index's entries.
pub(super) async fn check_integrity(db: &AedbInstance, seed: u64, want: &State) {
    let r = db
        .check_invariants()
        .await
        .unwrap_or_else(|e| panic!("seed {seed}: check_invariants: {e}"));
    assert!(
        r.is_ok(),
        "seed {seed}: check_invariants: {:#?}",
        r.problems
    );
    let items = want.items.len() as u64;
    assert_eq!(
        (r.rows, r.index_entries),
        (items + TASKS as u64, items),
        "seed {seed}: rows (items and ledger) and index entries checked: {r:?}"
    );
}

/// Prints what the run did, and fails a run too short to check every
/// invariant (a kind of call that never succeeded checked nothing).
pub(super) fn coverage(seed: u64, workers: &[Worker]) {
    let mut done: BTreeMap<&str, u64> = BTreeMap::new();
    for w in workers {
        for (kind, n) in &w.done {
            *done.entry(*kind).or_default() += n;
        }
    }
    eprintln!("stress: seed {seed}: calls by kind: {done:?}");
    for kind in [
        "table write",
        "failing table write",
        "kv add u64",
        "kv set",
        "counter add",
        "accumulate",
        "emit event",
        "owner index",
        "AtSeq query",
        "event read",
        "preflight",
        "shared reads",
    ] {
        assert!(
            done.get(kind).copied().unwrap_or(0) > 0,
            "seed {seed}: no {kind:?} in the run: {done:?}"
        );
    }
}
