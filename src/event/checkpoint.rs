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

/// What a checkpoint move requires of the stored checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointRule {
    /// An acknowledgement: forward only; a seq at or behind the stored one
    /// changes nothing.
    Ack,
    /// The commit applies state derived from the events through `seq`: the
    /// stored checkpoint must be below it, else those events were applied by
    /// an earlier commit (`Conflict`).
    Below,
    /// The commit applies state derived from the events after `from`: the
    /// stored checkpoint must still be `from`, else another run moved it since
    /// the events were read (`Conflict`).
    From(u64),
}

/// Moves the checkpoint of `name` to `seq` inside a write transaction, as
/// `rule` allows: never backward (false: it did not move), never past
/// `head`, the last commit before this one.
pub(crate) fn advance(
    txn: &mut WriteTransaction<'_>,
    name: &str,
    seq: u64,
    head: u64,
    rule: CheckpointRule,
) -> Result<bool, AedbError> {
    check_name(name)?;
    if seq > head {
        return Err(AedbError::Validation(format!(
            "processor {name:?}: checkpoint {seq} is past the latest commit {head}"
        )));
    }
    let mut tree = txn.open_tree(CHECKPOINTS_TREE)?;
    let stored = match tree.get(name.as_bytes())? {
        Some(b) => Some(decode(name, &b)?),
        None => None,
    };
    let now = stored.unwrap_or(0);
    match rule {
        CheckpointRule::Ack => {}
        CheckpointRule::Below if seq <= now => {
            return Err(AedbError::Conflict(format!(
                "processor {name:?}: its checkpoint is already at {now}, so the events through {seq} were applied by an earlier commit"
            )));
        }
        CheckpointRule::Below => {}
        CheckpointRule::From(from) if now != from => {
            return Err(AedbError::Conflict(format!(
                "processor {name:?}: its checkpoint moved from {from} to {now} since the events were read"
            )));
        }
        CheckpointRule::From(from) if seq < from => {
            return Err(AedbError::Validation(format!(
                "processor {name:?}: checkpoint {seq} is behind {from}, where its events were read from"
            )));
        }
        CheckpointRule::From(_) => {}
    }
    if seq <= now && stored.is_some() {
        return Ok(false);
    }
    tree.insert(name.as_bytes(), &seq.to_be_bytes())?;
    Ok(true)
}
