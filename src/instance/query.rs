//! Query methods: every read picks its snapshot by `ConsistencyMode`, then is
//! authorized for its caller on that snapshot's catalog (so an `AtSeq` read
//! sees the grants of that seq) before it reads a row.

use std::sync::Arc;

use crate::auth::Call;
use crate::catalog::Catalog;
use crate::error::QueryError;
use crate::instance::AedbInstance;
use crate::permission::CallerContext;
use crate::query::plan::{Query, QueryOptions, QueryPlan};
use crate::query::source::SnapshotSource;
use crate::query::{Limits, QueryResult, ReadGate, explain, run_query};

impl AedbInstance {
    fn query_limits(&self) -> Limits {
        Limits {
            max_scan_rows: self.config().max_scan_rows,
        }
    }

    /// Runs `query` at the latest snapshot.
    pub async fn query(
        &self,
        project_id: &str,
        scope_id: &str,
        query: Query,
    ) -> Result<QueryResult, QueryError> {
        let call = self.call("query", None);
        self.run_query_for(call, project_id, scope_id, query, QueryOptions::default())
            .await
    }

    /// `query` for `caller`: needs `TableRead` on every table it reads (or an
    /// `IndexRead` index that serves it), and sees only the rows the tables'
    /// read policies let it see.
    pub async fn query_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        query: Query,
    ) -> Result<QueryResult, QueryError> {
        let call = self.call_by("query_as", Some(caller));
        self.run_query_for(call, project_id, scope_id, query, QueryOptions::default())
            .await
    }

    /// Runs `query` with a consistency mode, a cursor from an earlier page, or
    /// `allow_full_scan`.
    pub async fn query_with_options(
        &self,
        project_id: &str,
        scope_id: &str,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let call = self.call("query_with_options", None);
        self.run_query_for(call, project_id, scope_id, query, options)
            .await
    }

    /// `query_with_options` without a caller, 0.1.9's name for it: an open
    /// instance trusts its process; a production or secure one refuses.
    pub async fn query_no_auth(
        &self,
        project_id: &str,
        scope_id: &str,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let call = self.call("query_no_auth", None);
        self.run_query_for(call, project_id, scope_id, query, options)
            .await
    }

    /// `query_with_options` for `caller` (`None`: as the plain call).
    pub async fn query_with_options_as(
        &self,
        caller: Option<&CallerContext>,
        project_id: &str,
        scope_id: &str,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let call = self.call_by("query_with_options_as", caller);
        self.run_query_for(call, project_id, scope_id, query, options)
            .await
    }

    async fn run_query_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        mut query: Query,
        options: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let r = self
            .authorized_read(&call, project_id, scope_id, &mut query, &options)
            .and_then(|(mut source, catalog, gate)| {
                run_query(
                    &mut source,
                    &catalog,
                    project_id,
                    scope_id,
                    &query,
                    &options,
                    self.query_limits(),
                    &gate,
                )
            });
        self.audited_query(&call, r).await
    }

    /// The snapshot `options` asks for, its catalog, and what `call` may see of
    /// `query` there (`read_gate`, which also binds the caller into `query`).
    fn authorized_read(
        &self,
        call: &Call<'_>,
        project_id: &str,
        scope_id: &str,
        query: &mut Query,
        options: &QueryOptions,
    ) -> Result<(SnapshotSource, Arc<Catalog>, ReadGate), QueryError> {
        let txn = self.read_at(options.consistency)?;
        let catalog = self.catalog_of(&txn)?;
        let gate = self.read_gate(&catalog, call, project_id, scope_id, query)?;
        Ok((SnapshotSource::new(txn), catalog, gate))
    }

    /// How `query` would run: the access path, the index, an estimate of the
    /// rows it visits.
    pub async fn explain_query(
        &self,
        project_id: &str,
        scope_id: &str,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryPlan, QueryError> {
        let call = self.call("explain_query", None);
        self.explain_for(call, project_id, scope_id, query, options)
            .await
    }

    /// `explain_query` for `caller`: authorized like the query itself; under a
    /// read policy the path does not answer, the row estimate is withheld (0).
    pub async fn explain_query_as(
        &self,
        caller: Option<&CallerContext>,
        project_id: &str,
        scope_id: &str,
        query: Query,
        options: QueryOptions,
    ) -> Result<QueryPlan, QueryError> {
        let call = self.call_by("explain_query_as", caller);
        self.explain_for(call, project_id, scope_id, query, options)
            .await
    }

    async fn explain_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        mut query: Query,
        options: QueryOptions,
    ) -> Result<QueryPlan, QueryError> {
        let r = self
            .authorized_read(&call, project_id, scope_id, &mut query, &options)
            .and_then(|(mut source, catalog, gate)| {
                explain(&mut source, &catalog, project_id, scope_id, &query, &gate)
            });
        self.audited_query(&call, r).await
    }
}
