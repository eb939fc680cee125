//! The conditions of an envelope, checked inside its write transaction before
//! any of its mutations apply: read assertions (the first that fails is
//! reported with what it found) and the optimistic read set (a key or range
//! that changed since it was read is a `Conflict`).
//!
//! Invariant: a condition reads only what its caller may read. Every KV key
//! needs `KvRead`, every row `TableRead`, and rows a read policy hides from the
//! caller count as absent: an assertion is never a way to probe hidden data.

use std::ops::Bound;
use std::sync::Arc;

use crate::accumulator::apply::AccWrite;
use crate::auth::{authorize, read_filter};
use crate::catalog::{TableColumns, TableInfo, kv_tree};
use crate::commit::context::WriteCtx;
use crate::commit::tx::{ReadBound, ReadKey, ReadRange, ReadSet};
use crate::error::AedbError;
use crate::eval::compile;
use crate::kv::KvEntry;
use crate::permission::Need;
use crate::query::{count_exact, matching_rows, query_to_aedb};
use crate::storage::ReadTransaction;
use crate::table::row::split_version;
use crate::table::write::{get_row_versioned, pk_from_values};
use crate::vocab::assertion::{AssertionActual, CompareOp, ReadAssertion};
use crate::vocab::expr::Expr;
use crate::vocab::numeric::u256_add;
use crate::vocab::types::{ColumnType, Value};

/// Deepest nesting of `All`/`Any`/`Not` an assertion may have.
const MAX_ASSERTION_DEPTH: usize = 32;

/// An assertion's verdict and what it found.
type Verdict = (bool, AssertionActual);

/// Keys and versions of a range, in key order.
type Versions = Vec<(Vec<u8>, u64)>;

/// A row the caller may see: its table, version and values.
type SeenRow = (Arc<TableInfo>, u64, Vec<Value>);

/// A table and the rows of it a condition reads.
type TableRows = (Arc<TableInfo>, Vec<(Vec<u8>, Vec<Value>)>);

/// A tree and a range of stored keys in it.
type StoredRange = (String, ReadBound<Vec<u8>>, ReadBound<Vec<u8>>);

/// Compares a KV value with a threshold: as unsigned integers when both are
/// 8 or 32 bytes (big-endian, widened), else bytewise.
fn compare_bytes(value: &[u8], threshold: &[u8]) -> std::cmp::Ordering {
    let numeric = |b: &[u8]| matches!(b.len(), 8 | 32);
    if numeric(value) && numeric(threshold) {
        let widen = |b: &[u8]| {
            let mut w = [0u8; 32];
            w[32 - b.len()..].copy_from_slice(b);
            w
        };
        widen(value).cmp(&widen(threshold))
    } else {
        value.cmp(threshold)
    }
}

fn coerce(t: &TableInfo, column: &str, ty: ColumnType, v: &Value) -> Result<Value, AedbError> {
    v.coerce_to(ty).ok_or_else(|| AedbError::TypeMismatch {
        table: t.name().to_string(),
        column: column.to_string(),
        expected: format!("{ty:?}"),
        actual: v.kind_name().into(),
    })
}

/// `a + b` for a SUM over a column of `a`'s type.
fn add_values(a: Value, b: &Value) -> Result<Value, AedbError> {
    Ok(match (a, b) {
        (a, Value::Null) => a,
        (Value::Null, b) => b.clone(),
        (Value::Integer(x), Value::Integer(y)) => {
            Value::Integer(x.checked_add(*y).ok_or(AedbError::Overflow)?)
        }
        (Value::Timestamp(x), Value::Timestamp(y)) => {
            Value::Timestamp(x.checked_add(*y).ok_or(AedbError::Overflow)?)
        }
        (Value::U8(x), Value::U8(y)) => Value::U64(u64::from(x) + u64::from(*y)),
        (Value::U64(x), Value::U8(y)) => {
            Value::U64(x.checked_add(u64::from(*y)).ok_or(AedbError::Overflow)?)
        }
        (Value::U64(x), Value::U64(y)) => Value::U64(x.checked_add(*y).ok_or(AedbError::Overflow)?),
        (Value::U256(x), Value::U256(y)) => {
            Value::U256(u256_add(&x, y).ok_or(AedbError::Overflow)?)
        }
        (Value::Float(x), Value::Float(y)) => Value::Float(x + y),
        (a, b) => {
            return Err(AedbError::Validation(format!(
                "SumCompare cannot add {} and {} values",
                a.kind_name(),
                b.kind_name()
            )));
        }
    })
}

fn bound<T>(b: &ReadBound<T>) -> Bound<&T> {
    match b {
        ReadBound::Unbounded => Bound::Unbounded,
        ReadBound::Included(v) => Bound::Included(v),
        ReadBound::Excluded(v) => Bound::Excluded(v),
    }
}

impl WriteCtx<'_, '_> {
    /// Checks `assertions` in order; the first that does not hold fails the
    /// commit with `AssertionFailed` (its index, itself, what it found).
    pub(crate) fn check_assertions(
        &mut self,
        assertions: &[ReadAssertion],
    ) -> Result<(), AedbError> {
        for (index, a) in assertions.iter().enumerate() {
            let (holds, actual) = self.evaluate(a, 0)?;
            if !holds {
                return Err(AedbError::AssertionFailed {
                    index,
                    assertion: Box::new(a.clone()),
                    actual: Box::new(actual),
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, a: &ReadAssertion, depth: usize) -> Result<Verdict, AedbError> {
        use ReadAssertion as A;
        if depth > MAX_ASSERTION_DEPTH {
            return Err(AedbError::Validation(format!(
                "assertion nested deeper than {MAX_ASSERTION_DEPTH} levels"
            )));
        }
        let missing = || (false, AssertionActual::Missing);
        Ok(match a {
            A::AccumulatorAvailableAtLeast {
                project_id,
                scope_id,
                accumulator_name,
                min_amount,
            } => {
                let available =
                    self.accumulator_available(project_id, scope_id, accumulator_name)?;
                (
                    available >= *min_amount,
                    AssertionActual::Value(Value::Integer(available)),
                )
            }
            A::AccumulatorExposureWithinMargin {
                project_id,
                scope_id,
                accumulator_name,
                additional_exposure,
            } => {
                let available =
                    self.accumulator_available(project_id, scope_id, accumulator_name)?;
                (
                    *additional_exposure <= available,
                    AssertionActual::Value(Value::Integer(available)),
                )
            }
            A::KeyEquals {
                project_id,
                scope_id,
                key,
                expected,
            } => match self.kv_entry(project_id, scope_id, key)? {
                Some(e) => (e.value == *expected, AssertionActual::Bytes(e.value)),
                None => missing(),
            },
            A::KeyCompare {
                project_id,
                scope_id,
                key,
                op,
                threshold,
            } => match self.kv_entry(project_id, scope_id, key)? {
                Some(e) => (
                    op.holds(compare_bytes(&e.value, threshold)),
                    AssertionActual::Bytes(e.value),
                ),
                None => missing(),
            },
            A::KeyExists {
                project_id,
                scope_id,
                key,
                expected,
            } => {
                let exists = self.kv_entry(project_id, scope_id, key)?.is_some();
                (exists == *expected, AssertionActual::Bool(exists))
            }
            A::KeyVersion {
                project_id,
                scope_id,
                key,
                expected_seq,
            } => {
                let v = self
                    .kv_entry(project_id, scope_id, key)?
                    .map_or(0, |e| e.version);
                (v == *expected_seq, AssertionActual::Version(v))
            }
            A::RowVersion {
                project_id,
                scope_id,
                table_name,
                primary_key,
                expected_seq,
            } => {
                let v = self
                    .visible_row(project_id, scope_id, table_name, primary_key)?
                    .map_or(0, |(_, v, _)| v);
                (v == *expected_seq, AssertionActual::Version(v))
            }
            A::RowExists {
                project_id,
                scope_id,
                table_name,
                primary_key,
                expected,
            } => {
                let exists = self
                    .visible_row(project_id, scope_id, table_name, primary_key)?
                    .is_some();
                (exists == *expected, AssertionActual::Bool(exists))
            }
            A::RowColumnCompare {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                op,
                threshold,
            } => match self.visible_row(project_id, scope_id, table_name, primary_key)? {
                Some((t, _, row)) => {
                    let pos = t.column_or_err(column)?;
                    let threshold = coerce(&t, column, t.types[pos], threshold)?;
                    let v = row[pos].clone();
                    let holds = !v.is_null() && op.holds(v.cmp(&threshold));
                    (holds, AssertionActual::Value(v))
                }
                None => missing(),
            },
            A::CountCompare {
                project_id,
                scope_id,
                table_name,
                filter,
                op,
                threshold,
            } => {
                let n = self.count_rows(project_id, scope_id, table_name, filter.as_ref())?;
                (op.holds(n.cmp(threshold)), AssertionActual::Count(n))
            }
            A::SumCompare {
                project_id,
                scope_id,
                table_name,
                column,
                filter,
                op,
                threshold,
            } => {
                let (t, rows) = self.rows_for(project_id, scope_id, table_name, filter.as_ref())?;
                let pos = t.column_or_err(column)?;
                let mut sum = Value::Null;
                for (_, row) in &rows {
                    sum = add_values(sum, &row[pos])?;
                }
                let holds = match sum.column_type() {
                    Some(ty) => op.holds(sum.cmp(&coerce(&t, column, ty, threshold)?)),
                    // The sum of no values is no value: only `Ne` holds.
                    None => *op == CompareOp::Ne,
                };
                (holds, AssertionActual::Value(sum))
            }
            A::All(parts) => {
                for p in parts {
                    let (holds, actual) = self.evaluate(p, depth + 1)?;
                    if !holds {
                        return Ok((false, actual));
                    }
                }
                (true, AssertionActual::Bool(true))
            }
            A::Any(parts) => {
                let mut last = AssertionActual::Bool(false);
                for p in parts {
                    let (holds, actual) = self.evaluate(p, depth + 1)?;
                    if holds {
                        return Ok((true, actual));
                    }
                    last = actual;
                }
                (false, last)
            }
            A::Not(inner) => {
                let (holds, actual) = self.evaluate(inner, depth + 1)?;
                (!holds, actual)
            }
        })
    }

    /// An accumulator's available amount in this transaction, once the call
    /// may read it.
    fn accumulator_available(
        &mut self,
        project: &str,
        scope: &str,
        name: &str,
    ) -> Result<i64, AedbError> {
        let need = Need::Accumulator {
            project,
            scope,
            name,
            write: false,
        };
        authorize(self.cat.catalog(), &self.call, &need)?;
        let def = self
            .cat
            .catalog()
            .accumulator(project, scope, name)?
            .clone();
        let target = (project.to_string(), scope.to_string(), name.to_string());
        // Opening prunes expired exposures; finishing keeps the state in step.
        let acc = AccWrite::open(self.cat.txn, def, target)?;
        let available = acc.available()?;
        acc.finish()?;
        Ok(available)
    }

    /// The entry under `key`, once the call may read it.
    fn kv_entry(
        &mut self,
        project: &str,
        scope: &str,
        key: &[u8],
    ) -> Result<Option<KvEntry>, AedbError> {
        let need = Need::KvRead {
            project,
            scope,
            key,
        };
        authorize(self.cat.catalog(), &self.call, &need)?;
        let name = kv_tree(self.cat.catalog().scope(project, scope)?.id);
        match self.cat.txn.existing_tree(&name)? {
            Some(mut tree) => crate::kv::write::get(&mut tree, &name, key),
            None => Ok(None),
        }
    }

    /// The table, once the call may read it, and the predicate (the caller's
    /// read policy, if one applies) rows must meet to be seen.
    fn readable_table(
        &self,
        project: &str,
        scope: &str,
        table: &str,
    ) -> Result<(Arc<TableInfo>, Option<Expr>), AedbError> {
        let cat = self.cat.catalog();
        let need = Need::TableRead {
            project,
            scope,
            table,
        };
        authorize(cat, &self.call, &need)?;
        let t = cat.table(project, scope, table)?.clone();
        Ok((t, read_filter(cat, &self.call, project, scope, table)))
    }

    /// The row under `primary_key` with its version, if the call may see it.
    fn visible_row(
        &mut self,
        project: &str,
        scope: &str,
        table: &str,
        primary_key: &[Value],
    ) -> Result<Option<SeenRow>, AedbError> {
        let (t, policy) = self.readable_table(project, scope, table)?;
        let pk = pk_from_values(&t, primary_key)?;
        let Some((version, row)) = get_row_versioned(self.cat.txn, &t, &pk)? else {
            return Ok(None);
        };
        if let Some(policy) = policy {
            let visible = compile(&policy, &TableColumns(&t))
                .map_err(query_to_aedb)?
                .matches(&row);
            if !visible {
                return Ok(None);
            }
        }
        Ok(Some((t, version, row)))
    }

    /// The rows of a table matching `filter` that the call may see (at most
    /// `max_scan_rows`, else a `Validation` error).
    fn rows_for(
        &mut self,
        project: &str,
        scope: &str,
        table: &str,
        filter: Option<&Expr>,
    ) -> Result<TableRows, AedbError> {
        let (t, policy) = self.readable_table(project, scope, table)?;
        // Primary-key columns are never NULL: "the first of them is not NULL"
        // holds for every row, the predicate of an unfiltered count or sum.
        let first_pk = t.schema().columns[t.pk[0]].name.clone();
        let every_row = || Expr::Not(Box::new(Expr::IsNull(first_pk)));
        let predicate = match (filter.cloned(), policy) {
            (Some(f), Some(p)) => p.and(f),
            (Some(f), None) => f,
            (None, Some(p)) => p,
            (None, None) => every_row(),
        };
        let rows = matching_rows(
            self.cat.txn,
            &t,
            &predicate,
            None,
            self.limits.max_scan_rows,
        )?;
        Ok((t, rows))
    }

    /// How many rows of the table the call may see match `filter`: from the
    /// B+tree's subtree counts when the key bounds answer it (no filter and no
    /// read policy, or a primary-key or index range), else by reading them.
    fn count_rows(
        &mut self,
        project: &str,
        scope: &str,
        table: &str,
        filter: Option<&Expr>,
    ) -> Result<u64, AedbError> {
        let (t, policy) = self.readable_table(project, scope, table)?;
        let predicate = match (filter.cloned(), policy) {
            (Some(f), Some(p)) => p.and(f),
            (Some(f), None) => f,
            (None, Some(p)) => p,
            (None, None) => {
                return Ok(crate::table::existing_tree(self.cat.txn, &t.rows_tree)?.len()?);
            }
        };
        match count_exact(self.cat.txn, &t, &predicate)? {
            Some(n) => Ok(n),
            None => Ok(self.rows_for(project, scope, table, filter)?.1.len() as u64),
        }
    }

    /// Fails with `Conflict` if anything in `set` changed since it was read:
    /// a point whose version differs, a range holding a newer version than
    /// was seen, or other keys or versions than at `base_seq` (`base` is that
    /// snapshot, `None` when it is no longer retained).
    pub(crate) fn check_read_set(
        &mut self,
        set: &ReadSet,
        base_seq: u64,
        base: Option<&ReadTransaction>,
    ) -> Result<(), AedbError> {
        for p in &set.points {
            let now = match &p.key {
                ReadKey::KvKey {
                    project_id,
                    scope_id,
                    key,
                } => self
                    .kv_entry(project_id, scope_id, key)?
                    .map_or(0, |e| e.version),
                ReadKey::TableRow {
                    project_id,
                    scope_id,
                    table_name,
                    primary_key,
                } => self
                    .visible_row(project_id, scope_id, table_name, primary_key)?
                    .map_or(0, |(_, v, _)| v),
            };
            if now != p.version_at_read {
                return Err(AedbError::Conflict(format!(
                    "read set: {:?} was at version {} when read, now {now}",
                    p.key, p.version_at_read
                )));
            }
        }
        for r in &set.ranges {
            let (tree, lo, hi) = self.range_of(&r.range)?;
            let bounds = (bound(&lo).map(Vec::as_slice), bound(&hi).map(Vec::as_slice));
            let max = self.limits.max_scan_rows;
            let now = match self.cat.txn.existing_tree(&tree)? {
                Some(mut t) => t.read(|t| -> Result<Versions, AedbError> {
                    versions(t.range(bounds.0, bounds.1)?, max)
                })??,
                None => Vec::new(),
            };
            if let Some((k, v)) = now.iter().find(|(_, v)| *v > r.max_version_at_read) {
                return Err(AedbError::Conflict(format!(
                    "read set: {:?} holds key {k:?} at version {v}, newer than the {} read",
                    r.range, r.max_version_at_read
                )));
            }
            let Some(base) = base else {
                return Err(AedbError::Conflict(format!(
                    "read set: base_seq {base_seq} is no longer retained, so the range {:?} cannot be checked; read again and retry",
                    r.range
                )));
            };
            let then = match base.tree_handle(&tree) {
                Ok(h) => versions(base.tree(h)?.range(&bounds)?, max)?,
                Err(crate::storage::StorageError::TreeNotFound(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            if then != now {
                return Err(AedbError::Conflict(format!(
                    "read set: the range {:?} changed since base_seq {base_seq}",
                    r.range
                )));
            }
        }
        Ok(())
    }

    /// The tree a read range lies in and its bounds as stored keys, once the
    /// call may read it all. Table ranges are bounded by whole primary keys.
    fn range_of(&mut self, range: &ReadRange) -> Result<StoredRange, AedbError> {
        match range {
            ReadRange::KvRange {
                project_id,
                scope_id,
                start,
                end,
            } => {
                let (lo, hi) = (bound(start), bound(end));
                let prefix =
                    crate::kv::read::range_prefix(lo.map(Vec::as_slice), hi.map(Vec::as_slice));
                let need = Need::KvScan {
                    project: project_id,
                    scope: scope_id,
                    prefix,
                };
                authorize(self.cat.catalog(), &self.call, &need)?;
                let id = self.cat.catalog().scope(project_id, scope_id)?.id;
                Ok((kv_tree(id), start.clone(), end.clone()))
            }
            ReadRange::TableRange {
                project_id,
                scope_id,
                table_name,
                start,
                end,
            } => {
                let (t, policy) = self.readable_table(project_id, scope_id, table_name)?;
                if policy.is_some() {
                    return Err(AedbError::Validation(format!(
                        "read set: table {project_id}.{scope_id}.{table_name} has a read policy for this caller; list the rows it read as points instead of a range"
                    )));
                }
                let key = |b: &ReadBound<Vec<Value>>| -> Result<ReadBound<Vec<u8>>, AedbError> {
                    Ok(match b {
                        ReadBound::Unbounded => ReadBound::Unbounded,
                        ReadBound::Included(v) => ReadBound::Included(pk_from_values(&t, v)?),
                        ReadBound::Excluded(v) => ReadBound::Excluded(pk_from_values(&t, v)?),
                    })
                };
                Ok((t.rows_tree.clone(), key(start)?, key(end)?))
            }
        }
    }
}

/// The keys and versions of a range (KV entries and rows both start with
/// their version), at most `max` of them.
fn versions<'s, S: crate::btree::PageSource>(
    range: crate::btree::Range<'s, S>,
    max: usize,
) -> Result<Versions, AedbError> {
    let mut out = Vec::new();
    for item in range {
        let (k, v) = item?;
        if out.len() == max {
            return Err(AedbError::Validation(format!(
                "read set: a range holds more than max_scan_rows = {max} keys"
            )));
        }
        let (version, _) = split_version(&v).map_err(|e| AedbError::IntegrityError {
            message: format!("key {k:?}: {e}"),
        })?;
        out.push((k.into_owned(), version));
    }
    Ok(out)
}
