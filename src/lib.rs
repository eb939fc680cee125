//! `aedb`: an embedded storage engine. [`AedbInstance`] is the door: projects →
//! scopes → typed tables with secondary indexes, KV spaces, queries planned onto
//! tree cursors, transactional commits on a durable redo WAL, and snapshot reads
//! at a chosen consistency. Underneath, [`storage`] is the engine (named
//! copy-on-write B+trees over a checksummed page file, group commit, checkpoints,
//! recovery); its layers are re-exported for tools and tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use aedb::AedbInstance;
//! let db = AedbInstance::open(Default::default(), "/tmp/aedb-demo")?;
//! db.create_project("demo").await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod catalog;
pub mod commit;
pub mod config;
pub mod error;
mod instance;
pub mod query;
pub mod table;

pub use aedb_btree as btree;
pub use aedb_pager as pager;
/// The storage engine (its own crate, `aedb-storage`): our redb-like door.
pub use aedb_storage as storage;

pub use commit::{CommitFinality, CommitResult, IdempotencyOutcome};
pub use error::{AedbError, AedbErrorCode};
pub use instance::{AedbInstance, ProjectInfo};
pub use query::QueryResult;
pub use query::plan::{ConsistencyMode, QueryOptions};
