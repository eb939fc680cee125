//! Gets and scans of a scope's KV space on a read snapshot.
//!
//! A scan returns at most one page (`limit`, itself at most `max_scan_rows`)
//! and, when more keys follow, a `KvCursor`: the snapshot's seq and the last
//! key returned. The next page reads the same snapshot after that key, so a
//! paged scan sees one state, never a key twice and never skips one, however
//! the space changes between pages; a cursor older than the snapshots the
//! engine retains fails with `SnapshotExpired`.

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::error::QueryError;
use crate::kv::entry::KvEntry;
use crate::storage::{ReadTransaction, TreeHandle};

/// Where a paged scan stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvCursor {
    /// The snapshot the scan reads; the next page reads it too.
    pub snapshot_seq: u64,
    /// The last key returned; the next page starts after it.
    pub last_key: Vec<u8>,
    /// The page size the scan was asked for.
    pub page_size: u64,
}

/// One page of a KV scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvScanResult {
    /// Keys and their entries, in key order.
    pub entries: Vec<(Vec<u8>, KvEntry)>,
    /// `Some` when more keys follow: pass it to get the next page.
    pub cursor: Option<KvCursor>,
    /// The snapshot the page was read at.
    pub snapshot_seq: u64,
    /// More keys follow this page.
    pub truncated: bool,
}

/// An entry of `kv_scan_all_scopes`, with the scope it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedKvEntry {
    /// The scope whose KV space holds the key.
    pub scope_id: String,
    /// The key (it starts with the requested prefix).
    pub key: Vec<u8>,
    /// The stored bytes.
    pub value: Vec<u8>,
    /// Seq of the commit that last wrote the key.
    pub version: u64,
}

/// Entries in key order, and whether more follow them.
pub(crate) type Page = (Vec<(Vec<u8>, KvEntry)>, bool);

/// The entry under `key` in the space (`None` for a space never written).
pub(crate) fn get(
    txn: &ReadTransaction,
    space: Option<(TreeHandle, &str)>,
    key: &[u8],
) -> Result<Option<KvEntry>, QueryError> {
    let Some((h, name)) = space else {
        return Ok(None);
    };
    match txn.tree(h)?.get(key)? {
        Some(bytes) => Ok(Some(KvEntry::decode(name, key, &bytes)?)),
        None => Ok(None),
    }
}

/// Up to `limit` entries in `(lo, hi)`, and whether more follow.
pub(crate) fn scan(
    txn: &ReadTransaction,
    space: Option<(TreeHandle, &str)>,
    lo: Bound<&[u8]>,
    hi: Bound<&[u8]>,
    limit: usize,
) -> Result<Page, QueryError> {
    let Some((h, name)) = space else {
        return Ok((Vec::new(), false));
    };
    let mut out = Vec::new();
    for item in txn.tree(h)?.range(&(lo, hi))? {
        let (k, v) = item?;
        if out.len() == limit {
            return Ok((out, true));
        }
        let entry = KvEntry::decode(name, &k, &v)?;
        out.push((k.into_owned(), entry));
    }
    Ok((out, false))
}

/// `lo` moved past a cursor's last key, when that is further on.
pub(crate) fn resume<'a>(lo: Bound<&'a [u8]>, cursor: Option<&'a KvCursor>) -> Bound<&'a [u8]> {
    let Some(c) = cursor else {
        return lo;
    };
    let after = Bound::Excluded(&c.last_key[..]);
    match lo {
        Bound::Unbounded => after,
        Bound::Included(k) | Bound::Excluded(k) if k > &c.last_key[..] => lo,
        Bound::Excluded(k) if k == &c.last_key[..] => lo,
        _ => after,
    }
}

/// The longest prefix every key in `[lo, hi]` shares (what a range scan must
/// be allowed to read): both bounds' common prefix; nothing if either is open.
pub(crate) fn range_prefix<'a>(lo: Bound<&'a [u8]>, hi: Bound<&[u8]>) -> &'a [u8] {
    match (lo, hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            let n = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            &a[..n]
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;

    use super::{KvCursor, range_prefix, resume};

    #[test]
    fn cursors_move_the_start_forward_only() {
        let c = KvCursor {
            snapshot_seq: 1,
            last_key: b"b".to_vec(),
            page_size: 1,
        };
        assert_eq!(
            resume(Bound::Unbounded, Some(&c)),
            Bound::Excluded(&b"b"[..])
        );
        assert_eq!(
            resume(Bound::Included(b"a"), Some(&c)),
            Bound::Excluded(&b"b"[..])
        );
        assert_eq!(
            resume(Bound::Included(b"c"), Some(&c)),
            Bound::Included(&b"c"[..])
        );
        assert_eq!(
            resume(Bound::Included(b"b"), Some(&c)),
            Bound::Excluded(&b"b"[..])
        );
    }

    #[test]
    fn a_range_is_as_narrow_as_its_bounds_common_prefix() {
        assert_eq!(
            range_prefix(Bound::Included(b"ab1"), Bound::Excluded(b"ab9")),
            b"ab"
        );
        assert_eq!(range_prefix(Bound::Unbounded, Bound::Excluded(b"ab9")), b"");
    }
}
