//! The stress tasks' writes: table writes (one made to fail), KV numerics
//! and sets, the sharded counter, accumulator deltas and event emits; each
//! changes the task's model only when the call returns `Ok`.

use super::*;

impl Worker {
    /// A write to one of the task's items: an insert (below `ROW_CAP`), an
    /// upsert or predicated update, or a delete by key or predicate.
    pub(super) fn table_op(&mut self) -> (Mutation, Effect) {
        let val = self.rng.i64(..);
        if self.rows.is_empty() || (self.rows.len() < ROW_CAP && self.rng.u8(0..3) == 0) {
            let id = self.t * ID_SPAN + self.next_id;
            self.next_id += 1;
            let m = insert("items", vec![Value::Integer(id)], item(id, self.t, val));
            return (m, Effect::Put(id, val));
        }
        let id = self.some_row();
        let by_id = Expr::Eq("id".into(), Value::Integer(id));
        let (project_id, scope_id, table_name) =
            (P.to_string(), S.to_string(), "items".to_string());
        match self.rng.u8(0..4) {
            0 => (
                Mutation::Upsert {
                    project_id,
                    scope_id,
                    table_name,
                    primary_key: vec![Value::Integer(id)],
                    row: item(id, self.t, val),
                },
                Effect::Put(id, val),
            ),
            1 => (
                Mutation::UpdateWhere {
                    project_id,
                    scope_id,
                    table_name,
                    predicate: by_id,
                    updates: vec![("val".into(), Value::Integer(val))],
                    limit: None,
                },
                Effect::Put(id, val),
            ),
            2 => (
                Mutation::Delete {
                    project_id,
                    scope_id,
                    table_name,
                    primary_key: vec![Value::Integer(id)],
                },
                Effect::Delete(id),
            ),
            _ => (
                Mutation::DeleteWhere {
                    project_id,
                    scope_id,
                    table_name,
                    predicate: by_id,
                    limit: None,
                },
                Effect::Delete(id),
            ),
        }
    }

    /// An item write and the ledger bump in one commit, `Durable` or
    /// `Visible` (invariants 2 and 3).
    pub(super) async fn table_write(&mut self) -> &'static str {
        let (m, effect) = self.table_op();
        let durable = self.rng.u8(0..4) != 0;
        let finality = if durable {
            CommitFinality::Durable
        } else {
            CommitFinality::Visible
        };
        let ctx = self.ctx();
        let r = self
            .db()
            .commit_many_atomic_with_finality(vec![m, self.ledger_bump()], finality)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: table write {effect:?}: {e}"));
        assert_eq!(
            r.affected_rows, 2,
            "{ctx}: an item and the ledger row: {r:?}"
        );
        let seq = self.acked(&r, durable);
        match effect {
            Effect::Put(id, val) => {
                if self.rows.insert(id, val).is_none() {
                    self.inserts += 1;
                }
            }
            Effect::Delete(id) => {
                self.rows.remove(&id);
                self.deletes += 1;
                self.gone.push_back(id);
                if self.gone.len() > GONE {
                    self.gone.pop_front();
                }
            }
        }
        self.table_commits += 1;
        self.history
            .push_back((seq, self.table_commits, self.rows.clone()));
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        "table write"
    }

    /// The ledger bump, then an insert of an item that exists: the commit
    /// fails with `DuplicatePrimaryKey` and must not keep the bump
    /// (invariant 2; the ledger reads check it).
    pub(super) async fn failing_table_write(&mut self) -> &'static str {
        if self.rows.is_empty() {
            return self.table_write().await;
        }
        let id = self.some_row();
        let m = insert("items", vec![Value::Integer(id)], item(id, self.t, 0));
        let ctx = self.ctx();
        match self
            .db()
            .commit_many_atomic(vec![self.ledger_bump(), m])
            .await
        {
            Err(e) if e.code() == AedbErrorCode::DuplicatePrimaryKey => self.failed += 1,
            other => panic!("{ctx}: inserting existing item {id}: {other:?}"),
        }
        "failing table write"
    }

    pub(super) async fn kv_add_u64(&mut self) -> &'static str {
        let amount = self.rng.u64(1..1_000);
        let ctx = self.ctx();
        let r = self
            .db()
            .kv_add_u64_ex(
                P,
                S,
                self.key("n"),
                amount.to_be_bytes(),
                KvU64MissingPolicy::TreatAsZero,
                KvU64OverflowPolicy::Reject,
            )
            .await
            .unwrap_or_else(|e| panic!("{ctx}: kv_add_u64_ex {amount}: {e}"));
        let seq = self.acked(&r, true);
        let value = self.kv_u64.map_or(0, |(v, _)| v) + amount;
        self.kv_u64 = Some((value, seq));
        "kv add u64"
    }

    /// An inc, or a dec that must fail with `Underflow` exactly when it
    /// exceeds the model's value (invariant 4).
    pub(super) async fn kv_u256(&mut self) -> &'static str {
        let amount = u128::from(self.rng.u64(1..500));
        let current = self.kv_u256.map_or(0, |(v, _)| v);
        let (ctx, db, key) = (self.ctx(), self.db(), self.key("u"));
        if self.rng.bool() {
            let r = db
                .kv_inc_u256(P, S, key, be256(amount))
                .await
                .unwrap_or_else(|e| panic!("{ctx}: kv_inc_u256 {amount}: {e}"));
            let seq = self.acked(&r, true);
            self.kv_u256 = Some((current + amount, seq));
            return "kv inc u256";
        }
        match db.kv_dec_u256(P, S, key, be256(amount)).await {
            Ok(r) if amount <= current => {
                let seq = self.acked(&r, true);
                self.kv_u256 = Some((current - amount, seq));
            }
            Err(e) if amount > current && e.code() == AedbErrorCode::Underflow => self.failed += 1,
            other => panic!("{ctx}: kv_dec_u256 of {amount} from {current}: {other:?}"),
        }
        "kv dec u256"
    }

    pub(super) async fn kv_slot(&mut self) -> &'static str {
        let slot = self.rng.u32(0..SLOTS);
        let key = self.key(&format!("s/{slot:02}"));
        let (ctx, db) = (self.ctx(), self.db());
        if self.kv_slots.contains_key(&key) && self.rng.u8(0..3) == 0 {
            let r = db
                .kv_del(P, S, key.clone())
                .await
                .unwrap_or_else(|e| panic!("{ctx}: kv_del: {e}"));
            assert_eq!(r.affected_rows, 1, "{ctx}: kv_del of a present key: {r:?}");
            self.acked(&r, true);
            self.kv_slots.remove(&key);
            return "kv del";
        }
        let len = self.rng.usize(1..64);
        let value: Vec<u8> = (0..len).map(|_| self.rng.u8(..)).collect();
        let r = db
            .kv_set(P, S, key.clone(), value.clone())
            .await
            .unwrap_or_else(|e| panic!("{ctx}: kv_set: {e}"));
        let seq = self.acked(&r, true);
        self.kv_slots.insert(key, (value, seq));
        "kv set"
    }

    pub(super) async fn counter_add(&mut self) -> &'static str {
        let amount = self.rng.u64(1..100);
        let hint = self.rng.u32(..);
        let ctx = self.ctx();
        let r = self
            .db()
            .counter_add_sharded(P, S, HOT.to_vec(), amount.to_be_bytes(), HOT_SHARDS, hint)
            .await
            .unwrap_or_else(|e| panic!("{ctx}: counter_add_sharded {amount}: {e}"));
        let seq = self.acked(&r, true);
        self.hot.push((seq, amount, hint));
        "counter add"
    }

    pub(super) async fn accumulate(&mut self) -> &'static str {
        let delta = self.rng.i64(1..=100);
        let order_key = self.sh.order_key.fetch_add(1, Ordering::Relaxed);
        let dedupe_key = format!("t{}-{}", self.t, self.step);
        let ctx = self.ctx();
        match self
            .db()
            .accumulate(P, S, ACC, delta, dedupe_key, order_key)
            .await
        {
            Ok(r) => {
                let seq = self.acked(&r, true);
                self.acc.push((seq, delta));
                "accumulate"
            }
            Err(e) if e.code() == AedbErrorCode::OrderKeyNotIncreasing => {
                self.failed += 1;
                "accumulate overtaken"
            }
            Err(e) => panic!("{ctx}: accumulate {delta} at order key {order_key}: {e}"),
        }
    }

    pub(super) async fn emit(&mut self) -> &'static str {
        let key = format!("t{}-{}", self.t, self.step);
        let payload = format!(r#"{{"task":{},"step":{}}}"#, self.t, self.step);
        let ctx = self.ctx();
        let r = self
            .db()
            .emit_event(P, S, TOPIC, key.clone(), payload.clone())
            .await
            .unwrap_or_else(|e| panic!("{ctx}: emit_event {key}: {e}"));
        let seq = self.acked(&r, true);
        self.events.push((seq, key, payload));
        "emit event"
    }
}
