//! The executor: walks the planner's access path with tree cursors, decodes and
//! filters rows as they come, and stops as soon as the page is full (streaming),
//! or collects, aggregates and sorts when the order or an aggregate needs every
//! matching row (buffered, bounded by `max_scan_rows`).
#![forbid(unsafe_code)]

use std::cmp::Ordering;
use std::ops::Bound;

use crate::catalog::types::{Row, Value};
use crate::catalog::{Catalog, TableInfo, index_tree};
use crate::error::{AedbError, ResourceType};
use crate::query::aggregate::{aggregate_rows, check_aggregates};
use crate::query::error::QueryError;
use crate::query::eval::{Columns, Compiled, compile};
use crate::query::plan::{Order, Query, QueryOptions, QueryPlan};
use crate::query::planner::{Access, AccessKind, KeyRange, plan};
use crate::query::source::Source;
use crate::table::{KeyedRow, TableColumns, decode, pk_of_index_entry};

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub rows: Vec<Row>,
    /// Names of the values in each row.
    pub columns: Vec<String>,
    /// Rows read from the table (matching or not).
    pub rows_examined: usize,
    /// Pass as `QueryOptions::cursor` to get the next page; `None` at the end.
    pub cursor: Option<String>,
    /// More rows may follow (the page or `max_scan_rows` was reached).
    pub truncated: bool,
    /// The commit seq the query read.
    pub snapshot_seq: u64,
    /// Always `None` here (aedb 0.1.9's asynchronous projections do not exist).
    pub materialized_seq: Option<u64>,
}

/// Engine limits a query runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_scan_rows: usize,
}

/// Where a paginated query resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resume {
    /// After this key of the access path (streaming queries).
    After(Vec<u8>),
    /// After this many output rows (buffered queries).
    Offset(usize),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn encode_cursor(table_id: u64, r: &Resume) -> String {
    match r {
        Resume::After(k) => format!("c1.{table_id}.k.{}", hex(k)),
        Resume::Offset(n) => format!("c1.{table_id}.o.{n}"),
    }
}

pub(crate) fn parse_cursor(table_id: u64, s: &str) -> Result<Resume, QueryError> {
    let bad = || QueryError::invalid(format!("cursor {s:?} is not a cursor of this query"));
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 || parts[0] != "c1" || parts[1].parse::<u64>().ok() != Some(table_id) {
        return Err(bad());
    }
    match parts[2] {
        "k" => unhex(parts[3]).map(Resume::After).ok_or_else(bad),
        "o" => parts[3].parse().map(Resume::Offset).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Visitor of rows: (access-path key, row) → continue?
pub(crate) type RowVisit<'f> = dyn FnMut(&[u8], Vec<Value>) -> Result<bool, AedbError> + 'f;

/// Whether every key of `r` is at or before `k` (forward), or at or after it (`rev`).
fn range_done(r: &KeyRange, k: &[u8], rev: bool) -> bool {
    if rev {
        match &r.0 {
            Bound::Included(l) | Bound::Excluded(l) => l.as_slice() >= k,
            Bound::Unbounded => false,
        }
    } else {
        match &r.1 {
            Bound::Included(h) | Bound::Excluded(h) => h.as_slice() <= k,
            Bound::Unbounded => false,
        }
    }
}

/// Whether a range with lower bound `lo` may hold keys at or below `k`.
fn range_holds_below(lo: &Bound<Vec<u8>>, k: &[u8]) -> bool {
    match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => l.as_slice() <= k,
        Bound::Excluded(l) => l.as_slice() < k,
    }
}

/// Whether a range with upper bound `hi` may hold keys at or above `k`.
fn range_holds_above(hi: &Bound<Vec<u8>>, k: &[u8]) -> bool {
    match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => h.as_slice() >= k,
        Bound::Excluded(h) => h.as_slice() > k,
    }
}

/// Visits the rows on `access` in order, from after `resume`: `visit(access key,
/// row)` returns false to stop.
pub(crate) fn visit_rows(
    src: &mut dyn Source,
    t: &TableInfo,
    access: &Access,
    resume: Option<&[u8]>,
    visit: &mut RowVisit<'_>,
) -> Result<(), AedbError> {
    let rows = &t.rows_tree;
    if access.kind == AccessKind::PkPoint
        && resume.is_none()
        && let [(Bound::Included(key), _)] = access.ranges.as_slice()
    {
        // One key: a get is cheaper than setting up a range.
        let row = src.get_with(rows, key, &mut |v| decode(t, key, v))?;
        if let Some(row) = row {
            visit(key, row)?;
        }
        return Ok(());
    }
    let ordered: Box<dyn Iterator<Item = &KeyRange>> = if access.rev { Box::new(access.ranges.iter().rev()) } else { Box::new(access.ranges.iter()) };
    for range in ordered {
        let (mut lo, mut hi) = range.clone();
        if let Some(k) = resume {
            // Ranges are disjoint and ascending: skip the ones the cursor passed,
            // and start the one it stopped in after its key.
            if range_done(range, k, access.rev) {
                continue;
            }
            // Only the range the cursor stopped in is narrowed; later ranges lie
            // wholly past the key and keep their bounds.
            if access.rev {
                if range_holds_above(&range.1, k) {
                    hi = Bound::Excluded(k.to_vec());
                }
            } else if range_holds_below(&range.0, k) {
                lo = Bound::Excluded(k.to_vec());
            }
        }
        if !visit_range(src, t, access, lo, hi, visit)? {
            return Ok(());
        }
    }
    Ok(())
}

/// One range of `visit_rows`; false once `visit` asked to stop.
fn visit_range(src: &mut dyn Source, t: &TableInfo, access: &Access, mut lo: Bound<Vec<u8>>, mut hi: Bound<Vec<u8>>, visit: &mut RowVisit<'_>) -> Result<bool, AedbError> {
    let rows = &t.rows_tree;
    let Some(i) = access.index() else {
        let mut go_on = true;
        src.scan(rows, lo.as_ref().map(Vec::as_slice), hi.as_ref().map(Vec::as_slice), access.rev, &mut |k, v| {
            let row = decode(t, k, v)?;
            go_on = visit(k, row)?;
            Ok(go_on)
        })?;
        return Ok(go_on);
    };
    // Index paths read entries in batches, then fetch the rows: a write
    // transaction cannot hold two trees at once. Batches start small and
    // double, so a query that stops early reads few entries it does not use.
    let mut batch_len = 32;
    let tree = index_tree(t.record.indexes[i].id);
    loop {
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(batch_len);
        src.scan(&tree, lo.as_ref().map(Vec::as_slice), hi.as_ref().map(Vec::as_slice), access.rev, &mut |k, v| {
            batch.push((k.to_vec(), pk_of_index_entry(t, i, k, v)?));
            Ok(batch.len() < batch_len)
        })?;
        let full = batch.len() == batch_len;
        batch_len = (batch_len * 2).min(1024);
        for (ikey, pk) in &batch {
            let row = src.get_with(rows, pk, &mut |v| decode(t, pk, v))?.ok_or_else(|| AedbError::IntegrityError {
                message: format!("index '{}' of table '{}' points at a missing row {pk:02x?}", t.record.indexes[i].def.index_name, t.name()),
            })?;
            if !visit(ikey, row)? {
                return Ok(false);
            }
        }
        match batch.last() {
            Some((last, _)) if full => {
                if access.rev {
                    hi = Bound::Excluded(last.clone());
                } else {
                    lo = Bound::Excluded(last.clone());
                }
            }
            _ => return Ok(true),
        }
    }
}

/// Row positions of the `order_by` columns of a single-table query.
fn order_positions(t: &TableInfo, query: &Query) -> Result<Vec<(usize, Order)>, QueryError> {
    query
        .order_by
        .iter()
        .map(|(c, o)| TableColumns(t).resolve(c).map(|(i, _)| (i, *o)))
        .collect()
}

pub(crate) fn resolve_table<'c>(catalog: &'c Catalog, project: &str, scope: &str, table: &str) -> Result<&'c std::sync::Arc<TableInfo>, QueryError> {
    catalog.table(project, scope, table).map_err(|e| match e {
        AedbError::NotFound { resource_type: ResourceType::Table, .. } => QueryError::TableNotFound { project_id: project.to_string(), table: table.to_string() },
        other => QueryError::Engine(other),
    })
}

/// Positions of the selected columns in a row laid out as `columns`.
pub(crate) fn projection(table: &str, columns: &[String], select: &[String]) -> Result<Vec<usize>, QueryError> {
    if select.is_empty() || select.iter().any(|s| s == "*") {
        return Ok((0..columns.len()).collect());
    }
    select
        .iter()
        .map(|s| {
            columns
                .iter()
                .position(|c| c == s)
                .ok_or_else(|| QueryError::ColumnNotFound { table: table.to_string(), column: s.clone() })
        })
        .collect()
}

fn project_row(row: &[Value], cols: &[usize]) -> Row {
    Row::from_values(cols.iter().map(|&i| row[i].clone()).collect())
}

/// Like `project_row`, taking the values when the projection keeps them all in order.
fn project_owned(row: Vec<Value>, cols: &[usize]) -> Row {
    if cols.len() == row.len() && cols.iter().enumerate().all(|(i, &c)| i == c) {
        Row::from_values(row)
    } else {
        project_row(&row, cols)
    }
}

fn aggregating(query: &Query) -> bool {
    !query.aggregates.is_empty() || !query.group_by.is_empty()
}

fn needs_buffering(query: &Query, access: &Access) -> bool {
    !access.streams_in_order || !query.aggregates.is_empty() || !query.group_by.is_empty() || query.having.is_some()
}

/// Plans a single-table query (shared by `run_query` and `explain`).
fn prepare<'c>(catalog: &'c Catalog, project: &str, scope: &str, query: &Query) -> Result<(&'c std::sync::Arc<TableInfo>, Option<Compiled>, Access), QueryError> {
    if query.table.is_empty() {
        return Err(QueryError::invalid("query has no table (call .from(table))"));
    }
    let t = resolve_table(catalog, project, scope, &query.table)?;
    let pred = query.predicate.as_ref().map(|p| compile(p, &TableColumns(t))).transpose()?;
    let aggregating = !query.aggregates.is_empty() || !query.group_by.is_empty();
    let order = if aggregating { Vec::new() } else { order_positions(t, query)? };
    let access = plan(t, query.predicate.as_ref(), &order, query.use_index.as_deref(), query.limit.is_some())?;
    Ok((t, pred, access))
}

/// Runs a query against `src`.
pub(crate) fn run_query(src: &mut dyn Source, catalog: &Catalog, project: &str, scope: &str, query: &Query, opts: &QueryOptions, limits: Limits) -> Result<QueryResult, QueryError> {
    if !query.joins.is_empty() {
        return crate::query::join::run_join(src, catalog, project, scope, query, opts, limits);
    }
    let (t, pred, access) = prepare(catalog, project, scope, query)?;
    let resume = opts.cursor.as_deref().map(|c| parse_cursor(t.record.id, c)).transpose()?;
    let max = limits.max_scan_rows.max(1);
    let page = query.limit.unwrap_or(max);
    let columns = &t.column_names;
    let snapshot_seq = src.seq();
    if !needs_buffering(query, &access) {
        let cols = projection(t.name(), columns, &query.select)?;
        let after = match &resume {
            Some(Resume::After(k)) => Some(k.as_slice()),
            Some(Resume::Offset(_)) => return Err(QueryError::invalid("cursor of a sorted result used on a streaming query")),
            None => None,
        };
        let mut rows = Vec::new();
        let mut examined = 0usize;
        let mut consumed: Option<Vec<u8>> = None;
        let mut truncated = false;
        visit_rows(src, t, &access, after, &mut |k, row| {
            if examined >= max && !opts.allow_full_scan {
                truncated = true;
                return Ok(false);
            }
            let hit = pred.as_ref().is_none_or(|p| p.matches(&row));
            if hit && rows.len() == page {
                truncated = true;
                return Ok(false);
            }
            examined += 1;
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
        return Ok(QueryResult { rows, columns: cols.iter().map(|&i| columns[i].clone()).collect(), rows_examined: examined, truncated: truncated && cursor.is_some(), cursor, snapshot_seq, materialized_seq: None });
    }
    // Buffered: every matching row, then aggregate / sort / page.
    let mut matched: Vec<Vec<Value>> = Vec::new();
    let mut examined = 0usize;
    let mut over = false;
    visit_rows(src, t, &access, None, &mut |_, row| {
        examined += 1;
        if examined > max && !opts.allow_full_scan {
            over = true;
            return Ok(false);
        }
        if pred.as_ref().is_none_or(|p| p.matches(&row)) {
            matched.push(row);
        }
        Ok(true)
    })?;
    if over {
        let estimate = estimate_rows(src, t, &access)?;
        return Err(QueryError::ScanBoundExceeded { estimated_rows: estimate, max_scan_rows: max as u64 });
    }
    let (out_columns, out_rows) = if aggregating(query) {
        aggregate_rows(t.name(), &TableColumns(t), matched, query)?
    } else {
        (columns.clone(), matched)
    };
    let tiebreak: &[usize] = if aggregating(query) { &[] } else { &t.pk };
    finish_buffered(t.name(), t.record.id, out_columns, out_rows, query, resume, page, examined, snapshot_seq, tiebreak)
}

/// Sorts, pages and projects buffered rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_buffered(
    table: &str,
    table_id: u64,
    columns: Vec<String>,
    mut rows: Vec<Vec<Value>>,
    query: &Query,
    resume: Option<Resume>,
    page: usize,
    examined: usize,
    snapshot_seq: u64,
    tiebreak: &[usize],
) -> Result<QueryResult, QueryError> {
    let order: Vec<(usize, Order)> = query
        .order_by
        .iter()
        .map(|(c, o)| {
            columns.iter().position(|n| n == c).map(|i| (i, *o)).ok_or_else(|| QueryError::ColumnNotFound { table: table.to_string(), column: c.clone() })
        })
        .collect::<Result<_, _>>()?;
    if let Some(&(_, last)) = order.last() {
        // Ties are broken by the primary key in the last column's direction: the
        // order an index walk yields, so a sorted page and a streamed one agree,
        // and offset cursors see the same sequence on every page.
        let keys: Vec<(usize, Order)> = order.iter().copied().chain(tiebreak.iter().map(|&i| (i, last))).collect();
        rows.sort_by(|a, b| {
            keys.iter().fold(Ordering::Equal, |acc, &(i, o)| {
                acc.then_with(|| if o == Order::Asc { a[i].cmp(&b[i]) } else { b[i].cmp(&a[i]) })
            })
        });
    }
    let offset = match resume {
        None => 0,
        Some(Resume::Offset(n)) => n,
        Some(Resume::After(_)) => return Err(QueryError::invalid("cursor of a streaming result used on a sorted query")),
    };
    let cols = projection(table, &columns, &query.select)?;
    let end = offset.saturating_add(page).min(rows.len());
    let truncated = end < rows.len();
    let out = rows.get(offset.min(rows.len())..end).unwrap_or_default().iter().map(|r| project_row(r, &cols)).collect();
    Ok(QueryResult {
        rows: out,
        columns: cols.iter().map(|&i| columns[i].clone()).collect(),
        rows_examined: examined,
        cursor: truncated.then(|| encode_cursor(table_id, &Resume::Offset(end))),
        truncated,
        snapshot_seq,
        materialized_seq: None,
    })
}

/// Entries the access path covers, counted from the trees' subtree counts.
fn estimate_rows(src: &mut dyn Source, t: &TableInfo, access: &Access) -> Result<u64, AedbError> {
    let tree = match access.index() {
        Some(i) => index_tree(t.record.indexes[i].id),
        None => t.rows_tree.clone(),
    };
    let mut total = 0u64;
    for (lo, hi) in &access.ranges {
        total = total.saturating_add(src.count(&tree, lo.as_ref().map(Vec::as_slice), hi.as_ref().map(Vec::as_slice))?);
    }
    Ok(total)
}

/// How a query would run, without running it.
pub(crate) fn explain(src: &mut dyn Source, catalog: &Catalog, project: &str, scope: &str, query: &Query) -> Result<QueryPlan, QueryError> {
    if !query.joins.is_empty() {
        return crate::query::join::explain_join(src, catalog, project, scope, query);
    }
    let (t, _, access) = prepare(catalog, project, scope, query)?;
    let (index_used, access_path) = access.describe(t);
    let columns = t.schema().column_names();
    let output_columns = if !query.aggregates.is_empty() || !query.group_by.is_empty() {
        check_aggregates(t.name(), &TableColumns(t), query)?
    } else {
        projection(t.name(), &columns, &query.select)?.into_iter().map(|i| columns[i].clone()).collect()
    };
    Ok(QueryPlan {
        output_columns,
        index_used,
        access_path,
        estimated_scan_rows: estimate_rows(src, t, &access)?,
        has_residual_filter: query.predicate.is_some() && !access.exact,
        streams_in_order: !needs_buffering(query, &access),
        snapshot_seq: src.seq(),
    })
}

/// The (primary key, row) pairs of `t` matching `pred`, at most `limit` (for
/// DeleteWhere / UpdateWhere, inside the write transaction).
/// The rows of `t` matching `predicate`, for a predicated mutation: up to `limit`,
/// or without a limit up to `max_rows` (the configured `max_scan_rows`), past
/// which it is refused: every match is held in memory until the commit.
pub(crate) fn matching_rows(src: &mut dyn Source, t: &TableInfo, predicate: &crate::query::plan::Expr, limit: Option<usize>, max_rows: usize) -> Result<Vec<KeyedRow>, AedbError> {
    let pred = compile(predicate, &TableColumns(t)).map_err(query_to_aedb)?;
    let access = plan(t, Some(predicate), &[], None, false).map_err(query_to_aedb)?;
    let mut out = Vec::new();
    let cap = limit.unwrap_or(max_rows.saturating_add(1));
    if cap == 0 {
        return Ok(out);
    }
    visit_rows(src, t, &access, None, &mut |_, row| {
        if pred.matches(&row) {
            out.push((crate::table::pk_key(t, &row), row));
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
        QueryError::TypeMismatch { column, expected, got } => AedbError::TypeMismatch { table: String::new(), column, expected, actual: got },
        other => AedbError::Validation(other.to_string()),
    }
}

