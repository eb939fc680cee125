//! A page of typed items and what to ask for the next one.

/// How many items a page holds, and where it starts: the `next_cursor` of the
/// page before (`None`: the first page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn new(limit: usize) -> Self {
        PageRequest {
            limit,
            cursor: None,
        }
    }

    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of items.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass to [`PageRequest::with_cursor`] for the next page; `None` at the end.
    pub next_cursor: Option<String>,
    /// The commit seq the page was read at.
    pub snapshot_seq: u64,
    pub rows_examined: usize,
    /// Always `None` here (aedb 0.1.9's asynchronous projections do not exist).
    pub materialized_seq: Option<u64>,
}

/// One page of items and how many rows the whole query has.
#[derive(Debug, Clone, PartialEq)]
pub struct PageWithTotal<T> {
    pub items: Vec<T>,
    /// The query's rows at `snapshot_seq`, ignoring the page and its limit.
    pub total_count: usize,
    pub next_cursor: Option<String>,
    pub snapshot_seq: u64,
    pub rows_examined: usize,
}
