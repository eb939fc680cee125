//! The storage engine: named copy-on-write trees, a single-writer commit pipeline
//! with group commit, a hash-chained redo WAL, checkpoints, recovery and snapshots.
//!
//! It knows trees and bytes, not rows or schemas: the WAL records tree-level effects
//! (put/delete of bytes in a named tree, tree create/drop), so recovery needs no
//! catalog of the layers above (DESIGN §2).
//!
//! ```no_run
//! use aedb_storage::{Database, Finality, StorageOptions};
//! # fn main() -> Result<(), aedb_storage::StorageError> {
//! let db = Database::open("/tmp/kv-demo", StorageOptions::default())?;
//! let mut txn = db.begin_write()?;
//! txn.open_tree("users")?.insert(b"alice", b"admin")?;
//! txn.commit(Finality::Durable)?;
//! let read = db.begin_read()?;
//! assert_eq!(read.open_tree("users")?.get(b"alice")?.as_deref(), Some(&b"admin"[..]));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
// Every public item is documented: CI's clippy turns this into an error.
#![warn(missing_docs)]

// The layers below, for tools and tests that reach through this crate.
pub use aedb_btree as btree;
pub use aedb_pager as pager;

// Module order, bottom up (no module imports one above it): error, options,
// catalog, effects, wal, snapshot, stats, notify → readers, group_commit, core → engine
// → open, checkpoint, large, txn, read, coalesce → database → nonblocking, check, backup,
// compact.
pub mod backup;
mod catalog;
mod check;
mod checkpoint;
mod coalesce;
mod compact;
mod core;
mod database;
pub mod effects;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod group_commit;
mod large;
mod nonblocking;
mod notify;
mod open;
mod options;
mod read;
mod readers;
mod snapshot;
mod stats;
mod txn;
pub mod wal;

pub use check::DatabaseCheck;
pub use compact::CompactReport;
pub use database::Database;
pub use error::{Result, StorageError};
pub use notify::{CommitEvent, CommitHeads, CommitSubscription};
pub use options::{DurabilityMode, RecoveryMode, StorageOptions};
pub use read::{ReadTransaction, ReadTree, TreeHandle};
pub use snapshot::{CommitResult, Consistency, Finality, RecoveryReport};
pub use stats::EngineStats;
pub use txn::{TreeMut, WriteTransaction};
