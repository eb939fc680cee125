//! Idempotency as data: the record of an idempotent commit is written in the
//! same transaction as its effects, in the system tree `_idempotency` (key →
//! record), with `_idempotency_by_seq` (seq ++ key) ordering the records
//! oldest first so expired ones are pruned from the front. A retry after a
//! crash, a restart or a restore therefore finds the record exactly when it
//! finds the effects (FORMAT "Idempotency records").

use std::ops::Bound;

use crate::commit::context::WriteCtx;
use crate::commit::tx::{IdempotencyKey, IdempotencyRecord};
use crate::error::AedbError;

pub(crate) const RECORDS_TREE: &str = "_idempotency";
pub(crate) const BY_SEQ_TREE: &str = "_idempotency_by_seq";

/// Expired records one idempotent commit removes at most (bounded work per
/// commit; every idempotent commit prunes, so the trees stay near the window).
const PRUNE_PER_COMMIT: usize = 8;

/// How long a record is remembered (`AedbConfig`'s two windows; 0: that
/// window does not apply).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) commits: u64,
    pub(crate) micros: u64,
}

impl Window {
    /// Whether a record is forgotten by the commit `seq` made at `now`:
    /// `commits` commits followed it, or `micros` passed since it.
    fn expired(self, r: &IdempotencyRecord, seq: u64, now: u64) -> bool {
        let followed = seq.saturating_sub(r.commit_seq + 1);
        (self.commits > 0 && followed >= self.commits)
            || (self.micros > 0 && now.saturating_sub(r.recorded_at_micros) >= self.micros)
    }
}

fn encode(r: &IdempotencyRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(49);
    out.extend_from_slice(&r.commit_seq.to_be_bytes());
    out.extend_from_slice(&r.recorded_at_micros.to_be_bytes());
    match r.request_fingerprint {
        Some(f) => {
            out.push(1);
            out.extend_from_slice(&f);
        }
        None => out.push(0),
    }
    out
}

fn decode(key: &IdempotencyKey, b: &[u8]) -> Result<IdempotencyRecord, AedbError> {
    let damaged = || AedbError::IntegrityError {
        message: format!(
            "idempotency record of key {:02x?} in {RECORDS_TREE}: {} bytes, not 17 or 49",
            key.0,
            b.len()
        ),
    };
    let word = |i: usize| -> Result<u64, AedbError> {
        Ok(u64::from_be_bytes(
            b.get(i..i + 8)
                .ok_or_else(damaged)?
                .try_into()
                .map_err(|_| damaged())?,
        ))
    };
    let request_fingerprint = match (b.get(16), b.len()) {
        (Some(0), 17) => None,
        (Some(1), 49) => Some(b[17..49].try_into().map_err(|_| damaged())?),
        _ => return Err(damaged()),
    };
    Ok(IdempotencyRecord {
        commit_seq: word(0)?,
        recorded_at_micros: word(8)?,
        request_fingerprint,
    })
}

fn by_seq_key(seq: u64, key: &IdempotencyKey) -> Vec<u8> {
    let mut k = seq.to_be_bytes().to_vec();
    k.extend_from_slice(&key.0);
    k
}

impl WriteCtx<'_, '_> {
    /// The live record of `key`, if this request was committed before within
    /// the window; the same key with another request is a `Validation` error.
    pub(crate) fn idempotent_replay(
        &mut self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        window: Window,
        now_micros: u64,
    ) -> Result<Option<IdempotencyRecord>, AedbError> {
        let seq = self.cat.txn.seq();
        let Some(mut tree) = self.cat.txn.existing_tree(RECORDS_TREE)? else {
            return Ok(None);
        };
        let Some(bytes) = tree.get(&key.0)? else {
            return Ok(None);
        };
        let record = decode(key, &bytes)?;
        if window.expired(&record, seq, now_micros) {
            return Ok(None);
        }
        if record.request_fingerprint != Some(fingerprint) {
            return Err(AedbError::Validation(format!(
                "idempotency key {:02x?} was used by commit {} for a different request",
                key.0, record.commit_seq
            )));
        }
        Ok(Some(record))
    }

    /// Records `key` as committed by this transaction, and prunes the oldest
    /// expired records.
    pub(crate) fn remember(
        &mut self,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        window: Window,
        now_micros: u64,
    ) -> Result<(), AedbError> {
        let seq = self.cat.txn.seq();
        let record = IdempotencyRecord {
            commit_seq: seq,
            recorded_at_micros: now_micros,
            request_fingerprint: Some(fingerprint),
        };
        let old = self
            .cat
            .txn
            .open_tree(RECORDS_TREE)?
            .insert(&key.0, &encode(&record))?;
        let mut by_seq = self.cat.txn.open_tree(BY_SEQ_TREE)?;
        if let Some(old) = old {
            // An expired record of the same key is replaced, not kept twice.
            by_seq.remove(&by_seq_key(decode(key, &old)?.commit_seq, key))?;
        }
        by_seq.insert(&by_seq_key(seq, key), &[])?;
        self.prune(window, seq, now_micros)
    }

    fn prune(&mut self, window: Window, seq: u64, now: u64) -> Result<(), AedbError> {
        let oldest = self.cat.txn.open_tree(BY_SEQ_TREE)?.entries(
            Bound::Unbounded,
            Bound::Unbounded,
            PRUNE_PER_COMMIT,
        )?;
        for (k, _) in oldest {
            let key = IdempotencyKey(k[8..].try_into().map_err(|_| AedbError::IntegrityError {
                message: format!("{BY_SEQ_TREE} key {k:02x?} is not seq ++ 16-byte key"),
            })?);
            let mut records = self.cat.txn.open_tree(RECORDS_TREE)?;
            // A by-seq entry without its record is removed too (the record's
            // replacement removes its own entry, so this is only damage).
            if let Some(b) = records.get(&key.0)? {
                if !window.expired(&decode(&key, &b)?, seq, now) {
                    break;
                }
                records.remove(&key.0)?;
            }
            self.cat.txn.open_tree(BY_SEQ_TREE)?.remove(&k)?;
        }
        Ok(())
    }
}
