//! `aedb`: an embedded storage engine. The layers below are re-exported for tools
//! and tests; the `AedbInstance` facade arrives with issue #6.
#![forbid(unsafe_code)]

pub use aedb_btree as btree;
pub use aedb_pager as pager;
