//! Predicate evaluation: an `Expr` is compiled once against the row layout
//! (column names resolved to positions, literals coerced to the column types) and
//! then evaluated per row without allocation.
//!
//! Invariants:
//! 1. Compiling is the only place names meet positions: a `Columns` resolver says
//!    what a name means (a table's columns, a join's `alias.column`, an
//!    aggregate's output), so one compiler serves CHECK constraints, partial
//!    index filters, WHERE and HAVING alike.
//! 2. A compiled predicate never fails at evaluation: every literal was coerced
//!    to its column's type, and any comparison with NULL is false.
//! 3. Depth is checked before recursing (`MAX_EXPR_DEPTH`).

use crate::error::QueryError;
use crate::vocab::expr::{Expr, MAX_EXPR_DEPTH};
use crate::vocab::types::{ColumnType, Value};

/// Resolves a column name to (position, type if known).
pub trait Columns {
    fn resolve(&self, name: &str) -> Result<(usize, Option<ColumnType>), QueryError>;
}

#[derive(Debug, Clone)]
pub enum Compiled {
    Cmp(usize, CmpOp, Value),
    In(usize, Vec<Value>),
    Between(usize, Value, Value),
    IsNull(usize),
    IsNotNull(usize),
    Like(usize, Vec<char>),
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
    Not(Box<Compiled>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// Coerces a predicate literal to the column's type, or reports the mismatch.
pub fn coerce_literal(
    column: &str,
    ty: Option<ColumnType>,
    v: &Value,
) -> Result<Value, QueryError> {
    match ty {
        None => Ok(v.clone()),
        Some(ty) => v.coerce_to(ty).ok_or_else(|| QueryError::TypeMismatch {
            column: column.to_string(),
            expected: ty.to_string(),
            got: v.kind_name().to_string(),
        }),
    }
}

pub fn compile(expr: &Expr, cols: &dyn Columns) -> Result<Compiled, QueryError> {
    if expr.depth() > MAX_EXPR_DEPTH {
        return Err(QueryError::invalid(format!(
            "predicate depth {} exceeds {MAX_EXPR_DEPTH}",
            expr.depth()
        )));
    }
    compile_inner(expr, cols)
}

fn compile_inner(expr: &Expr, cols: &dyn Columns) -> Result<Compiled, QueryError> {
    let cmp = |c: &str, op: CmpOp, v: &Value| -> Result<Compiled, QueryError> {
        let (i, ty) = cols.resolve(c)?;
        Ok(Compiled::Cmp(i, op, coerce_literal(c, ty, v)?))
    };
    Ok(match expr {
        Expr::Eq(c, v) => cmp(c, CmpOp::Eq, v)?,
        Expr::Ne(c, v) => cmp(c, CmpOp::Ne, v)?,
        Expr::Lt(c, v) => cmp(c, CmpOp::Lt, v)?,
        Expr::Lte(c, v) => cmp(c, CmpOp::Lte, v)?,
        Expr::Gt(c, v) => cmp(c, CmpOp::Gt, v)?,
        Expr::Gte(c, v) => cmp(c, CmpOp::Gte, v)?,
        Expr::In(c, vs) => {
            let (i, ty) = cols.resolve(c)?;
            let mut set = vs
                .iter()
                .map(|v| coerce_literal(c, ty, v))
                .collect::<Result<Vec<_>, _>>()?;
            set.sort();
            set.dedup();
            Compiled::In(i, set)
        }
        Expr::Between(c, lo, hi) => {
            let (i, ty) = cols.resolve(c)?;
            Compiled::Between(i, coerce_literal(c, ty, lo)?, coerce_literal(c, ty, hi)?)
        }
        Expr::IsNull(c) => Compiled::IsNull(cols.resolve(c)?.0),
        Expr::IsNotNull(c) => Compiled::IsNotNull(cols.resolve(c)?.0),
        Expr::Like(c, pattern) => {
            let (i, ty) = cols.resolve(c)?;
            if matches!(ty, Some(t) if t != ColumnType::Text && t != ColumnType::Json) {
                return Err(QueryError::TypeMismatch {
                    column: c.clone(),
                    expected: "Text".into(),
                    got: format!("{ty:?}"),
                });
            }
            Compiled::Like(i, pattern.chars().collect())
        }
        Expr::EqCaller(c) => {
            return Err(QueryError::invalid(format!(
                "EqCaller({c:?}) compares with the caller's id, and this call has none: use the call's *_as form"
            )));
        }
        Expr::And(l, r) => Compiled::And(
            Box::new(compile_inner(l, cols)?),
            Box::new(compile_inner(r, cols)?),
        ),
        Expr::Or(l, r) => Compiled::Or(
            Box::new(compile_inner(l, cols)?),
            Box::new(compile_inner(r, cols)?),
        ),
        Expr::Not(e) => Compiled::Not(Box::new(compile_inner(e, cols)?)),
    })
}

impl Compiled {
    /// Whether `row` satisfies the predicate. Any comparison involving NULL is
    /// false (so `Not(Eq(c, x))` is true for a NULL `c`, as two-valued logic has it).
    pub fn matches(&self, row: &[Value]) -> bool {
        let cell = |i: &usize| row.get(*i).unwrap_or(&Value::Null);
        match self {
            Compiled::Cmp(i, op, v) => {
                let c = cell(i);
                if c.is_null() || v.is_null() {
                    return false;
                }
                let ord = c.cmp(v);
                match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Lte => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Gte => ord.is_ge(),
                }
            }
            Compiled::In(i, set) => {
                let c = cell(i);
                !c.is_null() && set.binary_search(c).is_ok()
            }
            Compiled::Between(i, lo, hi) => {
                let c = cell(i);
                !c.is_null() && c >= lo && c <= hi
            }
            Compiled::IsNull(i) => cell(i).is_null(),
            Compiled::IsNotNull(i) => !cell(i).is_null(),
            Compiled::Like(i, pattern) => match cell(i) {
                Value::Text(s) | Value::Json(s) => like(&s.chars().collect::<Vec<_>>(), pattern),
                _ => false,
            },
            Compiled::And(l, r) => l.matches(row) && r.matches(row),
            Compiled::Or(l, r) => l.matches(row) || r.matches(row),
            Compiled::Not(e) => !e.matches(row),
        }
    }
}

/// SQL LIKE with `%` and `_`, by the classic two-pointer backtracking match
/// (linear in practice, no recursion).
fn like(text: &[char], pattern: &[char]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) && pattern[p] != '%' {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// Splits a predicate into its top-level conjuncts.
pub fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match e {
            Expr::And(l, r) => {
                stack.push(r);
                stack.push(l);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        let m = |t: &str, p: &str| {
            like(
                &t.chars().collect::<Vec<_>>(),
                &p.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("alice", "a%"));
        assert!(m("alice", "%ice"));
        assert!(m("alice", "a_i%e"));
        assert!(m("", "%"));
        assert!(!m("alice", "b%"));
        assert!(!m("alice", "alic"));
        assert!(m("a%b", "a%b"));
        assert!(m("aaab", "%a%b"));
        assert!(!m("ab", "a_b"));
    }
}
