//! Predicates as data: `Expr` (comparisons, IN, BETWEEN, NULL tests, LIKE,
//! and/or/not over named columns) and the `col`/`lit` builders.
//!
//! Invariants:
//! 1. An `Expr` names columns only by name; what a name means (a table's column,
//!    a joined `alias.column`, an aggregate's output) is decided when it is
//!    compiled (`eval`), never here.
//! 2. Walkers go through `leaves`/`leaves_mut` (iterative, so a deep expression
//!    cannot exhaust the stack) and `column`/`column_mut`: a new leaf variant is
//!    added in `column`/`column_mut` and in the compiler, nowhere else.

use serde::{Deserialize, Serialize};

use crate::vocab::types::Value;

/// Deepest predicate accepted (guards the evaluator's recursion).
pub const MAX_EXPR_DEPTH: usize = 32;

/// A predicate over a row's columns. Comparisons with NULL are false (SQL); use
/// `IsNull`/`IsNotNull` to test for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Expr {
    /// The column equals the value. The value is converted to the column's
    /// type when the predicate compiles; NULL on either side makes it false.
    Eq(String, Value),
    /// The column differs from the value; false when either is NULL.
    Ne(String, Value),
    /// The column sorts before the value (`Value` order); false for NULL.
    Lt(String, Value),
    /// The column sorts before or equal to the value; false for NULL.
    Lte(String, Value),
    /// The column sorts after the value; false for NULL.
    Gt(String, Value),
    /// The column sorts after or equal to the value; false for NULL.
    Gte(String, Value),
    /// The column equals one of the values; false when the column is NULL.
    In(String, Vec<Value>),
    /// Inclusive on both ends.
    Between(String, Value, Value),
    /// The column is NULL.
    IsNull(String),
    /// The column is not NULL.
    IsNotNull(String),
    /// SQL LIKE: `%` any run, `_` one character.
    Like(String, String),
    /// The column equals the id of the caller the statement runs for: read
    /// policies and `*_as` calls bind it (`bind_caller`); a call without a
    /// caller cannot compile it.
    EqCaller(String),
    /// Both sides hold.
    And(Box<Expr>, Box<Expr>),
    /// Either side holds.
    Or(Box<Expr>, Box<Expr>),
    /// The inner predicate does not hold. Two-valued: `Not(Eq(c, x))` is true
    /// when `c` is NULL.
    Not(Box<Expr>),
}

impl Expr {
    /// `self` and `rhs` both hold (`Expr::And`).
    pub fn and(self, rhs: Expr) -> Expr {
        Expr::And(Box::new(self), Box::new(rhs))
    }

    /// `self` or `rhs` holds (`Expr::Or`).
    pub fn or(self, rhs: Expr) -> Expr {
        Expr::Or(Box::new(self), Box::new(rhs))
    }

    /// `self` does not hold (`Expr::Not`).
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

    /// The column a leaf names (`None` for `And`/`Or`/`Not`).
    pub fn column(&self) -> Option<&str> {
        match self {
            Expr::Eq(c, _)
            | Expr::Ne(c, _)
            | Expr::Lt(c, _)
            | Expr::Lte(c, _)
            | Expr::Gt(c, _)
            | Expr::Gte(c, _)
            | Expr::In(c, _)
            | Expr::Between(c, _, _)
            | Expr::IsNull(c)
            | Expr::IsNotNull(c)
            | Expr::Like(c, _)
            | Expr::EqCaller(c) => Some(c),
            Expr::And(..) | Expr::Or(..) | Expr::Not(_) => None,
        }
    }

    /// The column a leaf names, for renaming (`None` for `And`/`Or`/`Not`).
    pub fn column_mut(&mut self) -> Option<&mut String> {
        match self {
            Expr::Eq(c, _)
            | Expr::Ne(c, _)
            | Expr::Lt(c, _)
            | Expr::Lte(c, _)
            | Expr::Gt(c, _)
            | Expr::Gte(c, _)
            | Expr::In(c, _)
            | Expr::Between(c, _, _)
            | Expr::IsNull(c)
            | Expr::IsNotNull(c)
            | Expr::Like(c, _)
            | Expr::EqCaller(c) => Some(c),
            Expr::And(..) | Expr::Or(..) | Expr::Not(_) => None,
        }
    }

    /// Every leaf (a node that is not `And`/`Or`/`Not`), depth first.
    pub fn leaves(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::And(l, r) | Expr::Or(l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
                Expr::Not(x) => stack.push(x),
                leaf => out.push(leaf),
            }
        }
        out
    }

    /// Whether `f` holds for some leaf; walks without allocating, since the
    /// read path asks this of every query's predicate.
    pub fn any_leaf(&self, f: &impl Fn(&Expr) -> bool) -> bool {
        match self {
            Expr::And(l, r) | Expr::Or(l, r) => l.any_leaf(f) || r.any_leaf(f),
            Expr::Not(x) => x.any_leaf(f),
            leaf => f(leaf),
        }
    }

    /// Whether some leaf is `EqCaller` (the expression needs a caller to run).
    pub fn names_caller(&self) -> bool {
        self.any_leaf(&|l| matches!(l, Expr::EqCaller(_)))
    }

    /// Replaces every `EqCaller(c)` with `Eq(c, caller_id)`.
    pub fn bind_caller(&mut self, caller_id: &str) {
        self.leaves_mut(|leaf| {
            if let Expr::EqCaller(c) = leaf {
                *leaf = Expr::Eq(std::mem::take(c), Value::Text(caller_id.to_string()));
            }
        });
    }

    /// Calls `f` on every leaf, depth first.
    pub fn leaves_mut(&mut self, mut f: impl FnMut(&mut Expr)) {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::And(l, r) | Expr::Or(l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
                Expr::Not(x) => stack.push(x),
                leaf => f(leaf),
            }
        }
    }

    /// Whether any leaf names column `name`.
    pub fn mentions(&self, name: &str) -> bool {
        self.any_leaf(&|l| l.column() == Some(name))
    }

    /// Renames column `from` to `to` in every leaf.
    pub fn rename_column(&mut self, from: &str, to: &str) {
        self.leaves_mut(|l| {
            if let Some(c) = l.column_mut().filter(|c| *c == from) {
                *c = to.to_string();
            }
        });
    }
}

/// A column, to build predicates fluently: `col("age").gt(lit(30))`.
pub struct ColumnRef(String);

/// Starts a predicate on column `name`: `col("age").gt(lit(30))`.
pub fn col(name: &str) -> ColumnRef {
    ColumnRef(name.to_string())
}

/// Conversion of plain Rust values into [`Value`]s for predicates.
pub trait IntoQueryValue {
    /// This value as a `Value`: `i32` widens to `Integer`, `&str` becomes `Text`.
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

/// A predicate literal from a plain Rust value: `lit(30)`, `lit("alice")`.
pub fn lit<T: IntoQueryValue>(value: T) -> Value {
    value.into_query_value()
}

impl ColumnRef {
    /// `Expr::Eq`: the column equals `value`.
    pub fn eq(self, value: Value) -> Expr {
        Expr::Eq(self.0, value)
    }
    /// `Expr::Ne`: the column differs from `value` (false for NULL).
    pub fn neq(self, value: Value) -> Expr {
        Expr::Ne(self.0, value)
    }
    /// `Expr::Gt`: the column sorts after `value`.
    pub fn gt(self, value: Value) -> Expr {
        Expr::Gt(self.0, value)
    }
    /// `Expr::Gte`: the column sorts after or equal to `value`.
    pub fn gte(self, value: Value) -> Expr {
        Expr::Gte(self.0, value)
    }
    /// `Expr::Lt`: the column sorts before `value`.
    pub fn lt(self, value: Value) -> Expr {
        Expr::Lt(self.0, value)
    }
    /// `Expr::Lte`: the column sorts before or equal to `value`.
    pub fn lte(self, value: Value) -> Expr {
        Expr::Lte(self.0, value)
    }
    /// `Expr::Between`: `low <= column <= high`, both ends included.
    pub fn between(self, low: Value, high: Value) -> Expr {
        Expr::Between(self.0, low, high)
    }
    /// `Expr::In`: the column equals one of `values`.
    pub fn in_(self, values: Vec<Value>) -> Expr {
        Expr::In(self.0, values)
    }
    /// `Expr::Like`: SQL LIKE on a `Text` or `Json` column (`%` any run, `_`
    /// one character).
    pub fn like(self, pattern: &str) -> Expr {
        Expr::Like(self.0, pattern.to_string())
    }
    /// `Expr::IsNull`: the column is NULL.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(self.0)
    }
    /// `Expr::IsNotNull`: the column is not NULL.
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(self.0)
    }
    /// The column equals the calling caller's id (see `Expr::EqCaller`).
    pub fn eq_caller(self) -> Expr {
        Expr::EqCaller(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Expr, col, lit};

    #[test]
    fn walkers_reach_every_leaf_and_only_columns() {
        let mut e = col("a")
            .eq(lit(1))
            .and(col("b").is_null().or(col("a").like("x%")).not());
        assert!(e.mentions("a") && e.mentions("b") && !e.mentions("c"));
        assert_eq!(e.leaves().len(), 3);
        e.rename_column("a", "z");
        assert!(!e.mentions("a") && e.mentions("z") && e.mentions("b"));
        assert_eq!(Expr::Not(Box::new(col("q").is_null())).column(), None);
    }
}
