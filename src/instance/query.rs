//! Query methods: every read picks its snapshot by `ConsistencyMode`.

use crate::error::QueryError;
use crate::instance::AedbInstance;
use crate::query::plan::{Query, QueryOptions, QueryPlan};
use crate::query::source::SnapshotSource;
use crate::query::{Limits, QueryResult, explain, run_query};

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
        self.query_with_options(project_id, scope_id, query, QueryOptions::default())
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
        let txn = self.read_at(options.consistency)?;
        let catalog = self.catalog_of(&txn)?;
        run_query(
            &mut SnapshotSource::new(txn),
            &catalog,
            project_id,
            scope_id,
            &query,
            &options,
            self.query_limits(),
        )
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
        let txn = self.read_at(options.consistency)?;
        let catalog = self.catalog_of(&txn)?;
        explain(
            &mut SnapshotSource::new(txn),
            &catalog,
            project_id,
            scope_id,
            &query,
        )
    }
}
