//! Limits of a tree, checked against the page size so every node can always split.
#![forbid(unsafe_code)]

use crate::error::{BtreeError, Result};
use crate::node::{BRANCH_ENTRY_FIXED, LEAF_ENTRY_FIXED, SLOTS_AT};

/// Limits for keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeConfig {
    /// Longest key accepted, in bytes (default 1024).
    pub key_limit: usize,
    /// Largest value accepted, in bytes (default 4 GiB − 1).
    pub value_limit: u64,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            key_limit: 1024,
            value_limit: u64::from(u32::MAX),
        }
    }
}

/// Usable bytes of a node page (slots + entries).
pub(crate) fn capacity(page_size: u32) -> usize {
    page_size as usize - SLOTS_AT
}

/// Largest leaf entry: two must fit in a page, so any full leaf can split.
pub(crate) fn max_leaf_entry(page_size: u32) -> usize {
    capacity(page_size) / 2 - 2
}

impl TreeConfig {
    /// The longest key a page size allows: three branch entries must fit in a page,
    /// so an overflowing branch always splits into halves of at least two children.
    pub fn max_key_limit(page_size: u32) -> usize {
        (capacity(page_size) / 3 - 2 - BRANCH_ENTRY_FIXED).min(u16::MAX as usize)
    }

    /// `InvalidConfig` when `key_limit` exceeds `TreeConfig::max_key_limit` for
    /// `page_size` (bytes). Write transactions and bulk loads check this first.
    pub fn validate(&self, page_size: u32) -> Result<()> {
        let max = TreeConfig::max_key_limit(page_size);
        if self.key_limit > max {
            return Err(BtreeError::InvalidConfig(format!(
                "key limit {} exceeds {max}, the most a {page_size}-byte page allows",
                self.key_limit
            )));
        }
        Ok(())
    }

    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.key_limit {
            return Err(BtreeError::KeyTooLarge {
                len: key.len(),
                limit: self.key_limit,
            });
        }
        Ok(())
    }

    pub(crate) fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() as u64 > self.value_limit {
            return Err(BtreeError::ValueTooLarge {
                len: value.len() as u64,
                limit: self.value_limit,
            });
        }
        Ok(())
    }
}

/// Whether a value is stored inline (else in an overflow chain): at most a quarter
/// page, and the whole entry within the leaf entry limit.
pub(crate) fn is_inline(page_size: u32, key: &[u8], value: &[u8]) -> bool {
    value.len() <= page_size as usize / 4
        && LEAF_ENTRY_FIXED + key.len() + value.len() <= max_leaf_entry(page_size)
}
