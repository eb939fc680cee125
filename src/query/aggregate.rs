//! GROUP BY, aggregates (Count/Sum/Min/Max/Avg) and HAVING over buffered rows.
//! Output rows hold the group columns, then one value per aggregate (named as
//! aedb 0.1.9 names them: `count_star`, `sum_<col>`, ...). Groups come out in
//! group-value order, so results are deterministic.

use std::collections::BTreeMap;

use crate::error::QueryError;
use crate::eval::{Columns, compile};
use crate::query::output::projection;
use crate::query::plan::{Aggregate, Query};
use crate::vocab::types::{ColumnType, Value};

fn numeric(ty: Option<ColumnType>) -> bool {
    matches!(
        ty,
        None | Some(
            ColumnType::U8
                | ColumnType::U64
                | ColumnType::Integer
                | ColumnType::Timestamp
                | ColumnType::Float
        )
    )
}

/// Checks the group and aggregate columns; returns the output column names after
/// the query's projection.
pub(crate) fn check_aggregates(
    table: &str,
    cols: &dyn Columns,
    query: &Query,
) -> Result<Vec<String>, QueryError> {
    for g in &query.group_by {
        cols.resolve(g)?;
    }
    for a in &query.aggregates {
        if let Some(c) = a.column() {
            let (_, ty) = cols.resolve(c)?;
            if matches!(a, Aggregate::Sum(_) | Aggregate::Avg(_)) && !numeric(ty) {
                return Err(QueryError::TypeMismatch {
                    column: c.to_string(),
                    expected: "a number".into(),
                    got: ty.map_or("?".into(), |t| t.to_string()),
                });
            }
        }
    }
    let out = output_columns(query);
    Ok(projection(table, &out, &query.select)?
        .into_iter()
        .map(|i| out[i].clone())
        .collect())
}

fn output_columns(query: &Query) -> Vec<String> {
    query
        .group_by
        .iter()
        .cloned()
        .chain(query.aggregates.iter().map(Aggregate::output_name))
        .collect()
}

#[derive(Clone)]
enum State {
    Count(i64),
    Sum {
        int: i128,
        float: f64,
        floats: bool,
        seen: bool,
    },
    Min(Option<Value>),
    Max(Option<Value>),
    Avg {
        total: f64,
        n: u64,
    },
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::U8(x) => Some(f64::from(*x)),
        Value::U64(x) => Some(*x as f64),
        Value::Integer(x) | Value::Timestamp(x) => Some(*x as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

fn as_i128(v: &Value) -> Option<i128> {
    match v {
        Value::U8(x) => Some(i128::from(*x)),
        Value::U64(x) => Some(i128::from(*x)),
        Value::Integer(x) | Value::Timestamp(x) => Some(i128::from(*x)),
        _ => None,
    }
}

impl State {
    fn new(a: &Aggregate) -> State {
        match a {
            Aggregate::Count => State::Count(0),
            Aggregate::Sum(_) => State::Sum {
                int: 0,
                float: 0.0,
                floats: false,
                seen: false,
            },
            Aggregate::Min(_) => State::Min(None),
            Aggregate::Max(_) => State::Max(None),
            Aggregate::Avg(_) => State::Avg { total: 0.0, n: 0 },
        }
    }

    /// Adds a row's cell (NULLs are skipped, as in SQL; Count counts rows).
    fn add(&mut self, v: Option<&Value>) {
        if let State::Count(n) = self {
            *n += 1;
            return;
        }
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return;
        };
        match self {
            State::Sum {
                int,
                float,
                floats,
                seen,
            } => {
                *seen = true;
                match as_i128(v) {
                    Some(i) => *int = int.saturating_add(i),
                    None => {
                        *floats = true;
                        *float += as_f64(v).unwrap_or(0.0);
                    }
                }
            }
            State::Min(m) => {
                if m.as_ref().is_none_or(|cur| v < cur) {
                    *m = Some(v.clone());
                }
            }
            State::Max(m) => {
                if m.as_ref().is_none_or(|cur| v > cur) {
                    *m = Some(v.clone());
                }
            }
            State::Avg { total, n } => {
                if let Some(x) = as_f64(v) {
                    *total += x;
                    *n += 1;
                }
            }
            State::Count(_) => {}
        }
    }

    fn finish(self, name: &str) -> Result<Value, QueryError> {
        Ok(match self {
            State::Count(n) => Value::Integer(n),
            State::Sum { seen: false, .. } => Value::Null,
            State::Sum {
                int,
                float,
                floats: true,
                ..
            } => Value::Float(float + int as f64),
            State::Sum { int, .. } => {
                Value::Integer(i64::try_from(int).map_err(|_| {
                    QueryError::invalid(format!("{name} overflows a 64-bit integer"))
                })?)
            }
            State::Min(v) | State::Max(v) => v.unwrap_or(Value::Null),
            State::Avg { n: 0, .. } => Value::Null,
            State::Avg { total, n } => Value::Float(total / n as f64),
        })
    }
}

/// Groups and aggregates `rows` (laid out as `columns`), then applies HAVING.
pub(crate) fn aggregate_rows(
    table: &str,
    cols: &dyn Columns,
    rows: Vec<Vec<Value>>,
    query: &Query,
) -> Result<(Vec<String>, Vec<Vec<Value>>), QueryError> {
    check_aggregates(table, cols, query)?;
    let group_pos: Vec<usize> = query
        .group_by
        .iter()
        .map(|g| cols.resolve(g).map(|r| r.0))
        .collect::<Result<_, _>>()?;
    let agg_pos: Vec<Option<usize>> = query
        .aggregates
        .iter()
        .map(|a| a.column().map(|c| cols.resolve(c).map(|r| r.0)).transpose())
        .collect::<Result<_, _>>()?;
    let template: Vec<State> = query.aggregates.iter().map(State::new).collect();
    let mut groups: BTreeMap<Vec<Value>, Vec<State>> = BTreeMap::new();
    if group_pos.is_empty() {
        groups.insert(Vec::new(), template.clone());
    }
    for row in &rows {
        let key: Vec<Value> = group_pos.iter().map(|&i| row[i].clone()).collect();
        let states = groups.entry(key).or_insert_with(|| template.clone());
        for (s, p) in states.iter_mut().zip(&agg_pos) {
            s.add(p.map(|i| &row[i]));
        }
    }
    let names = output_columns(query);
    let mut out = Vec::with_capacity(groups.len());
    for (mut key, states) in groups {
        for (s, a) in states.into_iter().zip(&query.aggregates) {
            key.push(s.finish(&a.output_name())?);
        }
        out.push(key);
    }
    if let Some(having) = &query.having {
        struct Out<'a>(&'a [String], &'a str);
        impl Columns for Out<'_> {
            fn resolve(&self, name: &str) -> Result<(usize, Option<ColumnType>), QueryError> {
                self.0
                    .iter()
                    .position(|c| c == name)
                    .map(|i| (i, None))
                    .ok_or_else(|| QueryError::ColumnNotFound {
                        table: self.1.to_string(),
                        column: name.to_string(),
                    })
            }
        }
        let h = compile(having, &Out(&names, table))?;
        out.retain(|r| h.matches(r));
    }
    Ok((names, out))
}
