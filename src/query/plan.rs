//! Queries as data: `Query` (select/from/where/order/limit/group/having/joins),
//! consistency and options. Predicates (`Expr`, `col`, `lit`) are shared
//! vocabulary (`crate::vocab::expr`), re-exported here at their 0.1.9 path.
//! `query::planner` picks how to read a query; `query::run_query` runs it.

use serde::{Deserialize, Serialize};

pub use crate::vocab::expr::{ColumnRef, Expr, IntoQueryValue, MAX_EXPR_DEPTH, col, lit};

/// A sort direction for `Query::order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// An equi-join kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinType {
    /// Only left rows with a match.
    Inner,
    /// Every left row; one without a match gets nulls for the joined columns.
    Left,
}

/// `JOIN table ON left_column = right_column`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSpec {
    /// The joined table, in the query's scope.
    pub table: String,
    /// The name that qualifies its columns (`alias.column`); `None`: the table's name.
    pub alias: Option<String>,
    /// Inner or left.
    pub join_type: JoinType,
    /// A column of the rows joined so far (base table or an earlier join).
    pub left_column: String,
    /// A column of `table`, compared for equality with `left_column`.
    pub right_column: String,
}

/// An aggregate over each group (or over all rows without `group_by`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Aggregate {
    /// Output column `count_star`.
    Count,
    /// Output column `sum_<col>`.
    Sum(String),
    /// Output column `min_<col>`.
    Min(String),
    /// Output column `max_<col>`.
    Max(String),
    /// Output column `avg_<col>`, a Float.
    Avg(String),
}

impl Aggregate {
    /// The output column name (as aedb 0.1.9 names it).
    pub fn output_name(&self) -> String {
        match self {
            Aggregate::Count => "count_star".into(),
            Aggregate::Sum(c) => format!("sum_{c}"),
            Aggregate::Min(c) => format!("min_{c}"),
            Aggregate::Max(c) => format!("max_{c}"),
            Aggregate::Avg(c) => format!("avg_{c}"),
        }
    }

    /// The column the aggregate reads; `None` for `Count`.
    pub fn column(&self) -> Option<&str> {
        match self {
            Aggregate::Count => None,
            Aggregate::Sum(c) | Aggregate::Min(c) | Aggregate::Max(c) | Aggregate::Avg(c) => {
                Some(c)
            }
        }
    }
}

/// A read query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Column names, or `"*"` for every column.
    pub select: Vec<String>,
    /// The table to read, in the scope the query runs in.
    pub table: String,
    /// The name that qualifies the base table's columns in a join; `None`: the table's name.
    pub table_alias: Option<String>,
    /// Equi-joins, applied in order.
    pub joins: Vec<JoinSpec>,
    /// The `WHERE` filter; `None` keeps every row. In a join it may name any joined column.
    pub predicate: Option<Expr>,
    /// Sort columns and directions, first first; ties break by primary key.
    pub order_by: Vec<(String, Order)>,
    /// Rows per page; `None`: `max_scan_rows`. A result's `cursor` continues past it.
    pub limit: Option<usize>,
    /// Columns whose values form the groups; empty with aggregates: one group.
    pub group_by: Vec<String>,
    /// Aggregates computed per group, as output columns after the group columns.
    pub aggregates: Vec<Aggregate>,
    /// Filter on the output rows of a grouped query (names output columns).
    pub having: Option<Expr>,
    /// Prefer this secondary index when it can serve the predicate.
    pub use_index: Option<String>,
}

impl Query {
    /// A query of columns `cols` (`"*"` for all); `from` names the table.
    pub fn select(cols: &[&str]) -> Self {
        Query {
            select: cols.iter().map(|s| s.to_string()).collect(),
            table: String::new(),
            table_alias: None,
            joins: Vec::new(),
            predicate: None,
            order_by: Vec::new(),
            limit: None,
            group_by: Vec::new(),
            aggregates: Vec::new(),
            having: None,
            use_index: None,
        }
    }

    /// Sets the table to read.
    pub fn from(mut self, table: &str) -> Self {
        self.table = table.to_string();
        self
    }

    /// Sets the base table's alias for a join.
    pub fn alias(mut self, alias: &str) -> Self {
        self.table_alias = Some(alias.to_string());
        self
    }

    /// Adds an inner join of `table` on `left_column = right_column`.
    pub fn inner_join(self, table: &str, left_column: &str, right_column: &str) -> Self {
        self.join(JoinType::Inner, table, left_column, right_column)
    }

    /// Adds a left join of `table` on `left_column = right_column`.
    pub fn left_join(self, table: &str, left_column: &str, right_column: &str) -> Self {
        self.join(JoinType::Left, table, left_column, right_column)
    }

    fn join(
        mut self,
        join_type: JoinType,
        table: &str,
        left_column: &str,
        right_column: &str,
    ) -> Self {
        self.joins.push(JoinSpec {
            table: table.to_string(),
            alias: None,
            join_type,
            left_column: left_column.to_string(),
            right_column: right_column.to_string(),
        });
        self
    }

    /// Sets the alias of the join added last (no effect without a join).
    pub fn with_last_join_alias(mut self, alias: &str) -> Self {
        if let Some(last) = self.joins.last_mut() {
            last.alias = Some(alias.to_string());
        }
        self
    }

    /// Sets the predicate, replacing any earlier one.
    pub fn where_(mut self, expr: Expr) -> Self {
        self.predicate = Some(expr);
        self
    }

    /// Adds a sort column after those already given.
    pub fn order_by(mut self, col: &str, order: Order) -> Self {
        self.order_by.push((col.to_string(), order));
        self
    }

    /// Sets the page size to `n` rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Sets the group columns, replacing any earlier ones.
    pub fn group_by(mut self, cols: &[&str]) -> Self {
        self.group_by = cols.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Adds an aggregate.
    pub fn aggregate(mut self, aggregate: Aggregate) -> Self {
        self.aggregates.push(aggregate);
        self
    }

    /// Sets the filter on grouped output rows, replacing any earlier one.
    pub fn having(mut self, expr: Expr) -> Self {
        self.having = Some(expr);
        self
    }

    /// Prefers index `index_name`; a caller who may read the table only through
    /// an index must name it here.
    pub fn use_index(mut self, index_name: &str) -> Self {
        self.use_index = Some(index_name.to_string());
        self
    }

    /// Whether rows are grouped or aggregated (then output rows are groups, not
    /// table rows, and nothing streams).
    pub fn aggregates_rows(&self) -> bool {
        !self.aggregates.is_empty() || !self.group_by.is_empty()
    }
}

/// Which committed state a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsistencyMode {
    /// The newest visible commit.
    AtLatest,
    /// Exactly the state after commit `n` (if still retained).
    AtSeq(u64),
    /// The state of the last checkpoint.
    AtCheckpoint,
}

/// Options of `query_with_options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOptions {
    /// Which committed state the query reads.
    pub consistency: ConsistencyMode,
    /// The `cursor` of a previous result: continue after its last row.
    pub cursor: Option<String>,
    /// Let a query that must read everything (a sort no index gives, an
    /// aggregate, a join) read more than `max_scan_rows` rows.
    pub allow_full_scan: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            consistency: ConsistencyMode::AtLatest,
            cursor: None,
            allow_full_scan: false,
        }
    }
}

/// What `explain_query` reports: how the query would read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// The names of the result's columns, in order.
    pub output_columns: Vec<String>,
    /// `"PRIMARY"` for a primary-key lookup or range, an index name, or `None`
    /// for a scan.
    pub index_used: Option<String>,
    /// A human-readable access path, e.g. `pk point`, `index idx_age range`, `scan`.
    pub access_path: String,
    /// Upper bound on the rows the access path visits (before the limit).
    pub estimated_scan_rows: u64,
    /// Whether rows the access path visits are still filtered (by the predicate
    /// or a read policy) because the path does not answer it exactly.
    pub has_residual_filter: bool,
    /// Whether rows stream in the requested order (else they are buffered and sorted).
    pub streams_in_order: bool,
    /// The commit seq the plan was made at.
    pub snapshot_seq: u64,
}
