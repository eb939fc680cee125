//! The btree's error type. Damaged bytes are reported as the pager's `Corruption`
//! (one constructor for every corruption report in the workspace).
#![forbid(unsafe_code)]

use aedb_pager::{CorruptionDetail, PageId, PagerError};

use crate::node::Fault;

pub type Result<T, E = BtreeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum BtreeError {
    #[error(transparent)]
    Pager(#[from] PagerError),

    #[error("key of {len} bytes exceeds the limit of {limit} bytes")]
    KeyTooLarge { len: usize, limit: usize },

    #[error("value of {len} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge { len: u64, limit: u64 },

    #[error("bulk load input is not strictly ascending at entry {index}")]
    UnsortedBulkLoad { index: u64 },

    #[error("invalid tree configuration: {0}")]
    InvalidConfig(String),
}

impl BtreeError {
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
