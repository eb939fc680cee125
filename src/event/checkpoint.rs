//! Processor checkpoints: processor name → the commit seq up to which it has
//! handled the event stream (u64 BE), in tree `_processor_checkpoints`.
//! Written like any data (inside a commit), so a checkpoint and the state a
//! processor derived can be committed together.

use crate::error::AedbError;
use crate::storage::{ReadTransaction, StorageError, WriteTransaction};

pub(crate) const CHECKPOINTS_TREE: &str = "_processor_checkpoints";

/// Longest processor name, in bytes.
pub const MAX_PROCESSOR_NAME_BYTES: usize = 256;

fn decode(name: &str, b: &[u8]) -> Result<u64, AedbError> {
    let b: [u8; 8] = b.try_into().map_err(|_| AedbError::IntegrityError {
        message: format!(
            "{CHECKPOINTS_TREE}: the checkpoint of {name:?} is {} bytes, not a u64",
            b.len()
        ),
    })?;
    Ok(u64::from_be_bytes(b))
}

pub(crate) fn check_name(name: &str) -> Result<(), AedbError> {
    if name.is_empty() || name.len() > MAX_PROCESSOR_NAME_BYTES {
        return Err(AedbError::Validation(format!(
            "a processor name is 1..={MAX_PROCESSOR_NAME_BYTES} bytes, not {}",
            name.len()
        )));
    }
    Ok(())
}

/// The checkpoint of `name` on a snapshot (0: none yet).
pub(crate) fn read(txn: &ReadTransaction, name: &str) -> Result<u64, AedbError> {
    let h = match txn.tree_handle(CHECKPOINTS_TREE) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    match txn.tree(h)?.get(name.as_bytes())? {
        Some(b) => decode(name, &b),
        None => Ok(0),
    }
}

/// Moves the checkpoint of `name` to `seq` inside a write transaction:
/// forward only (an older seq leaves it, and says so: false); never past
/// `head`, the last commit before this one.
pub(crate) fn advance(
    txn: &mut WriteTransaction<'_>,
    name: &str,
    seq: u64,
    head: u64,
) -> Result<bool, AedbError> {
    check_name(name)?;
    if seq > head {
        return Err(AedbError::Validation(format!(
            "processor {name:?}: checkpoint {seq} is past the latest commit {head}"
        )));
    }
    let mut tree = txn.open_tree(CHECKPOINTS_TREE)?;
    let now = match tree.get(name.as_bytes())? {
        Some(b) => decode(name, &b)?,
        None => 0,
    };
    if seq <= now && tree.get(name.as_bytes())?.is_some() {
        return Ok(false);
    }
    tree.insert(name.as_bytes(), &seq.to_be_bytes())?;
    Ok(true)
}
