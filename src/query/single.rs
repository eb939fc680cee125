//! The single-table executor: walks the planner's access path, decodes and
//! filters rows as they come, and stops as soon as the page is full
//! (streaming), or collects, aggregates and sorts when the order or an
//! aggregate needs every matching row (buffered, bounded by `max_scan_rows`).
//! Also `matching_rows`, the same walk for predicated mutations.
//!
//! Invariant: the full predicate is evaluated on every row the path yields
//! (facade invariant 4); the path decides cost, never the answer.

use std::ops::Bound;
use std::sync::Arc;

use crate::catalog::{Catalog, TableColumns, TableInfo};
use crate::error::{AedbError, QueryError};
use crate::eval::{Columns, Compiled, compile};
use crate::query::aggregate::{aggregate_rows, check_aggregates};
use crate::query::cursor::{Resume, encode_cursor, parse_cursor};
use crate::query::output::{Page, QueryResult, project_owned, projection};
use crate::query::plan::{Order, Query, QueryOptions, QueryPlan};
use crate::query::planner::{Access, AccessKind, plan, resolve_table};
use crate::query::source::Source;
use crate::query::walk::{estimate_rows, visit_rows};
use crate::query::{Limits, ReadGate};
use crate::table::{KeyedRow, pk_key};
use crate::vocab::expr::Expr;
use crate::vocab::types::Value;

/// Row positions of the `order_by` columns of a single-table query.
fn order_positions(t: &TableInfo, query: &Query) -> Result<Vec<(usize, Order)>, QueryError> {
    query
        .order_by
        .iter()
        .map(|(c, o)| TableColumns(t).resolve(c).map(|(i, _)| (i, *o)))
        .collect()
}

/// Whether the query must see every matching row before answering: the path
/// does not yield the requested order, or rows are aggregated or filtered by
/// HAVING.
fn needs_buffering(query: &Query, access: &Access) -> bool {
    !access.streams_in_order || query.aggregates_rows() || query.having.is_some()
}

/// A single-table query, planned: the table, the full predicate (read policy
/// and the query's own), the read policy alone (rows it hides are neither
/// returned nor counted), and the access path.
struct Prepared<'c> {
    t: &'c Arc<TableInfo>,
    pred: Option<Compiled>,
    hidden: Option<Compiled>,
    access: Access,
}

fn denied(why: String) -> QueryError {
    QueryError::Engine(AedbError::PermissionDenied(why))
}

/// The index a caller with only `IndexRead` grants must be served through.
fn granted_index<'q>(gate: &'q ReadGate, query: &'q Query) -> Result<Option<&'q str>, QueryError> {
    let Some(allowed) = &gate.through_indexes else {
        return Ok(query.use_index.as_deref());
    };
    match (query.use_index.as_deref(), allowed.as_slice()) {
        (Some(i), _) if allowed.iter().any(|a| a == i) => Ok(Some(i)),
        (None, [only]) => Ok(Some(only)),
        _ => Err(denied(format!(
            "table '{}' may be read only through index {}: name it with use_index",
            query.table,
            allowed.join(" or ")
        ))),
    }
}

/// Plans a single-table query (shared by `run_query` and `explain`). The read
/// policy is a conjunct of the predicate the planner sees, so an index on the
/// policy's column narrows the walk to the rows the caller may see.
fn prepare<'c>(
    catalog: &'c Catalog,
    project: &str,
    scope: &str,
    query: &Query,
    gate: &ReadGate,
) -> Result<Prepared<'c>, QueryError> {
    if query.table.is_empty() {
        return Err(QueryError::invalid(
            "query has no table (call .from(table))",
        ));
    }
    let t = resolve_table(catalog, project, scope, &query.table)?;
    let policy = gate.policy(&query.table);
    let combined;
    let predicate = match (policy, query.predicate.as_ref()) {
        (Some(p), Some(q)) => {
            combined = p.clone().and(q.clone());
            Some(&combined)
        }
        (Some(p), None) => Some(p),
        (None, q) => q,
    };
    let hidden = policy.map(|p| compile(p, &TableColumns(t))).transpose()?;
    let order = if query.aggregates_rows() {
        Vec::new()
    } else {
        order_positions(t, query)?
    };
    let use_index = granted_index(gate, query)?;
    let access = plan(t, predicate, &order, use_index, query.limit.is_some())?;
    // Bounds that answer every conjunct leave nothing to filter (a conjunct
    // is answered only when it names a column and its literal took the
    // column's type, so nothing `compile` would refuse is skipped).
    let pred = match predicate {
        Some(p) if !access.exact => Some(compile(p, &TableColumns(t))?),
        _ => None,
    };
    if let (Some(want), Some(_)) = (use_index, &gate.through_indexes) {
        let through = access
            .index()
            .is_some_and(|i| t.record.indexes[i].def.index_name == want)
            && access
                .ranges
                .iter()
                .all(|r| !matches!(r, (Bound::Unbounded, Bound::Unbounded)));
        if !through {
            return Err(denied(format!(
                "table '{}' may be read only through index {want}, and this predicate does not bound it",
                query.table
            )));
        }
    }
    Ok(Prepared {
        t,
        pred,
        hidden,
        access,
    })
}

/// Runs a single-table query against `src`: streaming when the access path
/// yields rows in the requested order and nothing aggregates, else buffered.
// The query, where it runs, and what bounds and gates it: each is needed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    src: &mut dyn Source,
    catalog: &Catalog,
    project: &str,
    scope: &str,
    query: &Query,
    opts: &QueryOptions,
    limits: Limits,
    gate: &ReadGate,
) -> Result<QueryResult, QueryError> {
    let Prepared {
        t,
        pred,
        hidden,
        access,
    } = prepare(catalog, project, scope, query, gate)?;
    let resume = opts
        .cursor
        .as_deref()
        .map(|c| parse_cursor(t.record.id, c))
        .transpose()?;
    let max = limits.max_scan_rows.max(1);
    let page = query.limit.unwrap_or(max);
    let columns = &t.column_names;
    let snapshot_seq = src.seq();
    if !needs_buffering(query, &access) {
        let cols = projection(t.name(), columns, &query.select)?;
        let after = match &resume {
            Some(Resume::After(k)) => Some(k.as_slice()),
            Some(Resume::Offset(_)) => {
                return Err(QueryError::invalid(
                    "cursor of a sorted result used on a streaming query",
                ));
            }
            None => None,
        };
        let mut rows = Vec::new();
        // Rows walked (the bound) and rows the caller may see (reported).
        let mut walked = 0usize;
        let mut examined = 0usize;
        let mut consumed: Option<Vec<u8>> = None;
        let mut truncated = false;
        visit_rows(src, t, &access, after, &mut |k, row| {
            if walked >= max && !opts.allow_full_scan {
                truncated = true;
                return Ok(false);
            }
            let visible = hidden.as_ref().is_none_or(|h| h.matches(&row));
            let hit = visible && pred.as_ref().is_none_or(|p| p.matches(&row));
            if hit && rows.len() == page {
                truncated = true;
                return Ok(false);
            }
            walked += 1;
            examined += usize::from(visible);
            if hit {
                rows.push(project_owned(row, &cols));
            }
            consumed = Some(k.to_vec());
            Ok(true)
        })?;
        let cursor = match (truncated, consumed) {
            (true, Some(k)) => Some(encode_cursor(t.record.id, &Resume::After(k))),
            _ => None,
        };
        return Ok(QueryResult {
            rows,
            columns: cols.iter().map(|&i| columns[i].clone()).collect(),
            rows_examined: examined,
            truncated: truncated && cursor.is_some(),
            cursor,
            snapshot_seq,
            materialized_seq: None,
        });
    }
    // Buffered: every matching row, then aggregate / sort / page.
    let mut matched: Vec<Vec<Value>> = Vec::new();
    let mut walked = 0usize;
    let mut examined = 0usize;
    let mut over = false;
    visit_rows(src, t, &access, None, &mut |_, row| {
        walked += 1;
        if walked > max && !opts.allow_full_scan {
            over = true;
            return Ok(false);
        }
        if hidden.as_ref().is_some_and(|h| !h.matches(&row)) {
            return Ok(true);
        }
        examined += 1;
        if pred.as_ref().is_none_or(|p| p.matches(&row)) {
            matched.push(row);
        }
        Ok(true)
    })?;
    if over {
        // Under a read policy, the estimate would count rows the caller cannot
        // see; say only that the bound was crossed.
        let estimate = match hidden {
            Some(_) => walked as u64,
            None => estimate_rows(src, t, &access)?,
        };
        return Err(QueryError::ScanBoundExceeded {
            estimated_rows: estimate,
            max_scan_rows: max as u64,
        });
    }
    let aggregating = query.aggregates_rows();
    let (out_columns, out_rows) = if aggregating {
        aggregate_rows(t.name(), &TableColumns(t), matched, query)?
    } else {
        (columns.clone(), matched)
    };
    let tiebreak: &[usize] = if aggregating { &[] } else { &t.pk };
    let page = Page {
        table: t.name(),
        table_id: t.record.id,
        columns: out_columns,
        rows: out_rows,
        resume,
        len: page,
        examined,
        snapshot_seq,
        tiebreak,
    };
    page.finish(query)
}

/// How a single-table query would run, without running it.
pub(crate) fn explain(
    src: &mut dyn Source,
    catalog: &Catalog,
    project: &str,
    scope: &str,
    query: &Query,
    gate: &ReadGate,
) -> Result<QueryPlan, QueryError> {
    let Prepared {
        t, hidden, access, ..
    } = prepare(catalog, project, scope, query, gate)?;
    let (index_used, access_path) = access.describe(t);
    let columns = t.schema().column_names();
    let output_columns = if query.aggregates_rows() {
        check_aggregates(t.name(), &TableColumns(t), query)?
    } else {
        projection(t.name(), &columns, &query.select)?
            .into_iter()
            .map(|i| columns[i].clone())
            .collect()
    };
    Ok(QueryPlan {
        output_columns,
        index_used,
        access_path,
        estimated_scan_rows: match (gate.policy(&query.table), hidden.is_some()) {
            (Some(policy), true) => policy_estimate(src, t, &access, policy)?,
            _ => estimate_rows(src, t, &access)?,
        },
        has_residual_filter: (query.predicate.is_some() || hidden.is_some()) && !access.exact,
        streams_in_order: !needs_buffering(query, &access),
        snapshot_seq: src.seq(),
    })
}

/// The row estimate of a query under a read policy, counting no row the
/// policy hides: when the policy is one comparison a key range answers (an
/// index or the primary key on its column), the rows of that range bound the
/// answer; otherwise the estimate is withheld (0), since any count the trees
/// keep would include hidden rows.
fn policy_estimate(
    src: &mut dyn Source,
    t: &TableInfo,
    access: &Access,
    policy: &Expr,
) -> Result<u64, QueryError> {
    if policy.leaves().len() != 1 {
        return Ok(0);
    }
    let own = plan(t, Some(policy), &[], None, false)?;
    let bounded = own.kind != AccessKind::Scan
        && own
            .ranges
            .iter()
            .all(|r| !matches!(r, (Bound::Unbounded, Bound::Unbounded)));
    if !bounded {
        return Ok(0);
    }
    let visible = estimate_rows(src, t, &own)?;
    Ok(visible.min(estimate_rows(src, t, access)?))
}

/// The rows of `t` matching `predicate`, for a predicated mutation: up to `limit`,
/// or without a limit up to `max_rows` (the configured `max_scan_rows`), past
/// which it is refused: every match is held in memory until the commit.
/// How many rows of `t` match `predicate`, when the access path answers every
/// conjunct by its key bounds: counted from the B+tree's subtree counts
/// (O(log n) per range, no row read). `None` when rows must be read.
pub(crate) fn count_exact(
    src: &mut dyn Source,
    t: &TableInfo,
    predicate: &Expr,
) -> Result<Option<u64>, AedbError> {
    let access = plan(t, Some(predicate), &[], None, false).map_err(query_to_aedb)?;
    if !access.exact {
        return Ok(None);
    }
    crate::query::walk::estimate_rows(src, t, &access).map(Some)
}

pub(crate) fn matching_rows(
    src: &mut dyn Source,
    t: &TableInfo,
    predicate: &Expr,
    limit: Option<usize>,
    max_rows: usize,
) -> Result<Vec<KeyedRow>, AedbError> {
    let pred = compile(predicate, &TableColumns(t)).map_err(query_to_aedb)?;
    let access = plan(t, Some(predicate), &[], None, false).map_err(query_to_aedb)?;
    let mut out = Vec::new();
    let cap = limit.unwrap_or(max_rows.saturating_add(1));
    if cap == 0 {
        return Ok(out);
    }
    visit_rows(src, t, &access, None, &mut |_, row| {
        if pred.matches(&row) {
            out.push((pk_key(t, &row), row));
        }
        Ok(out.len() < cap)
    })?;
    if limit.is_none() && out.len() > max_rows {
        return Err(AedbError::Validation(format!(
            "a predicated mutation on table '{}' matches more than max_scan_rows = {max_rows} rows; give it a limit and repeat until it affects 0 rows, or raise max_scan_rows",
            t.name()
        )));
    }
    Ok(out)
}

/// A query-side error met by a mutation (an unknown column or mistyped literal in
/// a predicate).
pub(crate) fn query_to_aedb(e: QueryError) -> AedbError {
    match e {
        QueryError::Engine(e) => e,
        QueryError::ColumnNotFound { table, column } => AedbError::UnknownColumn { table, column },
        QueryError::TypeMismatch {
            column,
            expected,
            got,
        } => AedbError::TypeMismatch {
            table: String::new(),
            column,
            expected,
            actual: got,
        },
        other => AedbError::Validation(other.to_string()),
    }
}
