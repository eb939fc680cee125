//! The btree's error type. Damaged bytes are reported as the pager's `Corruption`
//! (one constructor for every corruption report in the workspace).
#![forbid(unsafe_code)]

use aedb_pager::{CorruptionDetail, PageId, PagerError};

use crate::node::Fault;

/// Result alias for the btree.
pub type Result<T, E = BtreeError> = std::result::Result<T, E>;

/// Everything a tree operation can fail with. Damaged pages arrive as
/// `Pager(PagerError::Corruption)`.
#[derive(Debug, thiserror::Error)]
pub enum BtreeError {
    /// A pager failure: I/O, poison, read-only, or corruption (the tree's own
    /// layout faults included).
    #[error(transparent)]
    Pager(#[from] PagerError),

    /// A key longer than the tree's `key_limit`; the insert or bulk load is
    /// refused.
    #[error("key of {len} bytes exceeds the limit of {limit} bytes")]
    KeyTooLarge {
        /// Length of the refused key, in bytes.
        len: usize,
        /// The tree's `key_limit`, in bytes.
        limit: usize,
    },

    /// A value longer than the tree's `value_limit`; the insert or bulk load is
    /// refused.
    #[error("value of {len} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge {
        /// Length of the refused value, in bytes.
        len: u64,
        /// The tree's `value_limit`, in bytes.
        limit: u64,
    },

    /// Bulk-load input whose keys are not strictly ascending (a duplicate or a
    /// step back).
    #[error("bulk load input is not strictly ascending at entry {index}")]
    UnsortedBulkLoad {
        /// 0-based position in the input of the first key not above the one before.
        index: u64,
    },

    /// A `TreeConfig` the page size cannot hold; the text says which limit.
    #[error("invalid tree configuration: {0}")]
    InvalidConfig(String),
}

impl BtreeError {
    /// The corruption detail when this wraps a pager `Corruption`; `None`
    /// otherwise.
    pub fn as_corruption(&self) -> Option<&CorruptionDetail> {
        match self {
            BtreeError::Pager(e) => e.as_corruption(),
            _ => None,
        }
    }

    /// A broken layout rule found in page `page` of `file`.
    pub(crate) fn fault(file: &std::path::Path, page: u64, page_size: u32, f: Fault) -> BtreeError {
        let offset = page * u64::from(page_size) + f.field_at as u64;
        let page = Some(PageId(page));
        BtreeError::Pager(PagerError::corruption(
            file, page, offset, f.rule, f.expected, f.found,
        ))
    }
}
