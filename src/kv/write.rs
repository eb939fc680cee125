//! One KV change inside a write transaction.

use crate::error::AedbError;
use crate::kv::entry::KvEntry;
use crate::kv::numeric::{NumOutcome, NumUpdate, counter_shard_storage_key, widen};
use crate::kv::numeric::{Step, Width, counter_shard_index};
use crate::storage::TreeMut;
use crate::vocab::assertion::{AssertionActual, ReadAssertion};

/// What a change does to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvOp {
    Set(Vec<u8>),
    Del,
    Num(NumUpdate),
    /// Adds to one shard of a sharded counter (`counter_shard_storage_key`).
    CounterAdd {
        amount_be: [u8; 8],
        shard_count: u16,
        shard_hint: u32,
    },
}

/// A change: the key, what to do, and (compare-and-*) the version the key
/// must have (0: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvChange {
    pub(crate) project_id: String,
    pub(crate) scope_id: String,
    pub(crate) key: Vec<u8>,
    pub(crate) op: KvOp,
    pub(crate) expected_version: Option<u64>,
}

/// The size bounds of keys and values (`AedbConfig`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KvLimits {
    pub(crate) max_key_bytes: usize,
    pub(crate) max_value_bytes: usize,
}

/// The entry stored under `key`, if any.
pub(crate) fn get(
    tree: &mut TreeMut<'_, '_>,
    tree_name: &str,
    key: &[u8],
) -> Result<Option<KvEntry>, AedbError> {
    tree.get(key)?
        .map(|b| KvEntry::decode(tree_name, key, &b))
        .transpose()
}

impl KvChange {
    /// Applies the change to the scope's tree as commit `seq`; returns the
    /// keys it changed (0 or 1).
    pub(crate) fn apply(
        self,
        tree: &mut TreeMut<'_, '_>,
        tree_name: &str,
        seq: u64,
        limits: KvLimits,
    ) -> Result<u64, AedbError> {
        check_key(&self.key, limits)?;
        let key = match &self.op {
            KvOp::CounterAdd { shard_count: 0, .. } => {
                return Err(AedbError::Validation(
                    "CounterAdd with shard_count 0: a counter has at least one shard".into(),
                ));
            }
            KvOp::CounterAdd {
                shard_count,
                shard_hint,
                ..
            } => {
                let k = counter_shard_storage_key(
                    &self.key,
                    counter_shard_index(*shard_hint, *shard_count),
                );
                check_key(&k, limits)?;
                k
            }
            _ => self.key.clone(),
        };
        let current = get(tree, tree_name, &key)?;
        if let Some(expected) = self.expected_version {
            let actual = current.as_ref().map_or(0, |e| e.version);
            if actual != expected {
                return Err(AedbError::AssertionFailed {
                    index: 0,
                    assertion: Box::new(ReadAssertion::KeyVersion {
                        project_id: self.project_id,
                        scope_id: self.scope_id,
                        key,
                        expected_seq: expected,
                    }),
                    actual: Box::new(AssertionActual::Version(actual)),
                });
            }
        }
        let value = match self.op {
            KvOp::Set(value) => value,
            KvOp::Del => return Ok(u64::from(tree.remove(&key)?.is_some())),
            KvOp::Num(update) => {
                match update.apply(&key, current.as_ref().map(|e| &e.value[..]))? {
                    NumOutcome::Write(v) => v,
                    NumOutcome::Unchanged => return Ok(0),
                }
            }
            KvOp::CounterAdd { amount_be, .. } => {
                let add = NumUpdate {
                    width: Width::U64,
                    step: Step::Add { saturate: false },
                    operand: widen(amount_be),
                    missing_is_zero: true,
                };
                match add.apply(&key, current.as_ref().map(|e| &e.value[..]))? {
                    NumOutcome::Write(v) => v,
                    NumOutcome::Unchanged => return Ok(0),
                }
            }
        };
        if value.len() > limits.max_value_bytes {
            return Err(AedbError::Validation(format!(
                "kv value of {} bytes exceeds max_kv_value_bytes = {}",
                value.len(),
                limits.max_value_bytes
            )));
        }
        let entry = KvEntry {
            value,
            version: seq,
            created_at: current.map_or(seq, |e| e.created_at),
        };
        tree.insert(&key, &entry.encode())?;
        Ok(1)
    }
}

fn check_key(key: &[u8], limits: KvLimits) -> Result<(), AedbError> {
    if key.is_empty() || key.len() > limits.max_key_bytes {
        return Err(AedbError::Validation(format!(
            "kv key of {} bytes: keys are 1..={} bytes",
            key.len(),
            limits.max_key_bytes
        )));
    }
    Ok(())
}
