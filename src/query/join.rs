//! Inner and left equi-joins. The base table is read whole (bounded by
//! `max_scan_rows` unless `allow_full_scan`); each joined
//! table is probed by primary key when the join column is its whole primary key,
//! otherwise read once into a hash table. Joined rows name their columns
//! `alias.column` (alias = table name unless given); a plain column name works
//! when exactly one table has it.
//!
//! Invariant: `JoinPlan` is the one place a join is resolved (tables, aliases,
//! join columns, pk-probe or hash); `run` and `explain` both start from it, so
//! what explain says is what run does.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::catalog::{Catalog, TableColumns, TableInfo};
use crate::error::AedbError;
use crate::error::QueryError;
use crate::eval::{Columns, Compiled, compile};
use crate::query::aggregate::{aggregate_rows, check_aggregates};
use crate::query::cursor::parse_cursor;
use crate::query::output::{Page, QueryResult};
use crate::query::plan::{JoinType, Query, QueryOptions, QueryPlan};
use crate::query::planner::{plan, resolve_table};
use crate::query::source::Source;
use crate::query::walk::visit_rows;
use crate::query::{Limits, ReadGate};
use crate::table::decode;
use crate::table::key::encode_key;
use crate::vocab::types::{ColumnType, Value};

/// Qualified columns of the joined row.
struct Joined {
    names: Vec<String>,
    types: Vec<ColumnType>,
    table: String,
}

impl Columns for Joined {
    fn resolve(&self, name: &str) -> Result<(usize, Option<ColumnType>), QueryError> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Ok((i, Some(self.types[i])));
        }
        let suffix = format!(".{name}");
        let hits: Vec<usize> = (0..self.names.len())
            .filter(|&i| self.names[i].ends_with(&suffix))
            .collect();
        match hits.as_slice() {
            [i] => Ok((*i, Some(self.types[*i]))),
            [] => Err(QueryError::ColumnNotFound {
                table: self.table.clone(),
                column: name.to_string(),
            }),
            _ => Err(QueryError::invalid(format!(
                "column '{name}' is ambiguous in the join; qualify it as alias.{name}"
            ))),
        }
    }
}

impl Joined {
    fn add(&mut self, alias: &str, t: &TableInfo) {
        for (c, ty) in t.schema().columns.iter().zip(&t.types) {
            self.names.push(format!("{alias}.{}", c.name));
            self.types.push(*ty);
        }
    }
}

/// Rows read and rows produced so far, against `max_scan_rows`.
struct Budget {
    examined: usize,
    max: usize,
    unbounded: bool,
}

impl Budget {
    /// Counts one row read; false once over the bound.
    fn take(&mut self) -> bool {
        self.examined += 1;
        !self.over()
    }

    fn over(&self) -> bool {
        !self.unbounded && self.examined > self.max
    }
}

/// The right column of a join, in the right table (qualified or plain).
fn right_column(t: &TableInfo, alias: &str, name: &str) -> Result<usize, QueryError> {
    let plain = name.strip_prefix(&format!("{alias}.")).unwrap_or(name);
    t.column(plain).ok_or_else(|| QueryError::ColumnNotFound {
        table: t.name().to_string(),
        column: name.to_string(),
    })
}

/// One joined table, resolved.
struct Step<'c> {
    right: &'c Arc<TableInfo>,
    /// The join's table name as the query wrote it.
    name: &'c str,
    join_type: JoinType,
    /// Position of the left join column in the rows joined so far.
    left_pos: usize,
    /// Position of the right join column in the right table.
    right_pos: usize,
    /// The right column is the whole primary key: probe by key, else hash.
    by_pk: bool,
    /// The right table's read policy, if one applies: rows it hides do not join.
    hidden: Option<Compiled>,
}

/// A join resolved against the catalog: the base table, each step, and the
/// layout of the joined row (which `Step::left_pos` indexes a prefix of).
struct JoinPlan<'c> {
    base: &'c Arc<TableInfo>,
    /// The base table's read policy, if one applies.
    base_policy: Option<(&'c crate::vocab::expr::Expr, Compiled)>,
    steps: Vec<Step<'c>>,
    layout: Joined,
}

impl<'c> JoinPlan<'c> {
    fn new(
        catalog: &'c Catalog,
        project: &str,
        scope: &str,
        query: &'c Query,
        gate: &'c ReadGate,
    ) -> Result<Self, QueryError> {
        if gate.through_indexes.is_some() {
            return Err(QueryError::Engine(AedbError::PermissionDenied(format!(
                "table '{}' may be read only through an index, which a join cannot do",
                query.table
            ))));
        }
        let base = resolve_table(catalog, project, scope, &query.table)?;
        let compiled = |name: &str, t: &TableInfo| {
            gate.policy(name)
                .map(|p| compile(p, &TableColumns(t)).map(|c| (p, c)))
                .transpose()
        };
        let base_policy = compiled(&query.table, base)?;
        let base_alias = query
            .table_alias
            .clone()
            .unwrap_or_else(|| query.table.clone());
        let mut layout = Joined {
            names: Vec::new(),
            types: Vec::new(),
            table: query.table.clone(),
        };
        layout.add(&base_alias, base);
        let mut steps = Vec::with_capacity(query.joins.len());
        for j in &query.joins {
            let right = resolve_table(catalog, project, scope, &j.table)?;
            let alias = j.alias.clone().unwrap_or_else(|| j.table.clone());
            let (left_pos, _) = layout.resolve(&j.left_column)?;
            let right_pos = right_column(right, &alias, &j.right_column)?;
            let by_pk = right.pk == [right_pos];
            steps.push(Step {
                right,
                name: &j.table,
                join_type: j.join_type,
                left_pos,
                right_pos,
                by_pk,
                hidden: compiled(&j.table, right)?.map(|(_, c)| c),
            });
            layout.add(&alias, right);
        }
        Ok(JoinPlan {
            base,
            base_policy,
            steps,
            layout,
        })
    }
}

// The query, where it runs, and what bounds and gates it: each is needed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    src: &mut dyn Source,
    catalog: &Catalog,
    project: &str,
    scope: &str,
    query: &Query,
    opts: &QueryOptions,
    limits: Limits,
    gate: &ReadGate,
) -> Result<QueryResult, QueryError> {
    let JoinPlan {
        base,
        base_policy,
        steps,
        layout,
    } = JoinPlan::new(catalog, project, scope, query, gate)?;
    let resume = opts
        .cursor
        .as_deref()
        .map(|c| parse_cursor(base.record.id, c))
        .transpose()?;
    let max = limits.max_scan_rows.max(1);
    let mut budget = Budget {
        examined: 0,
        max,
        unbounded: opts.allow_full_scan,
    };
    // Base rows: all those the caller may see (bounded by max_scan_rows); the
    // predicate may name joined columns, so it is applied to the joined rows.
    // Rows a read policy hides are not counted.
    let access = plan(
        base,
        base_policy.as_ref().map(|(p, _)| *p),
        &[],
        None,
        false,
    )?;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    visit_rows(src, base, &access, None, &mut |_, row| {
        if base_policy.as_ref().is_some_and(|(_, h)| !h.matches(&row)) {
            return Ok(true);
        }
        rows.push(row);
        Ok(budget.take())
    })?;
    for step in &steps {
        if budget.over() {
            break;
        }
        rows = join_step(src, step, rows, &mut budget)?;
    }
    if budget.over() {
        return Err(QueryError::ScanBoundExceeded {
            estimated_rows: budget.examined as u64,
            max_scan_rows: max as u64,
        });
    }
    if let Some(p) = &query.predicate {
        let pred = compile(p, &layout)?;
        rows.retain(|r| pred.matches(r));
    }
    let (columns, rows) = if query.aggregates_rows() {
        aggregate_rows(&query.table, &layout, rows, query)?
    } else {
        (layout.names.clone(), rows)
    };
    // Plain names in select/order_by resolve like predicate columns do.
    let mut q = query.clone();
    let qualify = |c: &String| -> Result<String, QueryError> {
        if c == "*" || columns.contains(c) {
            return Ok(c.clone());
        }
        layout.resolve(c).map(|(i, _)| layout.names[i].clone())
    };
    q.select = q.select.iter().map(qualify).collect::<Result<_, _>>()?;
    q.order_by = q
        .order_by
        .iter()
        .map(|(c, o)| qualify(c).map(|c| (c, *o)))
        .collect::<Result<_, _>>()?;
    let page = Page {
        table: &query.table,
        table_id: base.record.id,
        columns,
        rows,
        resume,
        len: query.limit.unwrap_or(max),
        examined: budget.examined,
        snapshot_seq: src.seq(),
        tiebreak: &[],
    };
    page.finish(&q)
}

/// Joins `rows` with one more table.
fn join_step(
    src: &mut dyn Source,
    step: &Step<'_>,
    rows: Vec<Vec<Value>>,
    budget: &mut Budget,
) -> Result<Vec<Vec<Value>>, QueryError> {
    let Step {
        right,
        join_type,
        left_pos,
        right_pos: rpos,
        by_pk,
        ref hidden,
        ..
    } = *step;
    let visible = |row: &[Value]| hidden.as_ref().is_none_or(|h| h.matches(row));
    let rty = right.types[rpos];
    let width = right.types.len();
    let mut joined = Vec::new();
    let mut hash: HashMap<Value, Vec<Vec<Value>>> = HashMap::new();
    if !by_pk {
        let scan = plan(right, None, &[], None, false)?;
        visit_rows(src, right, &scan, None, &mut |_, row| {
            if !visible(&row) {
                return Ok(true);
            }
            if !row[rpos].is_null() {
                hash.entry(row[rpos].clone()).or_default().push(row);
            }
            Ok(budget.take())
        })?;
    }
    for left in rows {
        let probe = match left[left_pos].coerce_to(rty) {
            Some(v) if !v.is_null() => Some(v),
            _ => None,
        };
        let mut probed = Vec::new();
        let matches: &[Vec<Value>] = match probe {
            None => &[],
            Some(v) if by_pk => {
                let key = encode_key(&[&v]);
                if let Some(row) =
                    src.get_with(&right.rows_tree, &key, &mut |b| decode(right, &key, b))?
                    && visible(&row)
                {
                    budget.take();
                    probed.push(row);
                }
                &probed
            }
            Some(v) => hash.get(&v).map_or(&[][..], Vec::as_slice),
        };
        // Rows produced count against the bound too: one key shared by 5,000
        // rows on each side is 25 M joined rows from 10,000 read.
        if matches.is_empty() && join_type == JoinType::Left {
            let mut row = left.clone();
            row.extend(std::iter::repeat_n(Value::Null, width));
            joined.push(row);
            if !budget.take() {
                return Ok(joined);
            }
        }
        for m in matches {
            let mut row = left.clone();
            row.extend(m.iter().cloned());
            joined.push(row);
            if !budget.take() {
                return Ok(joined);
            }
        }
    }
    Ok(joined)
}

pub(crate) fn explain(
    src: &mut dyn Source,
    catalog: &Catalog,
    project: &str,
    scope: &str,
    query: &Query,
    gate: &ReadGate,
) -> Result<QueryPlan, QueryError> {
    let JoinPlan {
        base,
        steps,
        layout,
        ..
    } = JoinPlan::new(catalog, project, scope, query, gate)?;
    let mut estimate = src.count(&base.rows_tree, Bound::Unbounded, Bound::Unbounded)?;
    let mut path = vec!["scan".to_string()];
    for step in &steps {
        if step.by_pk {
            path.push(format!("pk lookup join {}", step.name));
        } else {
            estimate += src.count(&step.right.rows_tree, Bound::Unbounded, Bound::Unbounded)?;
            path.push(format!("hash join {}", step.name));
        }
    }
    if let Some(p) = &query.predicate {
        compile(p, &layout)?;
    }
    let output_columns = if query.aggregates_rows() {
        check_aggregates(&query.table, &layout, query)?
    } else if query.select.iter().any(|s| s == "*") {
        layout.names.clone()
    } else {
        query
            .select
            .iter()
            .map(|c| layout.resolve(c).map(|(i, _)| layout.names[i].clone()))
            .collect::<Result<_, _>>()?
    };
    // Withheld (0) under a read policy: table counts include hidden rows.
    if !gate.policies.is_empty() {
        estimate = 0;
    }
    Ok(QueryPlan {
        output_columns,
        index_used: None,
        access_path: path.join(", "),
        estimated_scan_rows: estimate,
        has_residual_filter: query.predicate.is_some(),
        streams_in_order: false,
        snapshot_seq: src.seq(),
    })
}
