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
// Every public item is documented: CI's clippy turns this into an error.
#![warn(missing_docs)]

// The facade's rooms, bottom to top (`tests/layers.rs` keeps imports
// pointing down): vocab → error, config → eval → permission → catalog → auth
// → table → kv → accumulator → event → feed → query → commit → migration →
// instance → engine_interface → repository → declarative; `storage` is below them
// all. Public modules are the paths the seed README names, the change feed
// (`feed`), the engine (`storage`) and doc-hidden harness doors
// (`tests/public_api.rs`).
mod accumulator;
mod auth;
pub mod backup;
pub mod catalog;
pub mod checkpoint;
pub mod commit;
pub mod config;
pub mod declarative;
pub mod engine_interface;
pub mod error;
mod eval;
mod event;
pub mod feed;
mod instance;
mod kv;
mod metrics;
pub mod migration;
pub mod permission;
pub mod query;
pub mod recovery;
pub mod repository;
#[doc(hidden)]
pub mod table;
mod vocab;

pub use aedb_btree as btree;
pub use aedb_pager as pager;
/// The storage engine (its own crate, `aedb-storage`): our redb-like door.
pub use aedb_storage as storage;

pub use accumulator::{AccumulatorExposureMetrics, AccumulatorLag};
pub use commit::{CommitFinality, CommitResult, IdempotencyOutcome};
pub use error::{AedbError, AedbErrorCode};
pub use event::{
    EventOutboxRecord, EventStreamPage, ReactiveProcessorHealth, ReactiveProcessorInfo,
    ReactiveProcessorLag, ReactiveProcessorOptions, ReactiveProcessorRuntimeStatus,
    ReactiveProcessorSloStatus,
};
pub use instance::{AedbInstance, ArchiveStatus, ChangeSubscription, InvariantReport, ProjectInfo};
pub use metrics::OperationalMetrics;
pub use migration::MigrationReport;
pub use query::QueryResult;
pub use query::plan::{ConsistencyMode, QueryOptions};
