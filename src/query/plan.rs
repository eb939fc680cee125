//! Queries as data: `Query` (select/from/where/order/limit/group/having/joins),
//! predicates (`Expr`), consistency and options. `query::planner` picks how to
//! read them; `query::exec` runs them.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::catalog::types::Value;

/// Deepest predicate accepted (guards the evaluator's recursion).
pub const MAX_EXPR_DEPTH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// A predicate over a row's columns. Comparisons with NULL are false (SQL); use
/// `IsNull`/`IsNotNull` to test for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Expr {
    Eq(String, Value),
    Ne(String, Value),
    Lt(String, Value),
    Lte(String, Value),
    Gt(String, Value),
    Gte(String, Value),
    In(String, Vec<Value>),
    /// Inclusive on both ends.
    Between(String, Value, Value),
    IsNull(String),
    IsNotNull(String),
    /// SQL LIKE: `%` any run, `_` one character.
    Like(String, String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    pub fn and(self, rhs: Expr) -> Expr {
        Expr::And(Box::new(self), Box::new(rhs))
    }

    pub fn or(self, rhs: Expr) -> Expr {
        Expr::Or(Box::new(self), Box::new(rhs))
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }

    /// Nesting depth (a leaf is 1). Iterative, so even an absurdly deep
    /// expression is measured without exhausting the stack.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            deepest = deepest.max(d);
            match e {
                Expr::Not(inner) => stack.push((inner, d + 1)),
                Expr::And(l, r) | Expr::Or(l, r) => {
                    stack.push((l, d + 1));
                    stack.push((r, d + 1));
                }
                _ => {}
            }
        }
        deepest
    }
}

/// An equi-join kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinType {
    Inner,
    Left,
}

/// `JOIN table ON left_column = right_column`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSpec {
    pub table: String,
    pub alias: Option<String>,
    pub join_type: JoinType,
    pub left_column: String,
    pub right_column: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// Output column `count_star`.
    Count,
    /// Output column `sum_<col>`.
    Sum(String),
    Min(String),
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

    pub fn column(&self) -> Option<&str> {
        match self {
            Aggregate::Count => None,
            Aggregate::Sum(c) | Aggregate::Min(c) | Aggregate::Max(c) | Aggregate::Avg(c) => Some(c),
        }
    }
}

/// A read query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Column names, or `"*"` for every column.
    pub select: Vec<String>,
    pub table: String,
    pub table_alias: Option<String>,
    pub joins: Vec<JoinSpec>,
    pub predicate: Option<Expr>,
    pub order_by: Vec<(String, Order)>,
    pub limit: Option<usize>,
    pub group_by: Vec<String>,
    pub aggregates: Vec<Aggregate>,
    pub having: Option<Expr>,
    /// Prefer this secondary index when it can serve the predicate.
    pub use_index: Option<String>,
}

impl Query {
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

    pub fn from(mut self, table: &str) -> Self {
        self.table = table.to_string();
        self
    }

    pub fn alias(mut self, alias: &str) -> Self {
        self.table_alias = Some(alias.to_string());
        self
    }

    pub fn inner_join(self, table: &str, left_column: &str, right_column: &str) -> Self {
        self.join(JoinType::Inner, table, left_column, right_column)
    }

    pub fn left_join(self, table: &str, left_column: &str, right_column: &str) -> Self {
        self.join(JoinType::Left, table, left_column, right_column)
    }

    fn join(mut self, join_type: JoinType, table: &str, left_column: &str, right_column: &str) -> Self {
        self.joins.push(JoinSpec {
            table: table.to_string(),
            alias: None,
            join_type,
            left_column: left_column.to_string(),
            right_column: right_column.to_string(),
        });
        self
    }

    pub fn with_last_join_alias(mut self, alias: &str) -> Self {
        if let Some(last) = self.joins.last_mut() {
            last.alias = Some(alias.to_string());
        }
        self
    }

    pub fn where_(mut self, expr: Expr) -> Self {
        self.predicate = Some(expr);
        self
    }

    pub fn order_by(mut self, col: &str, order: Order) -> Self {
        self.order_by.push((col.to_string(), order));
        self
    }

    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    pub fn group_by(mut self, cols: &[&str]) -> Self {
        self.group_by = cols.iter().map(|c| c.to_string()).collect();
        self
    }

    pub fn aggregate(mut self, aggregate: Aggregate) -> Self {
        self.aggregates.push(aggregate);
        self
    }

    pub fn having(mut self, expr: Expr) -> Self {
        self.having = Some(expr);
        self
    }

    pub fn use_index(mut self, index_name: &str) -> Self {
        self.use_index = Some(index_name.to_string());
        self
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
    pub consistency: ConsistencyMode,
    /// The `cursor` of a previous result: continue after its last row.
    pub cursor: Option<String>,
    /// Let a query that must read everything (a sort no index gives, an
    /// aggregate, a join) read more than `max_scan_rows` rows.
    pub allow_full_scan: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions { consistency: ConsistencyMode::AtLatest, cursor: None, allow_full_scan: false }
    }
}

/// What `explain_query` reports: how the query would read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    pub output_columns: Vec<String>,
    /// `"PRIMARY"` for a primary-key lookup or range, an index name, or `None`
    /// for a scan.
    pub index_used: Option<String>,
    /// A human-readable access path, e.g. `pk point`, `index idx_age range`, `scan`.
    pub access_path: String,
    /// Upper bound on the rows the access path visits (before the limit).
    pub estimated_scan_rows: u64,
    pub has_residual_filter: bool,
    /// Whether rows stream in the requested order (else they are buffered and sorted).
    pub streams_in_order: bool,
    pub snapshot_seq: u64,
}

/// A column, to build predicates fluently: `col("age").gt(lit(30))`.
pub struct ColumnRef(String);

pub fn col(name: &str) -> ColumnRef {
    ColumnRef(name.to_string())
}

/// Conversion of plain Rust values into [`Value`]s for predicates.
pub trait IntoQueryValue {
    fn into_query_value(self) -> Value;
}

impl IntoQueryValue for Value {
    fn into_query_value(self) -> Value {
        self
    }
}
impl IntoQueryValue for bool {
    fn into_query_value(self) -> Value {
        Value::Boolean(self)
    }
}
impl IntoQueryValue for i64 {
    fn into_query_value(self) -> Value {
        Value::Integer(self)
    }
}
impl IntoQueryValue for i32 {
    fn into_query_value(self) -> Value {
        Value::Integer(i64::from(self))
    }
}
impl IntoQueryValue for u8 {
    fn into_query_value(self) -> Value {
        Value::U8(self)
    }
}
impl IntoQueryValue for u64 {
    fn into_query_value(self) -> Value {
        Value::U64(self)
    }
}
impl IntoQueryValue for f64 {
    fn into_query_value(self) -> Value {
        Value::Float(self)
    }
}
impl IntoQueryValue for String {
    fn into_query_value(self) -> Value {
        Value::Text(self)
    }
}
impl IntoQueryValue for &str {
    fn into_query_value(self) -> Value {
        Value::Text(self.to_string())
    }
}

pub fn lit<T: IntoQueryValue>(value: T) -> Value {
    value.into_query_value()
}

impl ColumnRef {
    pub fn eq(self, value: Value) -> Expr {
        Expr::Eq(self.0, value)
    }
    pub fn neq(self, value: Value) -> Expr {
        Expr::Ne(self.0, value)
    }
    pub fn gt(self, value: Value) -> Expr {
        Expr::Gt(self.0, value)
    }
    pub fn gte(self, value: Value) -> Expr {
        Expr::Gte(self.0, value)
    }
    pub fn lt(self, value: Value) -> Expr {
        Expr::Lt(self.0, value)
    }
    pub fn lte(self, value: Value) -> Expr {
        Expr::Lte(self.0, value)
    }
    pub fn between(self, low: Value, high: Value) -> Expr {
        Expr::Between(self.0, low, high)
    }
    pub fn in_(self, values: Vec<Value>) -> Expr {
        Expr::In(self.0, values)
    }
    pub fn like(self, pattern: &str) -> Expr {
        Expr::Like(self.0, pattern.to_string())
    }
    pub fn is_null(self) -> Expr {
        Expr::IsNull(self.0)
    }
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(self.0)
    }
}
