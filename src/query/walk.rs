//! Walking an access path: `visit_rows` yields the rows the planner's path
//! reaches, in path order, from after a cursor's key, through a `Source` (a
//! snapshot or the write transaction alike).
//!
//! Invariants:
//! 1. Ranges are disjoint and ascending (planner); a resumed walk skips the
//!    ranges the cursor passed and narrows only the one it stopped in.
//! 2. Index paths read entries in batches, then fetch rows: a write transaction
//!    cannot hold two trees at once. An entry whose row is missing is
//!    `IntegrityError`.
//! 3. Nothing here filters: the caller evaluates the full predicate on every
//!    row (facade invariant 4, "a plan only narrows").

use std::ops::Bound;

use crate::catalog::{TableInfo, index_tree};
use crate::error::AedbError;
use crate::query::planner::{Access, AccessKind, KeyRange};
use crate::query::source::Source;
use crate::table::{decode, pk_of_index_entry};
use crate::vocab::types::Value;

/// Visitor of rows: (access-path key, row) → continue?
pub(crate) type RowVisit<'f> = dyn FnMut(&[u8], Vec<Value>) -> Result<bool, AedbError> + 'f;

/// Whether every key of `r` is at or before `k` (forward), or at or after it (`rev`).
fn range_done(r: &KeyRange, k: &[u8], rev: bool) -> bool {
    if rev {
        match &r.0 {
            Bound::Included(l) | Bound::Excluded(l) => l.as_slice() >= k,
            Bound::Unbounded => false,
        }
    } else {
        match &r.1 {
            Bound::Included(h) | Bound::Excluded(h) => h.as_slice() <= k,
            Bound::Unbounded => false,
        }
    }
}

/// Whether a range with lower bound `lo` may hold keys at or below `k`.
fn range_holds_below(lo: &Bound<Vec<u8>>, k: &[u8]) -> bool {
    match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => l.as_slice() <= k,
        Bound::Excluded(l) => l.as_slice() < k,
    }
}

/// Whether a range with upper bound `hi` may hold keys at or above `k`.
fn range_holds_above(hi: &Bound<Vec<u8>>, k: &[u8]) -> bool {
    match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => h.as_slice() >= k,
        Bound::Excluded(h) => h.as_slice() > k,
    }
}

/// Visits the rows on `access` in order, from after `resume`: `visit(access key,
/// row)` returns false to stop.
pub(crate) fn visit_rows(
    src: &mut dyn Source,
    t: &TableInfo,
    access: &Access,
    resume: Option<&[u8]>,
    visit: &mut RowVisit<'_>,
) -> Result<(), AedbError> {
    let rows = &t.rows_tree;
    if access.kind == AccessKind::PkPoint
        && resume.is_none()
        && let [(Bound::Included(key), _)] = access.ranges.as_slice()
    {
        // One key: a get is cheaper than setting up a range.
        let row = src.get_with(rows, key, &mut |v| decode(t, key, v))?;
        if let Some(row) = row {
            visit(key, row)?;
        }
        return Ok(());
    }
    let ordered: Box<dyn Iterator<Item = &KeyRange>> = if access.rev {
        Box::new(access.ranges.iter().rev())
    } else {
        Box::new(access.ranges.iter())
    };
    for range in ordered {
        let (mut lo, mut hi) = range.clone();
        if let Some(k) = resume {
            // Ranges are disjoint and ascending: skip the ones the cursor passed,
            // and start the one it stopped in after its key.
            if range_done(range, k, access.rev) {
                continue;
            }
            // Only the range the cursor stopped in is narrowed; later ranges lie
            // wholly past the key and keep their bounds.
            if access.rev {
                if range_holds_above(&range.1, k) {
                    hi = Bound::Excluded(k.to_vec());
                }
            } else if range_holds_below(&range.0, k) {
                lo = Bound::Excluded(k.to_vec());
            }
        }
        if !visit_range(src, t, access, lo, hi, visit)? {
            return Ok(());
        }
    }
    Ok(())
}

/// One range of `visit_rows`; false once `visit` asked to stop.
fn visit_range(
    src: &mut dyn Source,
    t: &TableInfo,
    access: &Access,
    mut lo: Bound<Vec<u8>>,
    mut hi: Bound<Vec<u8>>,
    visit: &mut RowVisit<'_>,
) -> Result<bool, AedbError> {
    let rows = &t.rows_tree;
    let Some(i) = access.index() else {
        let mut go_on = true;
        src.scan(
            rows,
            lo.as_ref().map(Vec::as_slice),
            hi.as_ref().map(Vec::as_slice),
            access.rev,
            &mut |k, v| {
                let row = decode(t, k, v)?;
                go_on = visit(k, row)?;
                Ok(go_on)
            },
        )?;
        return Ok(go_on);
    };
    // Index paths read entries in batches, then fetch the rows: a write
    // transaction cannot hold two trees at once. Batches start small and
    // double, so a query that stops early reads few entries it does not use.
    let mut batch_len = 32;
    let tree = index_tree(t.record.indexes[i].id);
    loop {
        let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(batch_len);
        src.scan(
            &tree,
            lo.as_ref().map(Vec::as_slice),
            hi.as_ref().map(Vec::as_slice),
            access.rev,
            &mut |k, v| {
                batch.push((k.to_vec(), pk_of_index_entry(t, i, k, v)?));
                Ok(batch.len() < batch_len)
            },
        )?;
        let full = batch.len() == batch_len;
        batch_len = (batch_len * 2).min(1024);
        for (ikey, pk) in &batch {
            let row = src
                .get_with(rows, pk, &mut |v| decode(t, pk, v))?
                .ok_or_else(|| AedbError::IntegrityError {
                    message: format!(
                        "index '{}' of table '{}' points at a missing row {pk:02x?}",
                        t.record.indexes[i].def.index_name,
                        t.name()
                    ),
                })?;
            if !visit(ikey, row)? {
                return Ok(false);
            }
        }
        match batch.last() {
            Some((last, _)) if full => {
                if access.rev {
                    hi = Bound::Excluded(last.clone());
                } else {
                    lo = Bound::Excluded(last.clone());
                }
            }
            _ => return Ok(true),
        }
    }
}

/// Entries the access path covers, counted from the trees' subtree counts.
pub(crate) fn estimate_rows(
    src: &mut dyn Source,
    t: &TableInfo,
    access: &Access,
) -> Result<u64, AedbError> {
    let tree = match access.index() {
        Some(i) => index_tree(t.record.indexes[i].id),
        None => t.rows_tree.clone(),
    };
    let mut total = 0u64;
    for (lo, hi) in &access.ranges {
        total = total.saturating_add(src.count(
            &tree,
            lo.as_ref().map(Vec::as_slice),
            hi.as_ref().map(Vec::as_slice),
        )?);
    }
    Ok(total)
}
