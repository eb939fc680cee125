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
    /// `actual == threshold`.
    Eq,
    /// `actual != threshold`.
    Ne,
    /// `actual > threshold`.
    Gt,
    /// `actual >= threshold`.
    Gte,
    /// `actual < threshold`.
    Lt,
    /// `actual <= threshold`.
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
    /// The accumulator's available amount (its effective value less the margin
    /// and the open exposures) is at least `min_amount` (issue #14).
    AccumulatorAvailableAtLeast {
        /// The accumulator's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// Its name.
        accumulator_name: String,
        /// Holds when the available amount (effective value less the margin and
        /// open exposures) is at least this; a failure reports that amount.
        min_amount: i64,
    },
    /// Exposing `additional_exposure` more stays within the accumulator's
    /// margin (issue #14).
    AccumulatorExposureWithinMargin {
        /// The accumulator's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// Its name.
        accumulator_name: String,
        /// Holds when this is at most the available amount (effective value less
        /// the margin and open exposures).
        additional_exposure: i64,
    },
    /// The KV key's value is exactly `expected`; an absent key fails (`Missing`).
    KeyEquals {
        /// The KV space's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The KV key.
        key: Vec<u8>,
        /// The bytes the value must equal.
        expected: Vec<u8>,
    },
    /// The key's value compared with `threshold`: as unsigned big-endian
    /// integers when both are 8 or 32 bytes, else bytewise.
    KeyCompare {
        /// The KV space's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The KV key; an absent key fails (`Missing`).
        key: Vec<u8>,
        /// How the value compares with `threshold` (`value op threshold`).
        op: CompareOp,
        /// The bytes compared against.
        threshold: Vec<u8>,
    },
    /// Whether the KV key is present equals `expected`.
    KeyExists {
        /// The KV space's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The KV key.
        key: Vec<u8>,
        /// `true`: it must be present; `false`: absent.
        expected: bool,
    },
    /// The key was last written by commit `expected_seq` (0: it is absent).
    KeyVersion {
        /// The KV space's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The KV key.
        key: Vec<u8>,
        /// The seq of the commit that last wrote it; 0 asserts it is absent.
        expected_seq: u64,
    },
    /// The row was last written by commit `expected_seq` (0: it is absent).
    RowVersion {
        /// The table's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table.
        table_name: String,
        /// The row's primary-key values, in key order.
        primary_key: Vec<Value>,
        /// The seq of the commit that last wrote it; 0 asserts it is absent.
        expected_seq: u64,
    },
    /// Whether the row is present equals `expected`; a row the caller's read
    /// policy hides counts as absent.
    RowExists {
        /// The table's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table.
        table_name: String,
        /// The row's primary-key values, in key order.
        primary_key: Vec<Value>,
        /// `true`: it must be present; `false`: absent.
        expected: bool,
    },
    /// The row's `column` compared with `threshold` (`value op threshold`);
    /// fails when the row is absent (or hidden) or the value is NULL.
    RowColumnCompare {
        /// The table's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table.
        table_name: String,
        /// The row's primary-key values, in key order.
        primary_key: Vec<Value>,
        /// The column read.
        column: String,
        /// The comparison.
        op: CompareOp,
        /// Converted to the column's type first (`TypeMismatch` if it cannot be).
        threshold: Value,
    },
    /// The number of rows matching `filter` (all rows: `None`).
    CountCompare {
        /// The table's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table; rows the caller's read policy hides do not count.
        table_name: String,
        /// Which rows count (`None`: every row).
        filter: Option<Expr>,
        /// How the count compares with `threshold`.
        op: CompareOp,
        /// The row count compared against.
        threshold: u64,
    },
    /// The sum of `column` over the rows matching `filter`.
    SumCompare {
        /// The table's project.
        project_id: String,
        /// Its scope.
        scope_id: String,
        /// The table; rows the caller's read policy hides are left out.
        table_name: String,
        /// The column summed; NULLs are skipped.
        column: String,
        /// Which rows are summed (`None`: every row).
        filter: Option<Expr>,
        /// How the sum compares with `threshold`; a sum of no values (NULL)
        /// passes only `Ne`.
        op: CompareOp,
        /// Converted to the sum's type first (`TypeMismatch` if it cannot be).
        threshold: Value,
    },
    /// Holds when every part holds (an empty list holds); a failure reports
    /// the first failing part's finding. `All`, `Any` and `Not` nest at most
    /// 32 deep.
    All(Vec<ReadAssertion>),
    /// Holds when some part holds (an empty list fails); a failure reports
    /// the last part's finding.
    Any(Vec<ReadAssertion>),
    /// Holds when the inner assertion does not; reports what the inner one found.
    Not(Box<ReadAssertion>),
}

/// What a failed assertion found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AssertionActual {
    /// The key or row is absent (or hidden from the caller).
    Missing,
    /// Whether the key or row exists (`KeyExists`, `RowExists`); an empty
    /// `Any` reports `false`.
    Bool(bool),
    /// The seq of the commit that last wrote the key or row (0: absent).
    Version(u64),
    /// The KV value found (`KeyEquals`, `KeyCompare`).
    Bytes(Vec<u8>),
    /// The column value, the sum (NULL for no values), or the accumulator's
    /// available amount found.
    Value(Value),
    /// The number of matching rows (`CountCompare`).
    Count(u64),
}
