//! Queries: the API (`plan`), the planner, the executor, predicates,
//! aggregates and joins.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod error;
pub mod eval;
pub mod exec;
pub mod join;
pub mod plan;
pub mod planner;
pub mod source;

pub use error::QueryError;
pub use exec::QueryResult;
