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
//! simulation); [`format`](mod@format) holds the byte layouts; [`Pager`] ties them together;
//! [`ReadView`] reads pages; [`inspect`] serves the dump tool.
//!
//! Module order: each module imports only modules before it in this list (plus the
//! crate root's `PageId` and file names, and `sim`'s test seeds in unit tests), so
//! the import graph has no cycle.
//! 1. `error`, `mutation`: leaves.
//! 2. `key` (HMAC), then [`format`](mod@format) (byte layouts, the one `Fault`), then `idruns`.
//! 3. [`vfs`] (I/O seam), then [`sim`] (the simulated file system).
//! 4. `mmap` (the one `unsafe` module), then `map` (`ReadSide`: the file, its length,
//!    the current mapping), then `view` ([`ReadView`], [`PageRef`]).
//! 5. `alloc` (the free set), `metas` (choosing a meta slot).
//! 6. `open` ([`PagerOptions`] and the steps of [`Pager::open`]), then `pager`
//!    ([`Pager`]: allocation, page writes, the meta commit).
//! 7. [`inspect`], `fuzzing`: users of the above.
//!
//! `unsafe` is confined to the private `mmap` module; everything else forbids it.
#![deny(unsafe_code)]
// Every public item is documented: CI's clippy turns this into an error.
#![warn(missing_docs)]

mod alloc;
mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
mod id_hash;
mod idruns;
pub mod inspect;
mod key;
mod map;
mod metas;
mod mmap;
#[doc(hidden)]
pub mod mutation;
mod open;
mod pager;
pub mod sim;
pub mod vfs;
mod view;

pub use error::{CorruptionDetail, PagerError, Result};
pub use format::meta::Meta;
pub use format::page::{PAGE_HEADER_LEN, PageKind};
pub use id_hash::{PageIdHasher, PageIdMap, PageIdSet};
pub use key::{Key, MIN_KEY_LEN};
pub use metas::{MetaChoice, SlotReport, read_metas};
pub use open::{OpenReport, PagerOptions};
pub use pager::{MetaUpdate, Pager, PendingMeta};
pub use view::{Expect, PageBytes, PageRef, ReadView};

/// Name of the page file inside a database directory.
pub const DATA_FILE_NAME: &str = "data.aedb";
/// Name of the lock file inside a database directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// A page's index in the page file (byte offset = id × page size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageId(pub u64);
