//! The shared vocabulary of the facade, its bottom room: what a table holds
//! (`ColumnType`, `Value`, `Row`), predicates over it (`Expr`, `col`, `lit`),
//! how a predicate is compiled and evaluated against a row layout (`eval`), and
//! checked 256-bit arithmetic (`numeric`).
//!
//! Invariants:
//! 1. This room imports nothing of the facade but the leaves `error` and
//!    `config` (checked by `tests/layers.rs`): catalog, table, query and commit
//!    all speak it, so it must not know any of them.
//! 2. It is not a public path itself. Users reach these types at their 0.1.9
//!    paths, `aedb::catalog::types` and `aedb::query::plan` (re-exports).

pub mod eval;
pub mod expr;
pub mod numeric;
pub mod types;
