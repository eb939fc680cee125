//! `RepositoryContext`: an instance bound to a project, a scope, an optional
//! caller and default query options, with typed and paged reads.

use crate::commit::CommitResult;
use crate::commit::validation::Mutation;
use crate::error::{AedbError, QueryError};
use crate::instance::AedbInstance;
use crate::permission::CallerContext;
use crate::query::QueryResult;
use crate::query::plan::{Aggregate, ConsistencyMode, Query, QueryOptions, QueryPlan};

use super::decode::{RowDecodeError, TryFromRow, decode_rows};
use super::page::{Page, PageRequest, PageWithTotal};
use crate::catalog::types::{Row, Value};

/// What a typed read can fail with: the call, the query, or a row that did not
/// decode.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The instance failed or refused the call.
    #[error(transparent)]
    Aedb(#[from] AedbError),
    /// The query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A row did not decode into the requested type.
    #[error(transparent)]
    Decode(#[from] RowDecodeError),
}

/// An instance bound to one project and scope. With a caller, every read and
/// commit goes through the `*_as` doors (the caller's grants and read
/// policies apply); without one, through the plain doors (an open instance
/// trusts its process; a production or secure one refuses).
#[derive(Clone)]
pub struct RepositoryContext<'a> {
    db: &'a AedbInstance,
    project_id: String,
    scope_id: String,
    caller: Option<CallerContext>,
    consistency: ConsistencyMode,
    allow_full_scan: bool,
}

impl<'a> RepositoryContext<'a> {
    /// A context on `project_id.scope_id` of `db`, with no caller, `AtLatest`
    /// reads and no full scans.
    pub fn new(
        db: &'a AedbInstance,
        project_id: impl Into<String>,
        scope_id: impl Into<String>,
    ) -> Self {
        RepositoryContext {
            db,
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            caller: None,
            consistency: ConsistencyMode::AtLatest,
            allow_full_scan: false,
        }
    }

    /// Acts as `caller`: every read and commit then checks its grants and
    /// read policies.
    pub fn with_caller(mut self, caller: CallerContext) -> Self {
        self.caller = Some(caller);
        self
    }

    /// The consistency of every read that does not name one (default `AtLatest`).
    pub fn with_default_consistency(mut self, consistency: ConsistencyMode) -> Self {
        self.consistency = consistency;
        self
    }

    /// Lets reads that must read everything (a sort no index gives, a total)
    /// read past `max_scan_rows`.
    pub fn with_allow_full_scan(mut self, allow_full_scan: bool) -> Self {
        self.allow_full_scan = allow_full_scan;
        self
    }

    /// The project the context is bound to.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The scope the context is bound to.
    pub fn scope_id(&self) -> &str {
        &self.scope_id
    }

    /// The caller every call acts as; `None`: the plain doors.
    pub fn caller(&self) -> Option<&CallerContext> {
        self.caller.as_ref()
    }

    /// The options every read starts from: the default consistency and the
    /// full-scan permission, no cursor.
    pub fn base_query_options(&self) -> QueryOptions {
        QueryOptions {
            consistency: self.consistency,
            cursor: None,
            allow_full_scan: self.allow_full_scan,
        }
    }

    /// Commits `mutation` as the context's caller (its grants checked), or as
    /// the plain `commit` without one.
    pub async fn commit_checked(&self, mutation: Mutation) -> Result<CommitResult, AedbError> {
        match &self.caller {
            Some(caller) => self.db.commit_as(caller.clone(), mutation).await,
            None => self.db.commit(mutation).await,
        }
    }

    /// Runs `query` with `base_query_options`: its first page.
    pub async fn query(&self, query: Query) -> Result<QueryResult, QueryError> {
        self.query_with_options(query, self.base_query_options())
            .await
    }

    /// Runs `query` in the context's scope with `options`, as its caller if it has one.
    pub async fn query_with_options(
        &self,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let (project, scope) = (&self.project_id, &self.scope_id);
        self.db
            .query_with_options_as(self.caller.as_ref(), project, scope, query, options)
            .await
    }

    /// Whether `query` has at least one row.
    pub async fn exists(&self, query: Query) -> Result<bool, QueryError> {
        Ok(!self.query(query.limit(1)).await?.rows.is_empty())
    }

    /// How `query` would read (access path, index, estimated rows).
    pub async fn explain(
        &self,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryPlan, QueryError> {
        let (project, scope) = (&self.project_id, &self.scope_id);
        self.db
            .explain_query_as(self.caller.as_ref(), project, scope, query, options)
            .await
    }

    /// One page of `query`'s rows: at most `page.limit`, after `page.cursor`.
    pub async fn query_page_rows(
        &self,
        query: Query,
        page: PageRequest,
    ) -> Result<Page<Row>, QueryError> {
        let r = self.page_of(query, &page, 0).await?;
        Ok(Page {
            items: r.rows,
            next_cursor: r.cursor,
            snapshot_seq: r.snapshot_seq,
            rows_examined: r.rows_examined,
            materialized_seq: r.materialized_seq,
        })
    }

    /// [`RepositoryContext::query_page_rows`], each row decoded into `T`.
    pub async fn query_page<T: TryFromRow>(
        &self,
        query: Query,
        page: PageRequest,
    ) -> Result<Page<T>, RepositoryError> {
        let rows = self.query_page_rows(query, page).await?;
        Ok(Page {
            items: decode_rows(rows.items)?,
            next_cursor: rows.next_cursor,
            snapshot_seq: rows.snapshot_seq,
            rows_examined: rows.rows_examined,
            materialized_seq: rows.materialized_seq,
        })
    }

    /// A page of `query` after skipping `offset` rows (from the cursor, or the
    /// start), and how many rows the whole query has, counted on the snapshot
    /// the page was read at.
    pub async fn query_page_with_total_rows(
        &self,
        query: Query,
        page: PageRequest,
        offset: Option<usize>,
    ) -> Result<PageWithTotal<Row>, QueryError> {
        let r = self
            .page_of(query.clone(), &page, offset.unwrap_or(0))
            .await?;
        let total_count = self.count_at(query, r.snapshot_seq).await?;
        Ok(PageWithTotal {
            items: r.rows,
            total_count,
            next_cursor: r.cursor,
            snapshot_seq: r.snapshot_seq,
            rows_examined: r.rows_examined,
        })
    }

    /// [`RepositoryContext::query_page_with_total_rows`], decoded into `T`.
    pub async fn query_page_with_total<T: TryFromRow>(
        &self,
        query: Query,
        page: PageRequest,
        offset: Option<usize>,
    ) -> Result<PageWithTotal<T>, RepositoryError> {
        let rows = self.query_page_with_total_rows(query, page, offset).await?;
        Ok(PageWithTotal {
            items: decode_rows(rows.items)?,
            total_count: rows.total_count,
            next_cursor: rows.next_cursor,
            snapshot_seq: rows.snapshot_seq,
            rows_examined: rows.rows_examined,
        })
    }

    /// Looks keys up with `lookup` (its first column), then reads each key's
    /// row from `table` by its primary key `key_column`, all on the lookup's
    /// snapshot, in the lookup's order; a key whose row is gone is skipped.
    pub async fn lookup_then_hydrate<T: TryFromRow>(
        &self,
        lookup: Query,
        table: &str,
        key_column: &str,
    ) -> Result<Vec<T>, RepositoryError> {
        let keys = self.query(lookup).await?;
        let at = QueryOptions {
            consistency: ConsistencyMode::AtSeq(keys.snapshot_seq),
            ..self.base_query_options()
        };
        let mut rows = Vec::with_capacity(keys.rows.len());
        for key in keys.rows {
            let Some(value) = key.values.into_iter().next() else {
                return Err(RowDecodeError::MissingColumn {
                    column: key_column.to_string(),
                    index: 0,
                }
                .into());
            };
            let one = Query::select(&["*"])
                .from(table)
                .where_(crate::query::plan::Expr::Eq(key_column.into(), value))
                .limit(1);
            let found = self.query_with_options(one, at.clone()).await?;
            rows.extend(found.rows);
        }
        Ok(decode_rows(rows)?)
    }

    /// `query` limited to `offset + page.limit` rows from the page's cursor,
    /// the first `offset` dropped.
    async fn page_of(
        &self,
        query: Query,
        page: &PageRequest,
        offset: usize,
    ) -> Result<QueryResult, QueryError> {
        if page.limit == 0 {
            return Err(QueryError::InvalidQuery {
                reason: "a page request's limit must be at least 1".into(),
            });
        }
        let options = QueryOptions {
            cursor: page.cursor.clone(),
            ..self.base_query_options()
        };
        let mut r = self
            .query_with_options(query.limit(offset.saturating_add(page.limit)), options)
            .await?;
        r.rows.drain(..offset.min(r.rows.len()));
        Ok(r)
    }

    /// The number of rows `query` has at `seq`: a count for a plain query,
    /// the rows of the whole result for a grouped or aggregated one.
    async fn count_at(&self, mut query: Query, seq: u64) -> Result<usize, QueryError> {
        let options = QueryOptions {
            consistency: ConsistencyMode::AtSeq(seq),
            cursor: None,
            allow_full_scan: self.allow_full_scan,
        };
        query.limit = None;
        query.order_by.clear();
        if !query.group_by.is_empty() || !query.aggregates.is_empty() {
            let r = self.query_with_options(query, options).await?;
            return Ok(r.rows.len());
        }
        query.select = vec!["count_star".into()];
        query.aggregates = vec![Aggregate::Count];
        let r = self.query_with_options(query, options).await?;
        match r.rows.first().and_then(|row| row.values.first()) {
            Some(Value::Integer(n)) => Ok(usize::try_from(*n).unwrap_or(0)),
            other => Err(QueryError::InvalidQuery {
                reason: format!("a count returned {other:?}"),
            }),
        }
    }
}
