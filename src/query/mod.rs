//! Queries: the API (`plan`), the planner, the executors and what they return.
//!
//! This file is the dispatch: a query with joins goes to `join`, any other to
//! `single`; both walk rows with `walk`, page buffered rows with
//! `output::Page`, and resume with `cursor`. Predicates and their compiler are
//! shared vocabulary (`crate::vocab`).
//!
//! Room order: `query` sits above `table` and below `commit` (which calls
//! `matching_rows` for predicated mutations); see `tests/layers.rs`.

mod aggregate;
mod cursor;
mod join;
mod output;
pub mod plan;
mod planner;
mod single;
pub(crate) mod source;
mod walk;

use crate::catalog::Catalog;
use crate::vocab::expr as vocab_expr;
use source::Source;

pub use crate::error::QueryError;
/// KV reads' results (0.1.9 paths; `KvEntry` is 0.1.9's `storage::keyspace::KvEntry`).
pub use crate::kv::{KvCursor, KvEntry, KvScanResult, ScopedKvEntry};
pub use output::QueryResult;
pub(crate) use single::{count_exact, matching_rows, query_to_aedb};

/// What the caller of a query may see (built by the instance from the auth
/// seam): per table, the read policy to apply; for the base table, whether it
/// may be read only through certain indexes (`IndexRead` grants).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadGate {
    /// (table name, predicate) in the query's project and scope.
    pub(crate) policies: Vec<(String, vocab_expr::Expr)>,
    pub(crate) through_indexes: Option<Vec<String>>,
}

impl ReadGate {
    /// The read policy of `table`, if one applies.
    pub(crate) fn policy(&self, table: &str) -> Option<&vocab_expr::Expr> {
        self.policies
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, p)| p)
    }
}

/// Engine limits a query runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_scan_rows: usize,
}

/// Runs a query against `src`.
// The query, where it runs, and what bounds and gates it: each is needed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_query(
    src: &mut dyn Source,
    catalog: &Catalog,
    project: &str,
    scope: &str,
    query: &plan::Query,
    opts: &plan::QueryOptions,
    limits: Limits,
    gate: &ReadGate,
) -> Result<QueryResult, QueryError> {
    if query.joins.is_empty() {
        single::run(src, catalog, project, scope, query, opts, limits, gate)
    } else {
        join::run(src, catalog, project, scope, query, opts, limits, gate)
    }
}

/// How a query would run, without running it.
pub(crate) fn explain(
    src: &mut dyn Source,
    catalog: &Catalog,
    project: &str,
    scope: &str,
    query: &plan::Query,
    gate: &ReadGate,
) -> Result<plan::QueryPlan, QueryError> {
    if query.joins.is_empty() {
        single::explain(src, catalog, project, scope, query, gate)
    } else {
        join::explain(src, catalog, project, scope, query, gate)
    }
}
