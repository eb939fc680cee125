//! Applying mutations inside a write transaction. Each is validated against the
//! state the transaction sees (the writer lock makes that the latest state), so a
//! commit never acts on a stale read; a failed mutation fails the whole commit.
#![forbid(unsafe_code)]

use std::sync::Arc;

use crate::catalog::types::{ColumnType, Row, Value};
use crate::catalog::{TableInfo, index_tree, kv_tree};
use crate::commit::context::WriteCtx;
use crate::commit::validation::{ConflictAction, ConflictTarget, Mutation, TableUpdateExpr, UpdateExpr};
use crate::error::AedbError;
use crate::query::exec::matching_rows;
use crate::table::write::{check_row, pk_from_values, show_pk};
use crate::table::{index_entry, pk_key};

fn unknown(t: &TableInfo, column: &str) -> AedbError {
    AedbError::UnknownColumn { table: t.name().to_string(), column: column.to_string() }
}

fn col(t: &TableInfo, column: &str) -> Result<usize, AedbError> {
    t.column(column).ok_or_else(|| unknown(t, column))
}

fn u256_add(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    (carry == 0).then_some(out)
}

fn u256_sub(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    (borrow == 0).then_some(out)
}

fn add_i64(t: &TableInfo, column: &str, a: &Value, b: i64) -> Result<Value, AedbError> {
    let base = match a {
        Value::Null => 0,
        Value::Integer(v) => *v,
        other => return Err(AedbError::TypeMismatch { table: t.name().to_string(), column: column.to_string(), expected: "Integer".into(), actual: other.kind_name().into() }),
    };
    base.checked_add(b).map(Value::Integer).ok_or(if b > 0 { AedbError::Overflow } else { AedbError::Underflow })
}

impl WriteCtx<'_, '_> {
    fn table(&self, project: &str, scope: &str, table: &str) -> Result<Arc<TableInfo>, AedbError> {
        Ok(self.catalog.table(project, scope, table)?.clone())
    }

    /// Applies one mutation; returns the rows (or keys) it affected.
    pub fn apply(&mut self, m: Mutation) -> Result<u64, AedbError> {
        if let Mutation::Ddl(op) = m {
            self.apply_ddl(op)?;
            return Ok(0);
        }
        if let Mutation::KvSet { project_id, scope_id, key, value } = &m {
            return self.kv_set(project_id, scope_id, key, value);
        }
        if let Mutation::KvDel { project_id, scope_id, key } = &m {
            let id = self.catalog.scope(project_id, scope_id)?.id;
            return Ok(u64::from(self.txn.open_tree(&kv_tree(id))?.remove(key)?.is_some()));
        }
        let (p, s, tn) = m.table_target().map(|(p, s, t)| (p.to_string(), s.to_string(), t.to_string())).unwrap_or_default();
        let t = self.table(&p, &s, &tn)?;
        match m {
            Mutation::Insert { primary_key, row, .. } => self.insert(&t, Some(&primary_key), row, false),
            Mutation::Upsert { primary_key, row, .. } => self.insert(&t, Some(&primary_key), row, true),
            Mutation::InsertBatch { rows, .. } | Mutation::UpsertBatch { rows, .. } if rows.len() > self.limits.max_batch_rows => {
                Err(AedbError::Validation(format!("batch of {} rows exceeds max_batch_rows = {}", rows.len(), self.limits.max_batch_rows)))
            }
            Mutation::InsertBatch { rows, .. } => rows.into_iter().map(|r| self.insert(&t, None, r, false)).sum(),
            Mutation::UpsertBatch { rows, .. } => rows.into_iter().map(|r| self.insert(&t, None, r, true)).sum(),
            Mutation::UpsertOnConflict { row, conflict_target, conflict_action, .. } => self.upsert_on_conflict(&t, row, &conflict_target, &conflict_action),
            Mutation::UpsertBatchOnConflict { rows, conflict_target, conflict_action, .. } => {
                rows.into_iter().map(|r| self.upsert_on_conflict(&t, r, &conflict_target, &conflict_action)).sum()
            }
            Mutation::Delete { primary_key, .. } => {
                let pk = pk_from_values(&t, &primary_key)?;
                match self.get_row(&t, &pk)? {
                    Some(old) => {
                        self.remove_row(&t, &pk, &old)?;
                        Ok(1)
                    }
                    None => Ok(0),
                }
            }
            Mutation::DeleteWhere { predicate, limit, .. } => {
                let hits = matching_rows(self.txn, &t, &predicate, limit, self.limits.max_scan_rows)?;
                for (pk, old) in &hits {
                    self.remove_row(&t, pk, old)?;
                }
                Ok(hits.len() as u64)
            }
            Mutation::UpdateWhere { predicate, updates, limit, .. } => {
                let exprs: Vec<(String, TableUpdateExpr)> = updates.into_iter().map(|(c, v)| (c, TableUpdateExpr::Value(v))).collect();
                self.update_where(&t, &predicate, &exprs, limit)
            }
            Mutation::UpdateWhereExpr { predicate, updates, limit, .. } => self.update_where(&t, &predicate, &updates, limit),
            Mutation::TableIncU256 { primary_key, column, amount_be, .. } => self.u256_step(&t, &primary_key, &column, &amount_be, true),
            Mutation::TableDecU256 { primary_key, column, amount_be, .. } => self.u256_step(&t, &primary_key, &column, &amount_be, false),
            Mutation::Ddl(_) | Mutation::KvSet { .. } | Mutation::KvDel { .. } => Ok(0),
        }
    }

    fn kv_set(&mut self, project: &str, scope: &str, key: &[u8], value: &[u8]) -> Result<u64, AedbError> {
        let l = self.limits;
        if key.is_empty() || key.len() > l.max_kv_key_bytes {
            return Err(AedbError::Validation(format!("kv key of {} bytes: keys are 1..={} bytes", key.len(), l.max_kv_key_bytes)));
        }
        if value.len() > l.max_kv_value_bytes {
            return Err(AedbError::Validation(format!("kv value of {} bytes exceeds max_kv_value_bytes = {}", value.len(), l.max_kv_value_bytes)));
        }
        let id = self.catalog.scope(project, scope)?.id;
        self.txn.open_tree(&kv_tree(id))?.insert(key, value)?;
        Ok(1)
    }

    fn insert(&mut self, t: &TableInfo, given_pk: Option<&[Value]>, row: Row, replace: bool) -> Result<u64, AedbError> {
        let values = check_row(t, row, self.limits.max_table_value_bytes)?;
        let pk = pk_key(t, &values);
        if let Some(given) = given_pk
            && !given.is_empty()
            && pk_from_values(t, given)? != pk
        {
            return Err(AedbError::Validation(format!(
                "primary_key {} does not match the row's key columns {} in table '{}'",
                crate::table::write::show_values(&given.iter().collect::<Vec<_>>()),
                show_pk(t, &values),
                t.name()
            )));
        }
        let old = self.get_row(t, &pk)?;
        if old.is_some() && !replace {
            return Err(AedbError::DuplicatePK { table: t.name().to_string(), key: show_pk(t, &values) });
        }
        self.put_row(t, &values, old.as_deref())?;
        Ok(1)
    }

    /// The key of the existing row `values` collides with on `target`, if any.
    fn conflicting(&mut self, t: &TableInfo, values: &[Value], target: &ConflictTarget) -> Result<Option<Vec<u8>>, AedbError> {
        let pk = pk_key(t, values);
        let index = match target {
            ConflictTarget::PrimaryKey => None,
            ConflictTarget::Index(name) => Some(
                t.record
                    .indexes
                    .iter()
                    .position(|ix| ix.def.index_name == *name || ix.constraint.as_deref() == Some(name))
                    .ok_or_else(|| AedbError::not_found(crate::error::ResourceType::Index, format!("{}.{name}", t.name())))?,
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
            return Ok(self.get_row(t, &pk)?.map(|_| pk));
        };
        if !t.record.indexes[i].def.index_type.is_unique() {
            return Err(AedbError::Validation(format!("conflict target '{}' is not a unique index", t.record.indexes[i].def.index_name)));
        }
        match index_entry(t, i, values, &pk)? {
            Some((k, _)) => Ok(self.txn.open_tree(&index_tree(t.record.indexes[i].id))?.get(&k)?),
            None => Ok(None),
        }
    }

    fn upsert_on_conflict(&mut self, t: &TableInfo, row: Row, target: &ConflictTarget, action: &ConflictAction) -> Result<u64, AedbError> {
        let proposed = check_row(t, row, self.limits.max_table_value_bytes)?;
        let Some(existing_pk) = self.conflicting(t, &proposed, target)? else {
            return self.insert(t, None, Row::from_values(proposed), false);
        };
        let existing = self.get_row(t, &existing_pk)?.ok_or_else(|| AedbError::IntegrityError { message: format!("index of table '{}' names a missing row", t.name()) })?;
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
                    next[col(t, c)?] = v.clone();
                }
            }
            ConflictAction::DoUpdateWith(sets) => {
                for (c, e) in sets {
                    let i = col(t, c)?;
                    next[i] = match e {
                        UpdateExpr::Value(v) => v.clone(),
                        UpdateExpr::Existing(src) => existing[col(t, src)?].clone(),
                        UpdateExpr::Proposed(src) => proposed[col(t, src)?].clone(),
                        UpdateExpr::AddI64 { existing_column, proposed_column } => {
                            let add = match &proposed[col(t, proposed_column)?] {
                                Value::Integer(v) => *v,
                                Value::Null => 0,
                                other => {
                                    return Err(AedbError::TypeMismatch { table: t.name().into(), column: proposed_column.clone(), expected: "Integer".into(), actual: other.kind_name().into() });
                                }
                            };
                            add_i64(t, existing_column, &existing[col(t, existing_column)?], add)?
                        }
                    };
                }
            }
        }
        self.replace_row(t, &existing_pk, &existing, next)
    }

    /// Writes `next` over the row `old` stored at `pk`; the key may not change.
    fn replace_row(&mut self, t: &TableInfo, pk: &[u8], old: &[Value], next: Vec<Value>) -> Result<u64, AedbError> {
        let checked = check_row(t, Row::from_values(next), self.limits.max_table_value_bytes)?;
        if pk_key(t, &checked) != pk {
            return Err(AedbError::Validation(format!("an update may not change the primary key of a row in table '{}'; delete and insert instead", t.name())));
        }
        self.put_row(t, &checked, Some(old))?;
        Ok(1)
    }

    fn update_where(&mut self, t: &TableInfo, predicate: &crate::query::plan::Expr, updates: &[(String, TableUpdateExpr)], limit: Option<usize>) -> Result<u64, AedbError> {
        let targets: Vec<usize> = updates.iter().map(|(c, _)| col(t, c)).collect::<Result<_, _>>()?;
        for (c, _) in updates {
            if t.schema().primary_key.contains(c) {
                return Err(AedbError::Validation(format!("primary-key column '{c}' of table '{}' cannot be updated; delete and insert instead", t.name())));
            }
        }
        let hits = matching_rows(self.txn, t, predicate, limit, self.limits.max_scan_rows)?;
        for (pk, old) in &hits {
            let mut next = old.clone();
            for ((c, e), &i) in updates.iter().zip(&targets) {
                next[i] = match e {
                    TableUpdateExpr::Value(v) => v.clone(),
                    TableUpdateExpr::CopyColumn(src) => old[col(t, src)?].clone(),
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

    fn u256_step(&mut self, t: &TableInfo, primary_key: &[Value], column: &str, amount: &[u8; 32], add: bool) -> Result<u64, AedbError> {
        let i = col(t, column)?;
        if t.types[i] != ColumnType::U256 {
            return Err(AedbError::TypeMismatch { table: t.name().into(), column: column.into(), expected: "U256".into(), actual: t.types[i].to_string() });
        }
        let pk = pk_from_values(t, primary_key)?;
        let old = self.get_row(t, &pk)?.ok_or_else(|| AedbError::Validation(format!("no row {} in table '{}'", crate::table::write::show_values(&primary_key.iter().collect::<Vec<_>>()), t.name())))?;
        let cur = match &old[i] {
            Value::U256(b) => *b,
            _ => [0u8; 32],
        };
        let next_val = if add { u256_add(&cur, amount).ok_or(AedbError::Overflow)? } else { u256_sub(&cur, amount).ok_or(AedbError::Underflow)? };
        let mut next = old.clone();
        next[i] = Value::U256(next_val);
        self.replace_row(t, &pk, &old, next)
    }
}

#[cfg(test)]
mod tests {
    use super::{u256_add, u256_sub};

    #[test]
    fn u256_arithmetic_carries_and_refuses_wraparound() {
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut a = [0u8; 32];
        a[31] = 0xFF;
        let s = u256_add(&a, &one).unwrap();
        assert_eq!((s[30], s[31]), (1, 0));
        assert_eq!(u256_sub(&s, &one).unwrap(), a);
        assert!(u256_sub(&[0u8; 32], &one).is_none());
        assert!(u256_add(&[0xFF; 32], &one).is_none());
    }
}
