//! The shared vocabulary of the facade, its bottom room: what a table holds
//! (`ColumnType`, `Value`, `Row`), predicates over it (`Expr`, `col`, `lit`),
//! checked 256-bit arithmetic (`numeric`), and read assertions over the state
//! (`assertion`: what an envelope checks, and what a failed check reports in
//! `AedbError::AssertionFailed`). How a predicate is compiled and evaluated
//! is the room above the errors, `eval`.
//!
//! Invariants:
//! 1. This room imports nothing of the facade (checked by `tests/layers.rs`):
//!    the errors, catalog, table, query and commit all speak it, so it must
//!    not know any of them.
//! 2. It is not a public path itself. Users reach these types at their 0.1.9
//!    paths, `aedb::catalog::types` and `aedb::query::plan` (re-exports).

pub mod assertion;
pub mod expr;
pub mod numeric;
pub mod types;

/// Lower-case hex of `bytes` (digests, checksums and cursor keys as text).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
