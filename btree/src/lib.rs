//! `aedb-btree`: copy-on-write B+trees over `aedb-pager` pages.
//!
//! A tree is a root page id plus the generation that wrote it and its entry count
//! ([`TreeRoot`]). Readers ([`Tree`]) take a page source (a pager [`ReadView`] for a
//! snapshot) and return zero-copy slices tied to it. Writers ([`WriteTxn`]) copy the
//! path they touch to fresh pages, edit those in place, and commit a new root plus
//! the pages the old tree no longer needs. Branch entries carry subtree counts, so
//! `len`, `count_range`, `rank` and `nth` are O(log n). [`bulk_load`] builds a tree
//! from sorted input bottom-up; [`check`] verifies one.
//!
//! This crate knows pages, not WAL records, tables or async runtimes.
//!
//! [`ReadView`]: aedb_pager::ReadView
#![forbid(unsafe_code)]
// Every public item is documented: CI's clippy turns this into an error.
#![warn(missing_docs)]

mod bulk;
mod check;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod node;
mod overflow;
mod read;
mod relocate;
mod source;
mod write;

pub use aedb_pager as pager;
pub use bulk::{bulk_load, bulk_load_tracked};
pub use check::{CheckReport, check};
pub use config::TreeConfig;
pub use error::{BtreeError, Result};
pub use read::{Entry, Range, Tree, TreeRoot, load_root, prefix_successor};
pub use source::PageSource;
pub use write::{Commit, TxnSource, WriteTxn};

/// No path from a root is longer (a cycle in damaged pages ends here).
pub const MAX_DEPTH: usize = 64;
