//! What a query returns: `QueryResult`, the projection of rows onto the selected
//! columns, and `Page`, which sorts, pages and projects buffered rows (the one
//! way a sorted, aggregated or joined result leaves the executor).
//!
//! Invariant: a sorted result breaks ties by the primary key in the direction of
//! the last `order_by` column (facade invariant 4), so a sorted page and a
//! streamed one agree and offset cursors see the same sequence on every page.

use std::cmp::Ordering;

use crate::error::QueryError;
use crate::query::cursor::{Resume, encode_cursor};
use crate::query::plan::{Order, Query};
use crate::vocab::types::{Row, Value};

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    /// The page's rows, each laid out as `columns`.
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

/// Positions of the selected columns in a row laid out as `columns`.
pub(crate) fn projection(
    table: &str,
    columns: &[String],
    select: &[String],
) -> Result<Vec<usize>, QueryError> {
    if select.is_empty() || select.iter().any(|s| s == "*") {
        return Ok((0..columns.len()).collect());
    }
    select
        .iter()
        .map(|s| {
            columns
                .iter()
                .position(|c| c == s)
                .ok_or_else(|| QueryError::ColumnNotFound {
                    table: table.to_string(),
                    column: s.clone(),
                })
        })
        .collect()
}

pub(crate) fn project_row(row: &[Value], cols: &[usize]) -> Row {
    Row::from_values(cols.iter().map(|&i| row[i].clone()).collect())
}

/// Like `project_row`, taking the values when the projection keeps them all in order.
pub(crate) fn project_owned(row: Vec<Value>, cols: &[usize]) -> Row {
    if cols.len() == row.len() && cols.iter().enumerate().all(|(i, &c)| i == c) {
        Row::from_values(row)
    } else {
        project_row(&row, cols)
    }
}

/// Buffered rows on their way out: every matching (or aggregated) row, and
/// what is needed to sort, page and project them.
pub(crate) struct Page<'a> {
    /// The base table's name (for errors) and id (for cursors).
    pub(crate) table: &'a str,
    pub(crate) table_id: u64,
    /// Names of the values in each row.
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Value>>,
    pub(crate) resume: Option<Resume>,
    /// Most rows returned.
    pub(crate) len: usize,
    pub(crate) examined: usize,
    pub(crate) snapshot_seq: u64,
    /// Row positions that break ties after the `order_by` columns (the primary
    /// key of a single-table query; none after aggregation or a join).
    pub(crate) tiebreak: &'a [usize],
}

impl Page<'_> {
    /// Sorts by the query's `order_by`, skips to the cursor, takes `len` rows
    /// and projects them.
    pub(crate) fn finish(self, query: &Query) -> Result<QueryResult, QueryError> {
        let Page {
            table,
            table_id,
            columns,
            mut rows,
            resume,
            len: page,
            examined,
            snapshot_seq,
            tiebreak,
        } = self;
        let order: Vec<(usize, Order)> = query
            .order_by
            .iter()
            .map(|(c, o)| {
                columns
                    .iter()
                    .position(|n| n == c)
                    .map(|i| (i, *o))
                    .ok_or_else(|| QueryError::ColumnNotFound {
                        table: table.to_string(),
                        column: c.clone(),
                    })
            })
            .collect::<Result<_, _>>()?;
        if let Some(&(_, last)) = order.last() {
            // Ties are broken by the primary key in the last column's direction: the
            // order an index walk yields, so a sorted page and a streamed one agree,
            // and offset cursors see the same sequence on every page.
            let keys: Vec<(usize, Order)> = order
                .iter()
                .copied()
                .chain(tiebreak.iter().map(|&i| (i, last)))
                .collect();
            rows.sort_by(|a, b| {
                keys.iter().fold(Ordering::Equal, |acc, &(i, o)| {
                    acc.then_with(|| {
                        if o == Order::Asc {
                            a[i].cmp(&b[i])
                        } else {
                            b[i].cmp(&a[i])
                        }
                    })
                })
            });
        }
        let offset = match resume {
            None => 0,
            Some(Resume::Offset(n)) => n,
            Some(Resume::After(_)) => {
                return Err(QueryError::invalid(
                    "cursor of a streaming result used on a sorted query",
                ));
            }
        };
        let cols = projection(table, &columns, &query.select)?;
        let end = offset.saturating_add(page).min(rows.len());
        let truncated = end < rows.len();
        let out = rows
            .get(offset.min(rows.len())..end)
            .unwrap_or_default()
            .iter()
            .map(|r| project_row(r, &cols))
            .collect();
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
}
