//! A page of typed items and what to ask for the next one.

/// How many items a page holds, and where it starts: the `next_cursor` of the
/// page before (`None`: the first page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Most items on the page; 0 is an error.
    pub limit: usize,
    /// The previous page's `next_cursor`; `None` for the first page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// A request for the first page, at most `limit` items.
    pub fn new(limit: usize) -> Self {
        PageRequest {
            limit,
            cursor: None,
        }
    }

    /// Continues after the page whose `next_cursor` is `cursor`.
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of items.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The page's items, in the query's order.
    pub items: Vec<T>,
    /// Pass to [`PageRequest::with_cursor`] for the next page; `None` at the end.
    pub next_cursor: Option<String>,
    /// The commit seq the page was read at.
    pub snapshot_seq: u64,
    /// Rows read from the table to make the page, matching or not.
    pub rows_examined: usize,
    /// Always `None` here (aedb 0.1.9's asynchronous projections do not exist).
    pub materialized_seq: Option<u64>,
}

/// One page of items and how many rows the whole query has.
#[derive(Debug, Clone, PartialEq)]
pub struct PageWithTotal<T> {
    /// The page's items, in the query's order.
    pub items: Vec<T>,
    /// The query's rows at `snapshot_seq`, ignoring the page and its limit.
    pub total_count: usize,
    /// Pass to `PageRequest::with_cursor` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
    /// The commit seq the page and the count were read at.
    pub snapshot_seq: u64,
    /// Rows read from the table to make the page, matching or not.
    pub rows_examined: usize,
}
