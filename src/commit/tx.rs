//! Transaction envelopes (0.1.9's `aedb::commit::tx`): mutations with the
//! conditions they commit under — read assertions, an optimistic read set
//! checked against `base_seq`, and an idempotency key that makes a retry
//! return the first commit instead of writing twice.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::commit::mutation::Mutation;
use crate::error::AedbError;
use crate::permission::CallerContext;
use crate::vocab::types::Value;

pub use crate::vocab::assertion::{AssertionActual, ReadAssertion};

/// A caller-chosen id of a request: committing it again within the
/// idempotency window returns the first commit (`Duplicate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdempotencyKey(pub [u8; 16]);

/// A key the transaction read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReadKey {
    /// A table row, by primary key.
    TableRow {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table read.
        table_name: String,
        /// Primary-key values of the row, in key order.
        primary_key: Vec<Value>,
    },
    /// A KV key.
    KvKey {
        /// Project of the key.
        project_id: String,
        /// Scope of the key.
        scope_id: String,
        /// The key's bytes.
        key: Vec<u8>,
    },
}

/// A key and the version it had when read (0: absent). The commit fails with
/// `Conflict` if the version differs now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadSetEntry {
    /// The key read.
    pub key: ReadKey,
    /// Its version then: the seq of the commit that last wrote it (0: absent).
    pub version_at_read: u64,
}

/// One end of a read range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadBound<T> {
    /// No bound: the range runs to that end of the key space.
    Unbounded,
    /// Bounded by this key, which is in the range.
    Included(T),
    /// Bounded by this key, which is not in the range.
    Excluded(T),
}

/// A range the transaction read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReadRange {
    /// Rows of a table in primary-key order. Not allowed on a table with a read
    /// policy for the caller (`Validation`): list the rows read as points
    /// instead.
    TableRange {
        /// Project of the table.
        project_id: String,
        /// Scope of the table.
        scope_id: String,
        /// Table read.
        table_name: String,
        /// Lower bound, as whole primary-key values in key order.
        start: ReadBound<Vec<Value>>,
        /// Upper bound, as whole primary-key values in key order.
        end: ReadBound<Vec<Value>>,
    },
    /// KV keys of a scope, in byte order.
    KvRange {
        /// Project of the keys.
        project_id: String,
        /// Scope of the keys.
        scope_id: String,
        /// Lower bound key.
        start: ReadBound<Vec<u8>>,
        /// Upper bound key.
        end: ReadBound<Vec<u8>>,
    },
}

/// A range and what was seen in it. The commit fails with `Conflict` if any
/// key in the range now has a version above `max_version_at_read`, or if the
/// range holds other keys or versions than it did at `base_seq` (an insert or
/// a delete since).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRangeEntry {
    /// The range read.
    pub range: ReadRange,
    /// Highest version seen in the range (0: it was empty).
    pub max_version_at_read: u64,
    /// Kept for 0.1.9's signature; the comparison with `base_seq` covers it.
    pub structural_version_at_read: u64,
}

/// What the transaction read, for optimistic conflict detection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadSet {
    /// Single keys read, each with its version.
    pub points: Vec<ReadSetEntry>,
    /// Ranges read; checking them needs the `base_seq` snapshot still retained,
    /// else `Conflict`.
    pub ranges: Vec<ReadRangeEntry>,
}

impl ReadSet {
    /// Whether the set names no key and no range (the commit then checks
    /// nothing).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty() && self.ranges.is_empty()
    }
}

/// The writes of an envelope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteIntent {
    /// The mutations, applied in order, all or none.
    pub mutations: Vec<Mutation>,
}

/// A hint of how a commit may be scheduled; both classes commit the same way
/// here (one writer, group commit), and the class is kept for 0.1.9's API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WriteClass {
    /// Kept for 0.1.9; commits like `Standard`.
    Economic,
    /// The default; commits like `Economic`.
    #[default]
    Standard,
}

/// What the engine remembers of an idempotent commit (in its system tree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Seq of the commit that applied the request.
    pub commit_seq: u64,
    /// When that commit was made, in microseconds since the Unix epoch (for the
    /// time window).
    pub recorded_at_micros: u64,
    /// Hash of the request; a repeat of the key with another request is a
    /// `Validation` error, not a duplicate.
    pub request_fingerprint: Option<[u8; 32]>,
}

/// Mutations and the conditions they commit under, all-or-nothing. (Not
/// serializable: a caller is never read from bytes.)
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionEnvelope {
    /// `None`: the plain-call rules of the instance's mode apply.
    pub caller: Option<CallerContext>,
    /// `Some`: a repeat of the same request within the idempotency window
    /// returns the first commit (`Duplicate`); another request under the key is
    /// a `Validation` error. `None`: no deduplication.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Scheduling hint, kept for 0.1.9; every class commits the same way.
    pub write_class: WriteClass,
    /// Checked in order inside the write; the first that fails is reported.
    pub assertions: Vec<ReadAssertion>,
    /// Keys and ranges read at `base_seq`; if any changed since, the commit
    /// fails with `Conflict` (empty: no check).
    pub read_set: ReadSet,
    /// The mutations to commit (at least one).
    pub write_intent: WriteIntent,
    /// The seq the read set was read at.
    pub base_seq: u64,
}

impl TransactionEnvelope {
    /// SHA-256 of the request (caller, assertions, read set, mutations and
    /// base seq, MessagePack-encoded): what an idempotency key is bound to.
    pub fn request_fingerprint(&self) -> Result<[u8; 32], AedbError> {
        fingerprint(
            self.caller.as_ref(),
            &self.assertions,
            &self.read_set,
            &self.write_intent.mutations,
            self.base_seq,
        )
    }
}

/// The fingerprint of a request's parts (envelopes and action envelopes).
pub(crate) fn fingerprint(
    caller: Option<&CallerContext>,
    assertions: &[ReadAssertion],
    read_set: &ReadSet,
    mutations: &[Mutation],
    base_seq: u64,
) -> Result<[u8; 32], AedbError> {
    let parts = (
        caller.map(|c| c.caller_id.as_str()),
        assertions,
        read_set,
        mutations,
        base_seq,
    );
    let bytes = rmp_serde::to_vec(&parts)
        .map_err(|e| AedbError::Encode(format!("request fingerprint: {e}")))?;
    Ok(Sha256::digest(&bytes).into())
}

/// The conditions a commit is made under (an envelope's, or none).
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    pub(crate) assertions: Vec<ReadAssertion>,
    pub(crate) read_set: ReadSet,
    pub(crate) base_seq: u64,
    /// The key and the request's fingerprint.
    pub(crate) idempotency: Option<(IdempotencyKey, [u8; 32])>,
}

impl Conditions {
    /// The hex form of the idempotency key (for the audit).
    pub(crate) fn key_hex(&self) -> Option<String> {
        self.idempotency
            .map(|(k, _)| k.0.iter().map(|b| format!("{b:02x}")).collect())
    }
}
