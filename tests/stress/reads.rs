//! The stress tasks' reads and operations: queries at `Latest` and `AtSeq`,
//! KV and event reads, preflights, shared reads, metrics, durability waits
//! and checkpoints, each checked against the task's model.

use super::*;

impl Worker {
    /// The task's items at `Latest` by primary key (a live id, or a deleted
    /// one that must miss), key range or the owner index, or its ledger row:
    /// exactly the model (invariants 2 and 3, read-your-writes).
    pub(super) async fn query_latest(&mut self) -> &'static str {
        let (ctx, db) = (self.ctx(), self.db());
        let base = self.t * ID_SPAN;
        let (what, predicate, lo, hi) = match self.rng.u8(0..4) {
            0 => {
                let id = if !self.gone.is_empty() && self.rng.u8(0..4) == 0 {
                    self.gone[self.rng.usize(..self.gone.len())]
                } else if self.rows.is_empty() {
                    base + self.next_id
                } else {
                    self.some_row()
                };
                (
                    "pk lookup",
                    Expr::Eq("id".into(), Value::Integer(id)),
                    id,
                    id,
                )
            }
            1 => {
                let lo = base + self.rng.i64(0..=self.next_id);
                let hi = lo + self.rng.i64(0..16);
                let between = Expr::Between("id".into(), Value::Integer(lo), Value::Integer(hi));
                ("pk range", between, lo, hi)
            }
            2 => {
                let owner = Expr::Eq("owner".into(), Value::Integer(self.t));
                ("owner index", owner, base, base + ID_SPAN - 1)
            }
            _ => {
                let (n, seen) = ledger_at(&db, &ctx, self.t, LATEST)
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: ledger at Latest: {e}"));
                assert_eq!(n, self.table_commits, "{ctx}: ledger row at Latest");
                assert!(
                    seen >= self.last_seq,
                    "{ctx}: Latest read seq {seen}, before the task's commit {}",
                    self.last_seq
                );
                return "ledger";
            }
        };
        let r = db
            .query(P, S, items_where(predicate))
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {what}: {e}"));
        assert!(
            r.snapshot_seq >= self.last_seq,
            "{ctx}: {what} read seq {}, before the task's commit {}",
            r.snapshot_seq,
            self.last_seq
        );
        let want: BTreeMap<i64, i64> = self.rows.range(lo..=hi).map(|(&k, &v)| (k, v)).collect();
        assert_eq!(
            self.owned(&ctx, &r.rows),
            want,
            "{ctx}: {what} [{lo}, {hi}] at Latest"
        );
        what
    }

    /// The task's items (by the owner index) and ledger row at the seq of one
    /// of its recent table commits: exactly the model then (invariants 2, 3).
    pub(super) async fn query_at_seq(&mut self) -> &'static str {
        if self.history.is_empty() {
            return self.query_latest().await;
        }
        let i = self.rng.usize(..self.history.len());
        let (seq, count, rows) = self.history[i].clone();
        let (ctx, db) = (self.ctx(), self.db());
        let at = ConsistencyMode::AtSeq(seq);
        let q = items_where(Expr::Eq("owner".into(), Value::Integer(self.t)));
        match db.query_with_options(P, S, q, options(at)).await {
            Ok(r) => {
                assert_eq!(r.snapshot_seq, seq, "{ctx}: the seq an AtSeq query read");
                assert_eq!(self.owned(&ctx, &r.rows), rows, "{ctx}: items at {at:?}");
            }
            Err(e) if e.code() == AedbErrorCode::SnapshotExpired => return "AtSeq expired",
            Err(e) => panic!("{ctx}: items at {at:?}: {e}"),
        }
        match ledger_at(&db, &ctx, self.t, at).await {
            Ok((n, _)) => assert_eq!(n, count, "{ctx}: ledger row at {at:?}"),
            Err(e) if e.code() == AedbErrorCode::SnapshotExpired => return "AtSeq expired",
            Err(e) => panic!("{ctx}: ledger at {at:?}: {e}"),
        }
        "AtSeq query"
    }

    /// The task's KV keys as (key, value, version), in key order.
    pub(super) fn kv_model(&self) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
        let mut m = self.kv_slots.clone();
        if let Some((v, version)) = self.kv_u64 {
            m.insert(self.key("n"), (v.to_be_bytes().to_vec(), version));
        }
        if let Some((v, version)) = self.kv_u256 {
            m.insert(self.key("u"), (be256(v).to_vec(), version));
        }
        m.into_iter()
            .map(|(k, (v, version))| (k, v, version))
            .collect()
    }

    /// The task's U64 key at `Latest` or at its last write's seq, or all its
    /// keys by a prefix scan: exactly the model (invariant 4).
    pub(super) async fn kv_read(&mut self) -> &'static str {
        let (ctx, db) = (self.ctx(), self.db());
        let want_u64 = self
            .kv_u64
            .map(|(v, version)| (v.to_be_bytes().to_vec(), version));
        match (self.rng.u8(0..3), self.kv_u64) {
            (0, _) | (1, None) => {
                let got = db
                    .kv_get_no_auth(P, S, &self.key("n"), LATEST)
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: kv_get at Latest: {e}"));
                let got = got.map(|e| (e.value, e.version));
                assert_eq!(got, want_u64, "{ctx}: the task's U64 at Latest");
                "kv get"
            }
            (1, Some((_, version))) => {
                let at = ConsistencyMode::AtSeq(version);
                match db.kv_get_no_auth(P, S, &self.key("n"), at).await {
                    Ok(got) => {
                        let got = got.map(|e| (e.value, e.version));
                        assert_eq!(got, want_u64, "{ctx}: the task's U64 at {at:?}");
                    }
                    Err(e) if e.code() == AedbErrorCode::SnapshotExpired => {
                        return "AtSeq expired";
                    }
                    Err(e) => panic!("{ctx}: kv_get at {at:?}: {e}"),
                }
                "kv AtSeq get"
            }
            _ => {
                let prefix = format!("kv/{:02}/", self.t).into_bytes();
                let got: Vec<_> = db
                    .kv_scan_prefix_no_auth(P, S, &prefix, 1_000, LATEST)
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: kv scan: {e}"))
                    .into_iter()
                    .map(|(k, e)| (k, e.value, e.version))
                    .collect();
                assert_eq!(got, self.kv_model(), "{ctx}: the task's KV keys at Latest");
                "kv scan"
            }
        }
    }

    /// One of the task's events, read as the first of the stream after the
    /// seq before its commit, at `Latest` or at its own seq (invariant 6).
    pub(super) async fn read_events(&mut self) -> &'static str {
        if self.events.is_empty() {
            return self.emit().await;
        }
        let i = self.rng.usize(..self.events.len());
        let (seq, key, payload) = self.events[i].clone();
        let at_seq = self.rng.bool();
        let at = if at_seq {
            ConsistencyMode::AtSeq(seq)
        } else {
            LATEST
        };
        let (ctx, db) = (self.ctx(), self.db());
        let page = match db.read_event_stream(Some(TOPIC), seq - 1, 1, at).await {
            Ok(page) => page,
            Err(e) if e.code() == AedbErrorCode::SnapshotExpired => return "AtSeq expired",
            Err(e) => panic!("{ctx}: read_event_stream at {at:?}: {e}"),
        };
        let got: Vec<_> = page
            .events
            .iter()
            .map(|e| (e.commit_seq, e.event_key.clone(), e.payload_json.clone()))
            .collect();
        assert_eq!(
            got,
            vec![(seq, key, payload)],
            "{ctx}: the event stream after seq {} at {at:?}",
            seq - 1
        );
        assert_eq!(page.next_commit_seq, Some(seq), "{ctx}: {page:?}");
        if at_seq {
            assert_eq!(page.snapshot_seq, seq, "{ctx}: {page:?}");
        } else {
            assert!(page.snapshot_seq >= self.last_seq, "{ctx}: {page:?}");
        }
        "event read"
    }

    /// Preflights an insert of the next fresh id, a ledger bump, a delete of a
    /// live item (each would affect one row) or an insert of a live id (a
    /// duplicate). A leaked write would break a later insert of that id, a
    /// lookup, or the ledger count (invariant 7).
    pub(super) async fn preflight(&mut self) -> &'static str {
        let fresh = self.t * ID_SPAN + self.next_id;
        let insert_fresh = insert("items", vec![Value::Integer(fresh)], item(fresh, self.t, 1));
        let (m, passes) = match self.rng.u8(0..4) {
            0 => (insert_fresh, true),
            1 => (self.ledger_bump(), true),
            2 if !self.rows.is_empty() => {
                let id = self.some_row();
                let m = Mutation::Delete {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "items".into(),
                    primary_key: vec![Value::Integer(id)],
                };
                (m, true)
            }
            _ if !self.rows.is_empty() => {
                let id = self.some_row();
                (
                    insert("items", vec![Value::Integer(id)], item(id, self.t, 2)),
                    false,
                )
            }
            _ => (insert_fresh, true),
        };
        let ctx = self.ctx();
        match (self.db().preflight(m).await, passes) {
            (PreflightResult::Ok { affected_rows: 1 }, true) => {}
            (PreflightResult::Err { reason }, false)
                if reason.contains("duplicate primary key") => {}
            (other, _) => panic!("{ctx}: preflight (should pass: {passes}): {other:?}"),
        }
        "preflight"
    }

    /// The accumulator (materialized, then strong) and the counter at
    /// `Latest`: at least what this task added, never less than it read
    /// before, and the materialized value never above the strong one read
    /// after it (invariant 5).
    pub(super) async fn shared_reads(&mut self) -> &'static str {
        let (ctx, db) = (self.ctx(), self.db());
        let materialized = db
            .accumulator_value(P, S, ACC, LATEST)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: accumulator_value: {e}"));
        let strong = db
            .accumulator_value_strong(P, S, ACC, LATEST)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: accumulator_value_strong: {e}"));
        let mine: i64 = self.acc.iter().map(|&(_, d)| d).sum();
        assert!(
            materialized <= strong,
            "{ctx}: materialized accumulator {materialized} above the strong value {strong} read after it"
        );
        assert!(
            strong >= mine.max(self.seen_acc),
            "{ctx}: accumulator {strong}; this task added {mine} and read {} before",
            self.seen_acc
        );
        self.seen_acc = strong;
        let hot = db
            .counter_read_sharded(P, S, HOT, HOT_SHARDS, LATEST)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: counter_read_sharded: {e}"));
        let mine: u64 = self.hot.iter().map(|&(_, a, _)| a).sum();
        assert!(
            hot >= mine.max(self.seen_hot),
            "{ctx}: counter {hot}; this task added {mine} and read {} before",
            self.seen_hot
        );
        self.seen_hot = hot;
        "shared reads"
    }

    /// The heads cover the task's acknowledged commits, the commit count
    /// never goes back, and no more callers queue than there are tasks.
    pub(super) async fn metrics(&mut self) -> &'static str {
        let ctx = self.ctx();
        let m = self.db().operational_metrics().await;
        assert!(
            m.visible_head_seq >= self.last_seq && m.durable_head_seq >= self.last_durable,
            "{ctx}: heads (visible {}, durable {}) behind the task's commits (last {}, last durable {})",
            m.visible_head_seq,
            m.durable_head_seq,
            self.last_seq,
            self.last_durable
        );
        assert!(
            m.commits_total >= self.seen_commits.max(self.seqs.len() as u64),
            "{ctx}: commits_total {} after {} read before, {} acknowledged to this task",
            m.commits_total,
            self.seen_commits,
            self.seqs.len()
        );
        assert!(
            m.queue_depth <= TASKS as usize,
            "{ctx}: {} commit calls queued, {TASKS} tasks",
            m.queue_depth
        );
        self.seen_commits = m.commits_total;
        "metrics"
    }

    /// Makes the task's last commit durable (`wait_for_durable` after a
    /// `Visible` one, else `force_fsync`); then the durable head covers it.
    pub(super) async fn wait_durable(&mut self) -> &'static str {
        let seq = self.last_seq;
        let (ctx, db) = (self.ctx(), self.db());
        let what = if seq > self.last_durable {
            db.wait_for_durable(seq)
                .await
                .unwrap_or_else(|e| panic!("{ctx}: wait_for_durable({seq}): {e}"));
            "wait for durable"
        } else {
            let durable = db
                .force_fsync()
                .await
                .unwrap_or_else(|e| panic!("{ctx}: force_fsync: {e}"));
            assert!(
                durable >= seq,
                "{ctx}: force_fsync returned {durable}, before {seq}"
            );
            "force fsync"
        };
        let m = db.operational_metrics().await;
        assert!(
            m.durable_head_seq >= seq,
            "{ctx}: after {what}, durable head {} is before {seq}",
            m.durable_head_seq
        );
        self.last_durable = seq;
        what
    }

    /// A checkpoint covers every commit acknowledged before it was asked for,
    /// and `AtCheckpoint` then reads at or after it (invariant 7).
    pub(super) async fn checkpoint(&mut self) -> &'static str {
        let (ctx, db) = (self.ctx(), self.db());
        let c = db
            .checkpoint_now()
            .await
            .unwrap_or_else(|e| panic!("{ctx}: checkpoint_now: {e}"));
        assert!(
            c >= self.last_seq,
            "{ctx}: checkpoint at {c}, before the task's commit {}",
            self.last_seq
        );
        let at = db
            .snapshot_probe(ConsistencyMode::AtCheckpoint)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: snapshot_probe(AtCheckpoint): {e}"));
        let latest = db
            .snapshot_probe(LATEST)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: snapshot_probe(AtLatest): {e}"));
        assert!(
            c <= at && at <= latest,
            "{ctx}: checkpoint {c}, then AtCheckpoint reads {at} and Latest {latest}"
        );
        "checkpoint"
    }
}
