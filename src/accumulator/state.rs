//! The records of an accumulator's tree `a<id>` (FORMAT "Accumulators"):
//!
//! | key | value |
//! | --- | --- |
//! | `s` | `State` (MessagePack) |
//! | `d` ++ order key (u64 BE) | `Delta`: a delta not yet projected |
//! | `k` ++ dedupe key | `Dedupe`: the delta a dedupe key named |
//! | `q` ++ seq (u64 BE) ++ dedupe key | (empty) dedupe keys by commit, oldest first |
//! | `e` ++ exposure id | `Exposure`: an open reservation |
//! | `x` ++ seq (u64 BE) ++ exposure id | (empty) open exposures by commit, oldest first |

use serde::{Deserialize, Serialize};

use crate::error::AedbError;

pub(crate) const STATE_KEY: &[u8] = b"s";
pub(crate) const DELTA: u8 = b'd';
pub(crate) const DEDUPE: u8 = b'k';
pub(crate) const DEDUPE_BY_SEQ: u8 = b'q';
pub(crate) const EXPOSURE: u8 = b'e';
pub(crate) const EXPOSURE_BY_SEQ: u8 = b'x';

/// The accumulator's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    /// The materialized value.
    pub value: i64,
    pub last_applied_order_key: u64,
    pub materialized_seq: u64,
    pub latest_order_key: u64,
    pub latest_seq: u64,
    /// Sum of the deltas not yet projected.
    pub pending: i128,
    /// Their number.
    pub unapplied: u64,
    /// Sum of the open exposures (including any past their TTL not yet pruned).
    pub total_exposure: i64,
    pub open_exposures: u64,
    pub rejections: u64,
}

impl State {
    /// Materialized value plus the deltas not yet projected.
    pub(crate) fn effective(&self, name: &str) -> Result<i64, AedbError> {
        i64::try_from(i128::from(self.value) + self.pending).map_err(|_| {
            AedbError::Validation(format!(
                "accumulator {name}: its effective value leaves the i64 range"
            ))
        })
    }
}

/// A delta not yet projected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Delta {
    pub delta: i64,
    pub commit_seq: u64,
    pub dedupe_key: String,
}

/// The delta a dedupe key named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dedupe {
    pub order_key: u64,
    pub delta: i64,
    pub commit_seq: u64,
}

/// An open reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Exposure {
    pub amount: i64,
    pub opened_at_seq: u64,
}

pub(crate) fn key(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

pub(crate) fn seq_key(tag: u8, seq: u64, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + rest.len());
    k.push(tag);
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(rest);
    k
}

/// The seq and the rest of a `q`/`x` key.
pub(crate) fn split_seq_key<'k>(tree: &str, k: &'k [u8]) -> Result<(u64, &'k [u8]), AedbError> {
    let seq = k
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| AedbError::IntegrityError {
            message: format!("accumulator tree {tree}: key {k:02x?} lacks its seq"),
        })?;
    Ok((seq, &k[9..]))
}

pub(crate) fn encode<T: Serialize>(r: &T) -> Result<Vec<u8>, AedbError> {
    rmp_serde::to_vec(r).map_err(|e| AedbError::Encode(format!("accumulator record: {e}")))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    tree: &str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, AedbError> {
    rmp_serde::from_slice(bytes).map_err(|e| AedbError::IntegrityError {
        message: format!("accumulator tree {tree}: record {key:02x?}: {e}"),
    })
}

/// The available amount: the effective value less the margin, less the
/// open exposure (0.1.9's rule: limit = effective × (10,000 − bps) / 10,000).
pub(crate) fn available(effective: i64, margin_bps: u32, exposure: i64) -> i64 {
    let limit = i128::from(effective) * (10_000 - i128::from(margin_bps.min(10_000))) / 10_000;
    (limit - i128::from(exposure)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::available;

    #[test]
    fn available_is_the_effective_value_less_margin_and_exposure() {
        assert_eq!(available(1_000, 1_000, 0), 900);
        assert_eq!(available(1_000, 1_000, 900), 0);
        assert_eq!(available(-100, 1_000, 0), -90);
        assert_eq!(available(i64::MAX, 0, i64::MIN), i64::MAX);
    }
}
