//! Typed numerics on KV values: unsigned 64- and 256-bit integers stored
//! big-endian in exactly 8 or 32 bytes. Every operation (the `Kv*U256*` and
//! `Kv*U64*` mutations, counters, compare-and-*) is one `NumUpdate` run by
//! `NumUpdate::apply` over the current value; the arithmetic is
//! `vocab::numeric`'s, shared with table columns.
//!
//! The policies are 0.1.9's: a missing key is zero or an error; an overflow is
//! an error or saturates at the width's maximum; an underflow is an error or
//! leaves the value as it is.

use serde::{Deserialize, Serialize};

use crate::error::AedbError;
use crate::vocab::numeric::{u256_add, u256_sub};

macro_rules! policy {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident),+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }
    };
}

policy!(
    /// What a U256 operation does with a key that has no value.
    KvU256MissingPolicy {
        /// The missing value counts as zero.
        TreatAsZero,
        /// The operation fails, and with it the commit.
        Reject
    }
);
policy!(
    /// What a U256 subtraction below zero does.
    KvU256UnderflowPolicy {
        /// The operation fails with `Underflow`, and with it the commit.
        Reject,
        /// The value is left as it is; the commit goes on.
        NoOp
    }
);
policy!(
    /// What a U256 addition past 2^256 - 1 does.
    KvU256OverflowPolicy {
        /// The operation fails with `Overflow`, and with it the commit.
        Reject,
        /// The value becomes the width's maximum.
        Saturate
    }
);
policy!(
    /// `KvMutateU256`'s operation.
    KvU256MutatorOp {
        /// Replaces the value with the operand (a missing key is set).
        Set,
        /// Adds the operand; an overflow is an error. A missing key counts as zero.
        Add,
        /// Subtracts the operand; an underflow is an error. A missing key counts as zero.
        Sub
    }
);
policy!(
    /// What a U64 operation does with a key that has no value.
    KvU64MissingPolicy {
        /// The missing value counts as zero.
        TreatAsZero,
        /// The operation fails, and with it the commit.
        Reject
    }
);
policy!(
    /// What a U64 subtraction below zero does.
    KvU64UnderflowPolicy {
        /// The operation fails with `Underflow`, and with it the commit.
        Reject,
        /// The value is left as it is; the commit goes on.
        NoOp
    }
);
policy!(
    /// What a U64 addition past 2^64 - 1 does.
    KvU64OverflowPolicy {
        /// The operation fails with `Overflow`, and with it the commit.
        Reject,
        /// The value becomes the width's maximum.
        Saturate
    }
);
policy!(
    /// `KvMutateU64`'s operation.
    KvU64MutatorOp {
        /// Replaces the value with the operand (a missing key is set).
        Set,
        /// Adds the operand; an overflow is an error. A missing key counts as zero.
        Add,
        /// Subtracts the operand; an underflow is an error. A missing key counts as zero.
        Sub
    }
);
policy!(
    /// `KvSubIntEx`'s missing-key policy (either width).
    KvIntegerMissingPolicy {
        /// The missing value counts as zero.
        TreatAsZero,
        /// The operation fails, and with it the commit.
        Reject
    }
);
policy!(
    /// `KvSubIntEx`'s underflow policy (either width).
    KvIntegerUnderflowPolicy {
        /// The operation fails with `Underflow`, and with it the commit.
        Reject,
        /// The value is left as it is; the commit goes on.
        NoOp
    }
);

/// `KvSubIntEx`'s amount; its width is the value's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvIntegerAmount {
    /// A u64, big-endian: the key's value, if any, must be 8 bytes.
    U64([u8; 8]),
    /// A u256, big-endian: the key's value, if any, must be 32 bytes.
    U256([u8; 32]),
}

/// The integer width a KV value is read and written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    U64,
    U256,
}

impl Width {
    pub(crate) fn bytes(self) -> usize {
        match self {
            Width::U64 => 8,
            Width::U256 => 32,
        }
    }

    fn max(self) -> [u8; 32] {
        let mut m = [0xFF; 32];
        if self == Width::U64 {
            m[..24].fill(0);
        }
        m
    }

    fn name(self) -> &'static str {
        match self {
            Width::U64 => "U64",
            Width::U256 => "U256",
        }
    }
}

/// A U64 operand widened to 32 bytes.
pub(crate) fn widen(be: [u8; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[24..].copy_from_slice(&be);
    out
}

/// What an operation does to the current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Add; past the maximum, saturate or fail.
    Add {
        saturate: bool,
    },
    /// Subtract; below zero, leave unchanged or fail.
    Sub {
        noop_on_underflow: bool,
    },
    Max,
    Min,
    Set,
}

/// One numeric operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumUpdate {
    pub(crate) width: Width,
    pub(crate) step: Step,
    /// The operand, widened to 32 bytes (at most the width's maximum).
    pub(crate) operand: [u8; 32],
    /// A missing key counts as zero (else the operation fails).
    pub(crate) missing_is_zero: bool,
}

/// What `apply` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NumOutcome {
    /// Store these bytes (exactly the width).
    Write(Vec<u8>),
    /// Leave the key as it is (a `NoOp` underflow).
    Unchanged,
}

impl NumUpdate {
    /// Runs the operation over `current` (the key's value, if any); `key` names
    /// the key in errors.
    pub(crate) fn apply(
        &self,
        key: &[u8],
        current: Option<&[u8]>,
    ) -> Result<NumOutcome, AedbError> {
        let w = self.width;
        let base = match current {
            Some(bytes) if bytes.len() == w.bytes() => {
                let mut v = [0u8; 32];
                v[32 - w.bytes()..].copy_from_slice(bytes);
                v
            }
            Some(bytes) => {
                return Err(AedbError::Validation(format!(
                    "KV key {key:?} holds {} bytes, not a {} ({} bytes big-endian)",
                    bytes.len(),
                    w.name(),
                    w.bytes()
                )));
            }
            None if self.missing_is_zero || self.step == Step::Set => [0u8; 32],
            None => {
                return Err(AedbError::Validation(format!(
                    "KV key {key:?} has no value and the operation's missing-key policy is Reject"
                )));
            }
        };
        let max = w.max();
        let next = match self.step {
            Step::Set => self.operand,
            Step::Max => base.max(self.operand),
            Step::Min => base.min(self.operand),
            Step::Add { saturate } => match u256_add(&base, &self.operand).filter(|s| *s <= max) {
                Some(s) => s,
                None if saturate => max,
                None => return Err(AedbError::Overflow),
            },
            Step::Sub { noop_on_underflow } => match u256_sub(&base, &self.operand) {
                Some(d) => d,
                None if noop_on_underflow => return Ok(NumOutcome::Unchanged),
                None => return Err(AedbError::Underflow),
            },
        };
        Ok(NumOutcome::Write(next[32 - w.bytes()..].to_vec()))
    }
}

/// The shard a sharded counter's addition lands in.
pub fn counter_shard_index(shard_hint: u32, shard_count: u16) -> u16 {
    (shard_hint % u32::from(shard_count.max(1))) as u16
}

/// The KV key of shard `shard_index` of counter `logical_key`: the logical key,
/// `\0#`, the index as u16 big-endian (so a counter's shards sort together
/// right after it).
pub fn counter_shard_storage_key(logical_key: &[u8], shard_index: u16) -> Vec<u8> {
    let mut k = Vec::with_capacity(logical_key.len() + 4);
    k.extend_from_slice(logical_key);
    k.extend_from_slice(b"\0#");
    k.extend_from_slice(&shard_index.to_be_bytes());
    k
}

/// A U256 amount (big-endian) as 0.1.9's helper names it; the value is the
/// array itself, since the engine computes on big-endian bytes.
pub fn amount_to_u256(amount_be: &[u8; 32]) -> [u8; 32] {
    *amount_be
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u64_update(step: Step, operand: u64, missing_is_zero: bool) -> NumUpdate {
        NumUpdate {
            width: Width::U64,
            step,
            operand: widen(operand.to_be_bytes()),
            missing_is_zero,
        }
    }

    #[test]
    fn u64_edges_follow_the_policies() {
        let max = u64::MAX.to_be_bytes();
        let add = u64_update(Step::Add { saturate: false }, 1, true);
        assert!(matches!(
            add.apply(b"k", Some(&max)),
            Err(AedbError::Overflow)
        ));
        let sat = u64_update(Step::Add { saturate: true }, 1, true);
        assert_eq!(
            sat.apply(b"k", Some(&max)).unwrap(),
            NumOutcome::Write(max.to_vec())
        );
        let noop = u64_update(
            Step::Sub {
                noop_on_underflow: true,
            },
            1,
            true,
        );
        assert_eq!(noop.apply(b"k", None).unwrap(), NumOutcome::Unchanged);
        let strict = u64_update(
            Step::Sub {
                noop_on_underflow: false,
            },
            1,
            false,
        );
        assert!(matches!(
            strict.apply(b"k", None),
            Err(AedbError::Validation(_))
        ));
        assert!(matches!(
            strict.apply(b"k", Some(&[0; 32])),
            Err(AedbError::Validation(_))
        ));
    }

    #[test]
    fn shard_keys_sort_after_their_counter() {
        assert_eq!(counter_shard_index(10, 4), 2);
        assert_eq!(counter_shard_index(10, 0), 0);
        assert!(counter_shard_storage_key(b"c", 1) > b"c".to_vec());
        assert!(counter_shard_storage_key(b"c", 1) < counter_shard_storage_key(b"c", 2));
    }
}
