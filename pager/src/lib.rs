//! `aedb-pager`: the page file under aedb.
//!
//! It owns `<dir>/data.aedb` and `<dir>/LOCK`: fixed-size pages read through a
//! read-only memory map, written with `pwrite`, checksummed (the checksum binds the
//! page id), allocated from a free set that honours readers and durable metas, and
//! made durable by a two-slot meta-page commit. It knows nothing of trees, WAL or
//! tables: page payloads and the "owner" and "kind" header fields belong to the
//! layers above.
//!
//! Layout: [`vfs`] is the I/O seam (real files, [`sim`] the fault-injecting
//! simulation); [`format`] holds the byte layouts; [`Pager`] ties them together;
//! [`ReadView`] reads pages; [`inspect`] serves the dump tool.
//!
//! `unsafe` is confined to the private `mmap` module; everything else forbids it.
#![deny(unsafe_code)]

mod alloc;
mod error;
mod idruns;
pub mod format;
mod key;
#[doc(hidden)]
pub mod fuzzing;
pub mod inspect;
mod metas;
#[doc(hidden)]
pub mod mutation;
mod mmap;
mod pager;
pub mod sim;
pub mod vfs;
mod view;

pub use error::{CorruptionDetail, PagerError, Result};
pub use format::meta::Meta;
pub use key::{Key, MIN_KEY_LEN};
pub use format::page::{PAGE_HEADER_LEN, PageKind};
pub use metas::{MetaChoice, SlotReport, read_metas};
pub use pager::{MetaUpdate, OpenReport, Pager, PagerOptions};
pub use view::{Expect, PageRef, ReadView};

/// Name of the page file inside a database directory.
pub const DATA_FILE_NAME: &str = "data.aedb";
/// Name of the lock file inside a database directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// A page's index in the page file (byte offset = id × page size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageId(pub u64);
