//! The outbox tree: appending events inside a write transaction, pruning
//! past the retention, and reading pages on a snapshot.

use std::ops::Bound;

use crate::error::AedbError;
use crate::event::{EventOutboxRecord, EventStreamPage};
use crate::storage::{ReadTransaction, StorageError, WriteTransaction};

/// commit seq (u64 BE) ‖ position in the commit (u32 BE) → MessagePack
/// `EventOutboxRecord`.
pub(crate) const EVENTS_TREE: &str = "_events";
/// One key (empty) → the seq after which the outbox is complete (u64 BE):
/// events of commits up to it may have been pruned.
pub(crate) const EVENTS_FLOOR_TREE: &str = "_events_floor";

/// Most events one commit prunes (the rest go with later commits).
const PRUNE_PER_COMMIT: usize = 256;

/// Longest topic and event key, in bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 1024;

fn event_key(seq: u64, n: u32) -> Vec<u8> {
    let mut k = seq.to_be_bytes().to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

fn seq_of(k: &[u8]) -> Result<u64, AedbError> {
    k.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| AedbError::IntegrityError {
            message: format!("{EVENTS_TREE} key {k:02x?} is not seq ++ position"),
        })
}

fn decode(k: &[u8], v: &[u8]) -> Result<EventOutboxRecord, AedbError> {
    rmp_serde::from_slice(v).map_err(|e| AedbError::IntegrityError {
        message: format!("event {k:02x?} in {EVENTS_TREE}: {e}"),
    })
}

/// Checks an event before it is written: names bounded, payload JSON.
pub(crate) fn check(topic: &str, event_key: &str, payload_json: &str) -> Result<(), AedbError> {
    if topic.is_empty()
        || topic.len() > MAX_EVENT_NAME_BYTES
        || event_key.len() > MAX_EVENT_NAME_BYTES
    {
        return Err(AedbError::Validation(format!(
            "an event's topic is 1..={MAX_EVENT_NAME_BYTES} bytes and its key at most as long (topic {} bytes, key {} bytes)",
            topic.len(),
            event_key.len()
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(payload_json).map_err(|e| {
        AedbError::Validation(format!(
            "event {topic}/{event_key}: payload_json is not JSON: {e}"
        ))
    })?;
    Ok(())
}

/// Appends `event` as the `n`th event of this transaction's commit.
pub(crate) fn append(
    txn: &mut WriteTransaction<'_>,
    n: u32,
    event: &EventOutboxRecord,
) -> Result<(), AedbError> {
    let bytes =
        rmp_serde::to_vec(event).map_err(|e| AedbError::Encode(format!("event record: {e}")))?;
    txn.open_tree(EVENTS_TREE)?
        .insert(&event_key(event.commit_seq, n), &bytes)?;
    Ok(())
}

/// Deletes the oldest events of commits at or before `cutoff_seq`, or older
/// than `cutoff_micros`, a bounded number, and raises the floor past them.
pub(crate) fn prune(
    txn: &mut WriteTransaction<'_>,
    cutoff_seq: u64,
    cutoff_micros: u64,
) -> Result<(), AedbError> {
    let mut tree = txn.open_tree(EVENTS_TREE)?;
    let oldest = tree.entries(Bound::Unbounded, Bound::Unbounded, PRUNE_PER_COMMIT)?;
    let mut gone = None;
    for (k, v) in oldest {
        let seq = seq_of(&k)?;
        let old = seq <= cutoff_seq || decode(&k, &v)?.ts_micros < cutoff_micros;
        if !old {
            break;
        }
        tree.remove(&k)?;
        gone = Some(seq);
    }
    if let Some(seq) = gone {
        let mut floor = txn.open_tree(EVENTS_FLOOR_TREE)?;
        let now = match floor.get(b"")? {
            Some(b) => decode_floor(&b)?,
            None => 0,
        };
        // Events of `seq` may remain (a bounded prune): the outbox is
        // complete only for the commits after it.
        floor.insert(b"", &now.max(seq).to_be_bytes())?;
    }
    Ok(())
}

fn decode_floor(b: &[u8]) -> Result<u64, AedbError> {
    let b: [u8; 8] = b.try_into().map_err(|_| AedbError::IntegrityError {
        message: format!("{EVENTS_FLOOR_TREE}: {} bytes, not a u64", b.len()),
    })?;
    Ok(u64::from_be_bytes(b))
}

/// Events of commits after `after` on `txn` that pass `keep`: whole commits,
/// up to `limit` events (a commit with more is returned whole), scanning at
/// most `max_scan` events. Past the retention: `EventsExpired`.
pub(crate) fn read_page(
    txn: &ReadTransaction,
    after: u64,
    limit: usize,
    max_scan: usize,
    keep: &mut dyn FnMut(&EventOutboxRecord) -> Result<bool, AedbError>,
) -> Result<EventStreamPage, AedbError> {
    let floor = match txn.tree_handle(EVENTS_FLOOR_TREE) {
        Ok(h) => match txn.tree(h)?.get(b"")? {
            Some(b) => decode_floor(&b)?,
            None => 0,
        },
        Err(StorageError::TreeNotFound(_)) => 0,
        Err(e) => return Err(e.into()),
    };
    if after < floor {
        return Err(AedbError::EventsExpired {
            requested: after,
            oldest_after: floor,
        });
    }
    let mut page = EventStreamPage {
        events: Vec::new(),
        next_commit_seq: None,
        snapshot_seq: txn.seq(),
    };
    let h = match txn.tree_handle(EVENTS_TREE) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok(page),
        Err(e) => return Err(e.into()),
    };
    let lo = event_key(after.saturating_add(1), 0);
    let mut commit: Vec<EventOutboxRecord> = Vec::new();
    let mut commit_seq = None;
    for (scanned, item) in txn
        .tree(h)?
        .range(&(Bound::Included(&lo[..]), Bound::Unbounded))?
        .enumerate()
    {
        let (k, v) = item?;
        let seq = seq_of(&k)?;
        if commit_seq != Some(seq) {
            // A commit ends: take it whole, unless the page is full.
            if let Some(done) = commit_seq {
                if !page.events.is_empty() && page.events.len() + commit.len() > limit {
                    return Ok(page);
                }
                page.events.append(&mut commit);
                page.next_commit_seq = Some(done);
                if page.events.len() >= limit || scanned >= max_scan {
                    return Ok(page);
                }
            }
            commit_seq = Some(seq);
        }
        let e = decode(&k, &v)?;
        if keep(&e)? {
            commit.push(e);
        }
    }
    if let Some(done) = commit_seq
        && (page.events.is_empty() || page.events.len() + commit.len() <= limit)
    {
        page.events.append(&mut commit);
        page.next_commit_seq = Some(done);
    }
    Ok(page)
}
