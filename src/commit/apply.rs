//! Applying mutations inside a write transaction. Each is validated against the
//! state the transaction sees (the writer lock makes that the latest state), so a
//! commit never acts on a stale read; a failed mutation fails the whole commit.
//!
//! Invariant: one dispatch. `WriteCtx::apply` matches the `Op` a mutation becomes
//! (`Mutation::into_op`), resolves a table mutation's table once, and hands
//! table work to `table::write`, DDL to `commit::ddl`; no arm is unreachable.

use crate::accumulator::apply::{AccWrite, Accumulated};
use crate::auth::{authorize, read_filter};
use crate::catalog::{ResourceType, TableInfo, index_tree, kv_tree};
use crate::commit::context::WriteCtx;
use crate::commit::mutation::{
    ConflictAction, ConflictTarget, Mutation, TableUpdateExpr, UpdateExpr,
};
use crate::commit::op::{AccOp, Op, TableOp};
use crate::error::AedbError;
use crate::event::EventOutboxRecord;
use crate::event::checkpoint::CheckpointRule;
use crate::event::{checkpoint, outbox, registry};
use crate::kv::write::KvLimits;
use crate::permission::Need;
use crate::query::matching_rows;
use crate::table::write::{check_row, get_row, pk_from_values, put_row, remove_row};
use crate::table::{index_entry, pk_key};
use crate::vocab::expr::Expr;
use crate::vocab::numeric::{u256_add, u256_sub};
use crate::vocab::types::{ColumnType, Row, Value, show_values};

fn add_i64(t: &TableInfo, column: &str, a: &Value, b: i64) -> Result<Value, AedbError> {
    let base = match a {
        Value::Null => 0,
        Value::Integer(v) => *v,
        other => {
            return Err(AedbError::TypeMismatch {
                table: t.name().to_string(),
                column: column.to_string(),
                expected: "Integer".into(),
                actual: other.kind_name().into(),
            });
        }
    };
    base.checked_add(b).map(Value::Integer).ok_or(if b > 0 {
        AedbError::Overflow
    } else {
        AedbError::Underflow
    })
}

impl WriteCtx<'_, '_> {
    /// Applies one mutation; returns the rows (or keys) it affected.
    /// Applies one mutation, authorized for the call; returns the rows (or
    /// keys) it affected.
    pub(crate) fn apply(&mut self, m: Mutation) -> Result<u64, AedbError> {
        match m.into_op() {
            Op::Ddl(op) => self.apply_ddl_as(op).map(|()| 0),
            Op::Kv(change) => {
                let need = Need::KvWrite {
                    project: &change.project_id,
                    scope: &change.scope_id,
                    key: &change.key,
                };
                authorize(self.cat.catalog(), &self.call, &need)?;
                if change.expected_version.is_some() {
                    // A compare-and-* reads the key's version (and reports it).
                    let read = Need::KvRead {
                        project: &change.project_id,
                        scope: &change.scope_id,
                        key: &change.key,
                    };
                    authorize(self.cat.catalog(), &self.call, &read)?;
                }
                let id = self
                    .cat
                    .catalog()
                    .scope(&change.project_id, &change.scope_id)?
                    .id;
                let name = kv_tree(id);
                let seq = self.cat.txn.seq();
                let limits = KvLimits {
                    max_key_bytes: self.limits.max_kv_key_bytes,
                    max_value_bytes: self.limits.max_kv_value_bytes,
                };
                let mut tree = self.cat.txn.open_tree(&name)?;
                change.apply(&mut tree, &name, seq, limits)
            }
            Op::Accumulator(target, op) => self.apply_accumulator(target, op),
            Op::Emit(event) => self.emit(event),
            Op::Table(target, mut op) => {
                let (project, scope, table) =
                    (&target.project_id, &target.scope_id, &target.table_name);
                let cat = self.cat.catalog();
                authorize(
                    cat,
                    &self.call,
                    &Need::TableWrite {
                        project,
                        scope,
                        table,
                    },
                )?;
                if let Some(predicate) = op.predicate_mut() {
                    // Choosing rows by a predicate reads them: the caller must
                    // be able to read the table, and touches only the rows its
                    // read policy lets it see.
                    authorize(
                        cat,
                        &self.call,
                        &Need::TableRead {
                            project,
                            scope,
                            table,
                        },
                    )?;
                    if let Some(id) = self.call.user() {
                        predicate.bind_caller(id);
                    }
                    if let Some(policy) = read_filter(cat, &self.call, project, scope, table) {
                        *predicate =
                            policy.and(std::mem::replace(predicate, Expr::IsNull(String::new())));
                    }
                }
                let t = self
                    .cat
                    .catalog()
                    .table(&target.project_id, &target.scope_id, &target.table_name)?
                    .clone();
                self.apply_table(&t, op)
            }
        }
    }

    fn apply_accumulator(
        &mut self,
        target: (String, String, String),
        op: AccOp,
    ) -> Result<u64, AedbError> {
        let (project, scope, name) = (&target.0, &target.1, &target.2);
        let cat = self.cat.catalog();
        let need = Need::Accumulator {
            project,
            scope,
            name,
            write: true,
        };
        authorize(cat, &self.call, &need)?;
        let def = cat.accumulator(project, scope, name)?.clone();
        let mut acc = AccWrite::open(self.cat.txn, def, target)?;
        let affected = match op {
            AccOp::Accumulate {
                delta,
                dedupe_key,
                order_key,
                release,
            } => match acc.accumulate(delta, &dedupe_key, order_key, release.as_deref())? {
                Accumulated::Applied => 1,
                Accumulated::Duplicate { commit_seq } => {
                    self.replayed = Some(commit_seq);
                    self.replays += 1;
                    0
                }
            },
            AccOp::Expose(exposures) => {
                for (amount, id) in &exposures {
                    acc.expose(*amount, id)?;
                }
                exposures.len() as u64
            }
            AccOp::Release(id) => u64::from(acc.release(&id)?),
            AccOp::Project => {
                acc.project()?;
                1
            }
        };
        acc.finish()?;
        Ok(affected)
    }

    /// Appends an event to the outbox as the next one of this commit, and
    /// prunes events past the retention.
    fn emit(&mut self, mut event: EventOutboxRecord) -> Result<u64, AedbError> {
        let need = Need::Events {
            project: &event.project_id,
            scope: &event.scope_id,
            write: true,
        };
        authorize(self.cat.catalog(), &self.call, &need)?;
        self.cat
            .catalog()
            .scope(&event.project_id, &event.scope_id)?;
        outbox::check(&event.topic, &event.event_key, &event.payload_json)?;
        event.commit_seq = self.cat.txn.seq();
        event.ts_micros = crate::commit::now_micros();
        outbox::append(self.cat.txn, self.events, &event)?;
        self.events += 1;
        let l = self.limits;
        if l.event_retention_commits.is_some() || l.event_retention_secs.is_some() {
            let cutoff_seq = l
                .event_retention_commits
                .map_or(0, |n| event.commit_seq.saturating_sub(n));
            let cutoff_micros = l.event_retention_secs.map_or(0, |s| {
                event.ts_micros.saturating_sub(s.saturating_mul(1_000_000))
            });
            outbox::prune(self.cat.txn, cutoff_seq, cutoff_micros)?;
        }
        Ok(1)
    }

    /// Moves processor `name`'s checkpoint to `seq` (forward only, never past
    /// the last commit); false if it was already there or further.
    pub(crate) fn advance_checkpoint(
        &mut self,
        name: &str,
        seq: u64,
        rule: CheckpointRule,
    ) -> Result<bool, AedbError> {
        // A processor's own identity (its registered caller id) moves its
        // checkpoint; anyone else needs the right over all processors.
        let own = match self.call.user() {
            Some(id) => registry::caller_of(self.cat.txn, name)?.as_deref() == Some(id),
            None => false,
        };
        if !own {
            authorize(self.cat.catalog(), &self.call, &Need::Processor { name })?;
        }
        let head = self.cat.txn.seq() - 1;
        checkpoint::advance(self.cat.txn, name, seq, head, rule)
    }

    /// Counts a refused exposure of the accumulator, as the engine (the
    /// refused commit wrote nothing; this runs in a commit of its own).
    pub(crate) fn count_exposure_rejection(
        &mut self,
        target: (String, String, String),
    ) -> Result<(), AedbError> {
        let def = self
            .cat
            .catalog()
            .accumulator(&target.0, &target.1, &target.2)?
            .clone();
        let mut acc = AccWrite::open(self.cat.txn, def, target)?;
        acc.count_rejection();
        acc.finish()
    }

    fn apply_table(&mut self, t: &TableInfo, op: TableOp) -> Result<u64, AedbError> {
        let max_batch = self.limits.max_batch_rows;
        match op {
            TableOp::Insert {
                primary_key: None,
                rows,
                ..
            } if rows.len() > max_batch => Err(AedbError::Validation(format!(
                "batch of {} rows exceeds max_batch_rows = {max_batch}",
                rows.len()
            ))),
            TableOp::Insert {
                primary_key,
                rows,
                replace,
            } => rows
                .into_iter()
                .map(|r| self.insert(t, primary_key.as_deref(), r, replace))
                .sum(),
            TableOp::UpsertOnConflict {
                rows,
                target,
                action,
            } => rows
                .into_iter()
                .map(|r| self.upsert_on_conflict(t, r, &target, &action))
                .sum(),
            TableOp::Delete { primary_key } => {
                let pk = pk_from_values(t, &primary_key)?;
                match get_row(self.cat.txn, t, &pk)? {
                    Some(old) => {
                        remove_row(self.cat.txn, t, &pk, &old)?;
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
            TableOp::DeleteWhere { predicate, limit } => {
                let hits = matching_rows(
                    self.cat.txn,
                    t,
                    &predicate,
                    limit,
                    self.limits.max_scan_rows,
                )?;
                for (pk, old) in &hits {
                    remove_row(self.cat.txn, t, pk, old)?;
                }
                Ok(hits.len() as u64)
            }
            TableOp::UpdateWhere {
                predicate,
                updates,
                limit,
            } => self.update_where(t, &predicate, &updates, limit),
            TableOp::U256Step {
                primary_key,
                column,
                amount_be,
                add,
            } => self.u256_step(t, &primary_key, &column, &amount_be, add),
        }
    }

    fn insert(
        &mut self,
        t: &TableInfo,
        given_pk: Option<&[Value]>,
        row: Row,
        replace: bool,
    ) -> Result<u64, AedbError> {
        let values = check_row(t, row, self.limits.max_table_value_bytes)?;
        let pk = pk_key(t, &values);
        if let Some(given) = given_pk
            && !given.is_empty()
            && pk_from_values(t, given)? != pk
        {
            return Err(AedbError::Validation(format!(
                "primary_key {} does not match the row's key columns {} in table '{}'",
                show_values(&given.iter().collect::<Vec<_>>()),
                t.show_pk(&values),
                t.name()
            )));
        }
        let old = get_row(self.cat.txn, t, &pk)?;
        if old.is_some() && !replace {
            return Err(AedbError::DuplicatePK {
                table: t.name().to_string(),
                key: t.show_pk(&values),
            });
        }
        put_row(self.cat.txn, t, &values, old.as_deref())?;
        Ok(1)
    }

    /// The key of the existing row `values` collides with on `target`, if any.
    fn conflicting(
        &mut self,
        t: &TableInfo,
        values: &[Value],
        target: &ConflictTarget,
    ) -> Result<Option<Vec<u8>>, AedbError> {
        let pk = pk_key(t, values);
        let index = match target {
            ConflictTarget::PrimaryKey => None,
            ConflictTarget::Index(name) => Some(
                t.record
                    .indexes
                    .iter()
                    .position(|ix| {
                        ix.def.index_name == *name || ix.constraint.as_deref() == Some(name)
                    })
                    .ok_or_else(|| {
                        AedbError::not_found(ResourceType::Index, format!("{}.{name}", t.name()))
                    })?,
            ),
            ConflictTarget::Columns(cols) => {
                let mut want = cols.clone();
                want.sort();
                let mut pkc = t.schema().primary_key.clone();
                pkc.sort();
                if want == pkc {
                    None
                } else {
                    Some(
                        t.record
                            .indexes
                            .iter()
                            .position(|ix| {
                                let mut c = ix.def.columns.clone();
                                c.sort();
                                ix.def.index_type.is_unique() && c == want
                            })
                            .ok_or_else(|| AedbError::Validation(format!("no primary key or unique index of table '{}' covers columns {cols:?}", t.name())))?,
                    )
                }
            }
        };
        let Some(i) = index else {
            return Ok(get_row(self.cat.txn, t, &pk)?.map(|_| pk));
        };
        if !t.record.indexes[i].def.index_type.is_unique() {
            return Err(AedbError::Validation(format!(
                "conflict target '{}' is not a unique index",
                t.record.indexes[i].def.index_name
            )));
        }
        match index_entry(t, i, values, &pk)? {
            Some((k, _)) => Ok(self
                .cat
                .txn
                .open_tree(&index_tree(t.record.indexes[i].id))?
                .get(&k)?),
            None => Ok(None),
        }
    }

    fn upsert_on_conflict(
        &mut self,
        t: &TableInfo,
        row: Row,
        target: &ConflictTarget,
        action: &ConflictAction,
    ) -> Result<u64, AedbError> {
        let proposed = check_row(t, row, self.limits.max_table_value_bytes)?;
        let Some(existing_pk) = self.conflicting(t, &proposed, target)? else {
            return self.insert(t, None, Row::from_values(proposed), false);
        };
        let existing =
            get_row(self.cat.txn, t, &existing_pk)?.ok_or_else(|| AedbError::IntegrityError {
                message: format!("index of table '{}' names a missing row", t.name()),
            })?;
        let mut next = existing.clone();
        match action {
            ConflictAction::DoNothing => return Ok(0),
            ConflictAction::DoMerge => {
                for (i, v) in proposed.iter().enumerate() {
                    if !v.is_null() {
                        next[i] = v.clone();
                    }
                }
            }
            ConflictAction::DoUpdate(sets) => {
                for (c, v) in sets {
                    next[t.column_or_err(c)?] = v.clone();
                }
            }
            ConflictAction::DoUpdateWith(sets) => {
                for (c, e) in sets {
                    let i = t.column_or_err(c)?;
                    next[i] = match e {
                        UpdateExpr::Value(v) => v.clone(),
                        UpdateExpr::Existing(src) => existing[t.column_or_err(src)?].clone(),
                        UpdateExpr::Proposed(src) => proposed[t.column_or_err(src)?].clone(),
                        UpdateExpr::AddI64 {
                            existing_column,
                            proposed_column,
                        } => {
                            let add = match &proposed[t.column_or_err(proposed_column)?] {
                                Value::Integer(v) => *v,
                                Value::Null => 0,
                                other => {
                                    return Err(AedbError::TypeMismatch {
                                        table: t.name().into(),
                                        column: proposed_column.clone(),
                                        expected: "Integer".into(),
                                        actual: other.kind_name().into(),
                                    });
                                }
                            };
                            add_i64(
                                t,
                                existing_column,
                                &existing[t.column_or_err(existing_column)?],
                                add,
                            )?
                        }
                    };
                }
            }
        }
        self.replace_row(t, &existing_pk, &existing, next)
    }

    /// Writes `next` over the row `old` stored at `pk`; the key may not change.
    fn replace_row(
        &mut self,
        t: &TableInfo,
        pk: &[u8],
        old: &[Value],
        next: Vec<Value>,
    ) -> Result<u64, AedbError> {
        let checked = check_row(t, Row::from_values(next), self.limits.max_table_value_bytes)?;
        if pk_key(t, &checked) != pk {
            return Err(AedbError::Validation(format!(
                "an update may not change the primary key of a row in table '{}'; delete and insert instead",
                t.name()
            )));
        }
        put_row(self.cat.txn, t, &checked, Some(old))?;
        Ok(1)
    }

    fn update_where(
        &mut self,
        t: &TableInfo,
        predicate: &Expr,
        updates: &[(String, TableUpdateExpr)],
        limit: Option<usize>,
    ) -> Result<u64, AedbError> {
        let targets: Vec<usize> = updates
            .iter()
            .map(|(c, _)| t.column_or_err(c))
            .collect::<Result<_, _>>()?;
        for (c, _) in updates {
            if t.schema().primary_key.contains(c) {
                return Err(AedbError::Validation(format!(
                    "primary-key column '{c}' of table '{}' cannot be updated; delete and insert instead",
                    t.name()
                )));
            }
        }
        let hits = matching_rows(self.cat.txn, t, predicate, limit, self.limits.max_scan_rows)?;
        for (pk, old) in &hits {
            let mut next = old.clone();
            for ((c, e), &i) in updates.iter().zip(&targets) {
                next[i] = match e {
                    TableUpdateExpr::Value(v) => v.clone(),
                    TableUpdateExpr::CopyColumn(src) => old[t.column_or_err(src)?].clone(),
                    TableUpdateExpr::AddI64(n) => add_i64(t, c, &old[i], *n)?,
                    TableUpdateExpr::Coalesce(v) => {
                        if old[i].is_null() {
                            v.clone()
                        } else {
                            old[i].clone()
                        }
                    }
                };
            }
            self.replace_row(t, pk, old, next)?;
        }
        Ok(hits.len() as u64)
    }

    fn u256_step(
        &mut self,
        t: &TableInfo,
        primary_key: &[Value],
        column: &str,
        amount: &[u8; 32],
        add: bool,
    ) -> Result<u64, AedbError> {
        let i = t.column_or_err(column)?;
        if t.types[i] != ColumnType::U256 {
            return Err(AedbError::TypeMismatch {
                table: t.name().into(),
                column: column.into(),
                expected: "U256".into(),
                actual: t.types[i].to_string(),
            });
        }
        let pk = pk_from_values(t, primary_key)?;
        let old = get_row(self.cat.txn, t, &pk)?.ok_or_else(|| {
            AedbError::Validation(format!(
                "no row {} in table '{}'",
                show_values(&primary_key.iter().collect::<Vec<_>>()),
                t.name()
            ))
        })?;
        let cur = match &old[i] {
            Value::U256(b) => *b,
            _ => [0u8; 32],
        };
        let next_val = if add {
            u256_add(&cur, amount).ok_or(AedbError::Overflow)?
        } else {
            u256_sub(&cur, amount).ok_or(AedbError::Underflow)?
        };
        let mut next = old.clone();
        next[i] = Value::U256(next_val);
        self.replace_row(t, &pk, &old, next)
    }
}
