//! The KV space of each scope: byte keys to versioned byte values, in tree
//! `k<scope id>` (created by the scope's first write).
//!
//! `entry` is the stored record (the value behind its version and creation
//! seq), `numeric` the typed integer operations and their policies, `write`
//! applies one change inside a write transaction, `read` answers gets and
//! scans on a snapshot (with cursors that resume at the snapshot they began).
//!
//! Invariants:
//! 1. Every stored value carries the seq of the commit that wrote it, so a
//!    compare-and-* or a `KeyVersion` assertion compares seqs, never values.
//! 2. Authorization is not here: the commit room (writes) and the instance
//!    doors (reads) ask `auth` before calling in.

pub(crate) mod entry;
pub(crate) mod numeric;
pub(crate) mod read;
pub(crate) mod write;

pub use entry::KvEntry;
pub use read::{KvCursor, KvScanResult, ScopedKvEntry};
