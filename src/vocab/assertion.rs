//! Read assertions: conditions on the state a commit checks, inside its write
//! transaction, before it applies anything (0.1.9's `ReadAssertion`, public at
//! `aedb::commit::tx`). A failed one names itself and what it found
//! (`AssertionActual`) in `AedbError::AssertionFailed`.

use serde::{Deserialize, Serialize};

use crate::vocab::expr::Expr;
use crate::vocab::types::Value;

/// A comparison of an actual value with a threshold (`actual op threshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl CompareOp {
    /// Whether `ordering` (actual against threshold) satisfies the operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CompareOp::Eq => ordering == Equal,
            CompareOp::Ne => ordering != Equal,
            CompareOp::Gt => ordering == Greater,
            CompareOp::Gte => ordering != Less,
            CompareOp::Lt => ordering == Less,
            CompareOp::Lte => ordering != Greater,
        }
    }
}

/// A condition on the state at the commit's seq.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReadAssertion {
    /// The accumulator's effective value is at least `min_amount` (issue #14).
    AccumulatorAvailableAtLeast {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        min_amount: i64,
    },
    /// Exposing `additional_exposure` more stays within the accumulator's
    /// margin (issue #14).
    AccumulatorExposureWithinMargin {
        project_id: String,
        scope_id: String,
        accumulator_name: String,
        additional_exposure: i64,
    },
    KeyEquals {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        expected: Vec<u8>,
    },
    /// The key's value compared with `threshold`: as unsigned big-endian
    /// integers when both are 8 or 32 bytes, else bytewise.
    KeyCompare {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        op: CompareOp,
        threshold: Vec<u8>,
    },
    KeyExists {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        expected: bool,
    },
    /// The key was last written by commit `expected_seq` (0: it is absent).
    KeyVersion {
        project_id: String,
        scope_id: String,
        key: Vec<u8>,
        expected_seq: u64,
    },
    /// The row was last written by commit `expected_seq` (0: it is absent).
    RowVersion {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        expected_seq: u64,
    },
    RowExists {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        expected: bool,
    },
    RowColumnCompare {
        project_id: String,
        scope_id: String,
        table_name: String,
        primary_key: Vec<Value>,
        column: String,
        op: CompareOp,
        threshold: Value,
    },
    /// The number of rows matching `filter` (all rows: `None`).
    CountCompare {
        project_id: String,
        scope_id: String,
        table_name: String,
        filter: Option<Expr>,
        op: CompareOp,
        threshold: u64,
    },
    /// The sum of `column` over the rows matching `filter`.
    SumCompare {
        project_id: String,
        scope_id: String,
        table_name: String,
        column: String,
        filter: Option<Expr>,
        op: CompareOp,
        threshold: Value,
    },
    All(Vec<ReadAssertion>),
    Any(Vec<ReadAssertion>),
    Not(Box<ReadAssertion>),
}

/// What a failed assertion found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AssertionActual {
    Missing,
    Bool(bool),
    Version(u64),
    Bytes(Vec<u8>),
    Value(Value),
    Count(u64),
}
