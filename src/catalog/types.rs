//! `aedb::catalog::types`, the 0.1.9 path of the column types, values and rows.
//! They are shared vocabulary and live in `crate::vocab::types`.

pub use crate::vocab::types::{ColumnType, Row, Value};
