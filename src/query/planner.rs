//! The access-path planner: from a table's primary key and indexes and a query's
//! conjuncts, pick a primary-key point or range, a unique-index point, an index
//! range, or a scan, and say whether rows come out in the requested order.
//!
//! The chosen path only narrows which rows are visited: the executor still
//! evaluates the whole predicate on every visited row, so a path can never
//! change a query's answer, only its cost.

use std::ops::Bound;
use std::sync::Arc;

use aedb_btree::prefix_successor;

use crate::catalog::{Catalog, ResourceType, TableInfo};
use crate::error::{AedbError, QueryError};
use crate::eval::conjuncts;
use crate::query::plan::Order;
use crate::table::key::encode_value;
use crate::vocab::expr::Expr;
use crate::vocab::types::Value;

/// How the rows are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccessKind {
    PkPoint,
    PkRange,
    /// Position in `TableInfo::record.indexes`.
    IndexPoint(usize),
    IndexRange(usize),
    Scan,
}

/// Bounds in the scanned tree (the rows tree, or the index tree).
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Most values of an `In` the planner turns into separate key ranges.
pub(crate) const MAX_IN_RANGES: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub kind: AccessKind,
    /// Disjoint ranges in ascending key order (one, except for an `In`).
    pub ranges: Vec<KeyRange>,
    pub rev: bool,
    /// Rows come out in the query's `order_by` order.
    pub streams_in_order: bool,
    /// Every conjunct is answered by the bounds (no residual filtering needed).
    pub exact: bool,
}

impl Access {
    pub(crate) fn index(&self) -> Option<usize> {
        match self.kind {
            AccessKind::IndexPoint(i) | AccessKind::IndexRange(i) => Some(i),
            _ => None,
        }
    }

    pub(crate) fn describe(&self, table: &TableInfo) -> (Option<String>, String) {
        match self.kind {
            AccessKind::PkPoint => (Some("PRIMARY".into()), "pk point".into()),
            AccessKind::PkRange if self.ranges.len() > 1 => (
                Some("PRIMARY".into()),
                format!("pk {} ranges", self.ranges.len()),
            ),
            AccessKind::PkRange => (Some("PRIMARY".into()), "pk range".into()),
            AccessKind::IndexPoint(i) | AccessKind::IndexRange(i) => {
                let name = table.record.indexes[i].def.index_name.clone();
                let what = match self.kind {
                    AccessKind::IndexPoint(_) => "point".to_string(),
                    _ if self.ranges.len() > 1 => format!("{} ranges", self.ranges.len()),
                    _ => "range".to_string(),
                };
                (Some(name.clone()), format!("index {name} {what}"))
            }
            AccessKind::Scan => (None, "scan".into()),
        }
    }
}

/// One candidate: bounds over a key made of `cols` (row positions).
struct Candidate {
    ranges: Vec<KeyRange>,
    /// Leading key columns fixed to one value each (an `In` column is not: rows
    /// come out ordered by it, but not by the columns after it).
    fixed: usize,
    eq: usize,
    ranged: bool,
    point: bool,
    used: usize,
}

fn encoded(v: &Value, marker: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    if marker {
        out.push(1);
    }
    encode_value(&mut out, v);
    out
}

/// Bounds for a key over `cols` from the conjuncts. `marker`: index keys carry a
/// presence byte per column.
fn candidate(table: &TableInfo, cols: &[usize], marker: bool, conj: &[&Expr]) -> Candidate {
    let name = |pos: usize| table.schema().columns[pos].name.as_str();
    let literal = |pos: usize, v: &Value| v.coerce_to(table.types[pos]).filter(|v| !v.is_null());
    let mut prefix = Vec::new();
    let mut eq = 0;
    let mut used = 0;
    for &pos in cols {
        let hit = conj.iter().find_map(|e| match e {
            Expr::Eq(c, v) if c == name(pos) => literal(pos, v),
            _ => None,
        });
        match hit {
            Some(v) => {
                prefix.extend_from_slice(&encoded(&v, marker));
                eq += 1;
                used += 1;
            }
            None => break,
        }
    }
    if eq == cols.len() {
        // Keys are self-delimiting: only keys extending the prefix with more
        // columns (a non-unique index's primary-key suffix) start with it.
        let hi = prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
        return Candidate {
            ranges: vec![(Bound::Included(prefix), hi)],
            fixed: eq,
            eq,
            ranged: false,
            point: true,
            used,
        };
    }
    let pos = cols[eq];
    // `c IN (..)` on the next column: one prefix range per value, in key order.
    let in_list = conj.iter().find_map(|e| match e {
        Expr::In(c, vs) if c == name(pos) && (1..=MAX_IN_RANGES).contains(&vs.len()) => Some(vs),
        _ => None,
    });
    if let Some(values) = in_list {
        let mut keys: Vec<Vec<u8>> = values
            .iter()
            .filter_map(|v| literal(pos, v))
            .map(|v| [prefix.as_slice(), &encoded(&v, marker)].concat())
            .collect();
        keys.sort();
        keys.dedup();
        let ranges = keys
            .into_iter()
            .map(|k| {
                let hi = prefix_successor(&k).map_or(Bound::Unbounded, Bound::Excluded);
                (Bound::Included(k), hi)
            })
            .collect();
        return Candidate {
            ranges,
            fixed: eq,
            eq: eq + 1,
            ranged: false,
            point: eq + 1 == cols.len(),
            used: used + 1,
        };
    }
    let mut lower: Option<(Vec<u8>, bool)> = None;
    let mut upper: Option<(Vec<u8>, bool)> = None;
    for e in conj {
        let (c, lo, hi) = match e {
            Expr::Gt(c, v) => (c, Some((v, false)), None),
            Expr::Gte(c, v) => (c, Some((v, true)), None),
            Expr::Lt(c, v) => (c, None, Some((v, false))),
            Expr::Lte(c, v) => (c, None, Some((v, true))),
            Expr::Between(c, a, b) => (c, Some((a, true)), Some((b, true))),
            _ => continue,
        };
        if c != name(pos) {
            continue;
        }
        let mut hit = false;
        if let (None, Some((v, inc))) = (&lower, lo)
            && let Some(v) = literal(pos, v)
        {
            lower = Some(([prefix.as_slice(), &encoded(&v, marker)].concat(), inc));
            hit = true;
        }
        if let (None, Some((v, inc))) = (&upper, hi)
            && let Some(v) = literal(pos, v)
        {
            upper = Some(([prefix.as_slice(), &encoded(&v, marker)].concat(), inc));
            hit = true;
        }
        used += usize::from(hit);
    }
    let ranged = lower.is_some() || upper.is_some();
    let prefix_end = || prefix_successor(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let lo = match lower {
        Some((k, true)) => Bound::Included(k),
        // After every key that starts with k (the later columns vary).
        Some((k, false)) => prefix_successor(&k).map_or(Bound::Excluded(k), Bound::Included),
        // NULLs (marker 0) fail every comparison: start at the first value.
        None if marker && upper.is_some() => Bound::Included([prefix.as_slice(), &[1]].concat()),
        None if prefix.is_empty() => Bound::Unbounded,
        None => Bound::Included(prefix.clone()),
    };
    let hi = match upper {
        Some((k, false)) => Bound::Excluded(k),
        Some((k, true)) => prefix_successor(&k).map_or_else(prefix_end, Bound::Excluded),
        None => prefix_end(),
    };
    Candidate {
        ranges: vec![(lo, hi)],
        fixed: eq,
        eq,
        ranged,
        point: false,
        used,
    }
}

/// Whether rows ordered by `key_cols` (then the primary key) come out in
/// `order` order, given the first `eq` key columns are fixed; and if so, reversed.
/// With `whole`, the order must reach the last key column, so ties come out by
/// primary key (as a sorted result breaks them, see `exec::finish_buffered`):
/// an index on (a, b) serves `order by a, b` but not `order by a`.
fn order_fits(
    key_cols: &[usize],
    eq: usize,
    order: &[(usize, Order)],
    whole: bool,
) -> Option<bool> {
    if order.is_empty() {
        return Some(false);
    }
    let dir = order[0].1;
    if order.iter().any(|(_, o)| *o != dir) {
        return None;
    }
    let wanted: Vec<usize> = order.iter().map(|(p, _)| *p).collect();
    let fits = |from: usize| {
        let end = from + wanted.len();
        key_cols.len() >= end
            && key_cols[from..end] == wanted[..]
            && (!whole || end == key_cols.len())
    };
    (fits(0) || fits(eq)).then_some(dir == Order::Desc)
}

/// Plans the access path. `order` holds row positions; `use_index` names a
/// preferred index; `bounded` says whether a limit caps the output (then an index
/// that yields the order is worth its row lookups even without a predicate).
pub(crate) fn plan(
    table: &TableInfo,
    predicate: Option<&Expr>,
    order: &[(usize, Order)],
    use_index: Option<&str>,
    bounded: bool,
) -> Result<Access, QueryError> {
    let conj: Vec<&Expr> = predicate.map(conjuncts).unwrap_or_default();
    let total_conjuncts = conj.len();
    let pk = candidate(table, &table.pk, false, &conj);
    let mut best: (i64, AccessKind, Candidate) = {
        let single = pk.point && pk.ranges.len() == 1;
        let score = if single {
            1_000
        } else {
            (pk.eq as i64) * 10 + i64::from(pk.ranged) * 5 + 1
        };
        let kind = if single {
            AccessKind::PkPoint
        } else {
            AccessKind::PkRange
        };
        (if pk.eq > 0 || pk.ranged { score } else { 0 }, kind, pk)
    };
    // A single primary-key point outscores every index (a unique index
    // point scores 900) unless the caller names one: no index is weighed.
    let weighed = if best.1 == AccessKind::PkPoint && use_index.is_none() {
        &[][..]
    } else {
        &table.record.indexes[..]
    };
    if let Some(wanted) = use_index
        && !table
            .record
            .indexes
            .iter()
            .any(|ix| ix.def.index_name == wanted)
    {
        return Err(QueryError::invalid(format!(
            "index '{wanted}' does not exist on table '{}'",
            table.name()
        )));
    }
    for (i, ix) in weighed.iter().enumerate() {
        if let Some(filter) = &ix.def.partial_filter
            && !conj.contains(&filter)
        {
            continue;
        }
        let cols = &table.index_columns[i];
        let c = candidate(table, cols, true, &conj);
        if c.eq == 0 && !c.ranged {
            continue;
        }
        let unique = ix.def.index_type.is_unique() && c.ranges.len() == 1;
        let mut score = if c.point && unique {
            900
        } else {
            (c.eq as i64) * 10 + i64::from(c.ranged) * 5
        };
        if use_index == Some(ix.def.index_name.as_str()) {
            score += 10_000;
        }
        if score > best.0 {
            let kind = if c.point && unique {
                AccessKind::IndexPoint(i)
            } else {
                AccessKind::IndexRange(i)
            };
            best = (score, kind, c);
        }
    }
    let (score, mut kind, cand) = best;
    if score == 0 {
        kind = AccessKind::Scan;
    }
    let (key_cols, eq): (&[usize], usize) = match kind {
        AccessKind::IndexPoint(i) | AccessKind::IndexRange(i) => {
            (&table.index_columns[i], cand.fixed)
        }
        _ => (&table.pk, cand.fixed),
    };
    let exact =
        cand.used == total_conjuncts && matches!(kind, AccessKind::PkPoint | AccessKind::PkRange);
    let fits = order_fits(
        key_cols,
        eq,
        order,
        !matches!(
            kind,
            AccessKind::PkPoint | AccessKind::PkRange | AccessKind::Scan
        ),
    );
    if kind == AccessKind::Scan {
        if fits.is_none() && bounded {
            // A full walk of an index that yields the order beats sorting everything.
            for (i, ix) in table.record.indexes.iter().enumerate() {
                if ix.def.partial_filter.is_some() {
                    continue;
                }
                if let Some(rev) = order_fits(&table.index_columns[i], 0, order, true) {
                    return Ok(Access {
                        kind: AccessKind::IndexRange(i),
                        ranges: vec![(Bound::Unbounded, Bound::Unbounded)],
                        rev,
                        streams_in_order: true,
                        exact: false,
                    });
                }
            }
        }
        return Ok(Access {
            kind,
            ranges: vec![(Bound::Unbounded, Bound::Unbounded)],
            rev: fits.unwrap_or(false),
            streams_in_order: fits.is_some(),
            exact: conj.is_empty(),
        });
    }
    Ok(Access {
        kind,
        ranges: cand.ranges,
        rev: fits.unwrap_or(false),
        streams_in_order: fits.is_some(),
        exact,
    })
}

/// The query's table in the catalog; a missing one is `TableNotFound`.
pub(crate) fn resolve_table<'c>(
    catalog: &'c Catalog,
    project: &str,
    scope: &str,
    table: &str,
) -> Result<&'c Arc<TableInfo>, QueryError> {
    catalog.table(project, scope, table).map_err(|e| match e {
        AedbError::NotFound {
            resource_type: ResourceType::Table,
            ..
        } => QueryError::TableNotFound {
            project_id: project.to_string(),
            table: table.to_string(),
        },
        other => QueryError::Engine(other),
    })
}
