//! Typed repository helpers over queries (the seed README's `aedb::repository`,
//! with aedb 0.1.9's names).
//!
//! A [`RepositoryContext`] binds an instance to a project and scope, an
//! optional caller (whose grants and read policies then apply to every call)
//! and default query options. Rows become the application's own types through
//! [`TryFromRow`], written by hand with the typed column readers ([`text_at`],
//! [`i64_at`], …), each of which names the column and what it held when a row
//! does not fit. Pages carry the cursor of the next page; a page with its
//! total counts the query's rows on the snapshot the page was read from.
//!
//! ```no_run
//! use aedb::catalog::types::Row;
//! use aedb::query::plan::Query;
//! use aedb::repository::{PageRequest, RepositoryContext, RowDecodeError, TryFromRow, i64_at, text_at};
//!
//! struct User {
//!     id: i64,
//!     name: String,
//! }
//!
//! impl TryFromRow for User {
//!     fn try_from_row(row: Row) -> Result<Self, RowDecodeError> {
//!         Ok(User {
//!             id: i64_at(&row, 0, "id")?,
//!             name: text_at(&row, 1, "name")?.to_string(),
//!         })
//!     }
//! }
//!
//! # async fn demo(db: &aedb::AedbInstance) -> Result<(), aedb::repository::RepositoryError> {
//! let repo = RepositoryContext::new(db, "demo", "app");
//! let query = Query::select(&["id", "name"]).from("users");
//! let page = repo.query_page::<User>(query, PageRequest::new(50)).await?;
//! for user in &page.items {
//!     println!("{} {}", user.id, user.name);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod context;
mod decode;
mod page;

pub use context::{RepositoryContext, RepositoryError};
pub use decode::{
    RowDecodeError, TryFromRow, bool_at, decode_rows, i64_at, text_at, timestamp_at, u64_at,
    u256_at,
};
pub use page::{Page, PageRequest, PageWithTotal};
