//! `aedb`: an embedded storage engine. [`storage`] is the engine (a transactional,
//! durable, ordered key-value store of named trees); the `AedbInstance` facade of
//! tables, KV spaces, accumulators and events arrives with issue #6. The layers below
//! are re-exported for tools and tests.
#![forbid(unsafe_code)]

pub mod storage;

pub use aedb_btree as btree;
pub use aedb_pager as pager;
