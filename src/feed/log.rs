//! The change log's trees and records (FORMAT "Change feed").

use crate::error::AedbError;
use crate::feed::CommittedChange;
use crate::storage::{ReadTransaction, StorageError};

/// seq (u64 BE) ++ position in the commit (u32 BE) → a MessagePack
/// `CommittedChange`.
pub(crate) const CHANGES_TREE: &str = "_changes";
/// One key (empty) → the lowest seq (u64 BE) from which the log is complete.
pub(crate) const FLOOR_TREE: &str = "_changes_floor";

pub(crate) fn record_key(seq: u64, n: u32) -> Vec<u8> {
    let mut k = seq.to_be_bytes().to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

pub(crate) fn encode(c: &CommittedChange) -> Result<Vec<u8>, AedbError> {
    rmp_serde::to_vec(c).map_err(|e| AedbError::Encode(format!("change record: {e}")))
}

fn decode(key: &[u8], bytes: &[u8]) -> Result<CommittedChange, AedbError> {
    rmp_serde::from_slice(bytes).map_err(|e| AedbError::IntegrityError {
        message: format!("change record {key:02x?} in {CHANGES_TREE}: {e}"),
    })
}

pub(crate) fn decode_floor(bytes: &[u8]) -> Result<u64, AedbError> {
    let b: [u8; 8] = bytes.try_into().map_err(|_| AedbError::IntegrityError {
        message: format!("{FLOOR_TREE}: {} bytes, not a u64", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(b))
}

/// The lowest seq from which the log on `txn` is complete (`None`: the log
/// was never written).
pub(crate) fn floor(txn: &ReadTransaction) -> Result<Option<u64>, AedbError> {
    let h = match txn.tree_handle(FLOOR_TREE) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match txn.tree(h)?.get(b"")? {
        Some(b) => decode_floor(&b).map(Some),
        None => Ok(None),
    }
}

/// The changes of commits after `after` up to `upto` on `txn`, at most `max`
/// of them (whole commits only, unless one commit alone has more): the
/// changes and the last seq they cover.
pub(crate) fn read_after(
    txn: &ReadTransaction,
    after: u64,
    upto: u64,
    max: usize,
) -> Result<(Vec<CommittedChange>, u64), AedbError> {
    let h = match txn.tree_handle(CHANGES_TREE) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok((Vec::new(), upto)),
        Err(e) => return Err(e.into()),
    };
    let lo = record_key(after.saturating_add(1), 0);
    let hi = record_key(upto, u32::MAX);
    let mut out: Vec<CommittedChange> = Vec::new();
    for item in txn.tree(h)?.range(&(
        std::ops::Bound::Included(&lo[..]),
        std::ops::Bound::Included(&hi[..]),
    ))? {
        let (k, v) = item?;
        let c = decode(&k, &v)?;
        if out.len() >= max && out.last().is_some_and(|l| l.seq != c.seq) {
            // Stop between commits: everything before `c.seq` is delivered.
            return Ok((out, c.seq - 1));
        }
        out.push(c);
    }
    Ok((out, upto))
}
