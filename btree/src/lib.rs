//! `aedb-btree`: copy-on-write B+trees over `aedb-pager` pages (issue #4; not built
//! yet). It will see the pager only through its public API.
#![forbid(unsafe_code)]

pub use aedb_pager as pager;
