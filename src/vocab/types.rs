//! Column types, values and rows: what a table holds.
//!
//! `Value` orders first by kind, then within a kind (floats by `total_cmp`), so
//! every value list sorts deterministically; rows compare column by column.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

/// The type of a column.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColumnType {
    /// UTF-8 text, ordered bytewise.
    Text,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 64-bit integer.
    Integer,
    /// 64-bit float (NaN allowed; ordered by `f64::total_cmp`).
    Float,
    /// `true` or `false`; `false` sorts first.
    Boolean,
    /// Unsigned 256-bit integer, 32 bytes big-endian.
    U256,
    /// Signed (two's complement) 256-bit integer, 32 bytes big-endian.
    I256,
    /// Arbitrary bytes, ordered bytewise.
    Blob,
    /// Microseconds (or any i64 unit the application picks) since the epoch.
    Timestamp,
    /// JSON text, stored as given.
    Json,
}

impl ColumnType {
    /// Every column type, in declaration order.
    pub const ALL: [ColumnType; 11] = [
        ColumnType::Text,
        ColumnType::U8,
        ColumnType::U64,
        ColumnType::Integer,
        ColumnType::Float,
        ColumnType::Boolean,
        ColumnType::U256,
        ColumnType::I256,
        ColumnType::Blob,
        ColumnType::Timestamp,
        ColumnType::Json,
    ];
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Value {
    /// UTF-8 text, ordered bytewise; converts to `Json`.
    Text(String),
    /// An unsigned 8-bit integer; converts to `U8`, `U64`, `Integer`,
    /// `Timestamp` or `U256` when the number fits.
    U8(u8),
    /// An unsigned 64-bit integer; converts to `U8`, `U64`, `Integer`,
    /// `Timestamp` or `U256` when the number fits.
    U64(u64),
    /// A signed 64-bit integer; converts to `U8`, `U64`, `Integer`,
    /// `Timestamp` or `U256` when the number fits.
    Integer(i64),
    /// A 64-bit float, ordered by `f64::total_cmp` (NaN included).
    Float(f64),
    /// A boolean; `false` sorts before `true`.
    Boolean(bool),
    /// An unsigned 256-bit integer, 32 bytes big-endian.
    U256([u8; 32]),
    /// A signed 256-bit integer, 32 bytes big-endian two's complement;
    /// ordered as signed.
    I256([u8; 32]),
    /// Raw bytes, ordered bytewise.
    Blob(Vec<u8>),
    /// An i64 instant (microseconds since the epoch, or the application's
    /// unit); converts like `Integer`, but never equals one.
    Timestamp(i64),
    /// JSON text, stored as given and compared as text; converts to `Text`.
    Json(String),
    /// No value. Sorts before every other value (values of different kinds
    /// order by kind); a predicate's comparison with it is false.
    Null,
}

impl Value {
    /// The column type this value belongs to (`None` for `Null`).
    pub fn column_type(&self) -> Option<ColumnType> {
        Some(match self {
            Value::Text(_) => ColumnType::Text,
            Value::U8(_) => ColumnType::U8,
            Value::U64(_) => ColumnType::U64,
            Value::Integer(_) => ColumnType::Integer,
            Value::Float(_) => ColumnType::Float,
            Value::Boolean(_) => ColumnType::Boolean,
            Value::U256(_) => ColumnType::U256,
            Value::I256(_) => ColumnType::I256,
            Value::Blob(_) => ColumnType::Blob,
            Value::Timestamp(_) => ColumnType::Timestamp,
            Value::Json(_) => ColumnType::Json,
            Value::Null => return None,
        })
    }

    /// Whether this is `Value::Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Text(_) => "Text",
            Value::U8(_) => "U8",
            Value::U64(_) => "U64",
            Value::Integer(_) => "Integer",
            Value::Float(_) => "Float",
            Value::Boolean(_) => "Boolean",
            Value::U256(_) => "U256",
            Value::I256(_) => "I256",
            Value::Blob(_) => "Blob",
            Value::Timestamp(_) => "Timestamp",
            Value::Json(_) => "Json",
            Value::Null => "Null",
        }
    }

    /// This value as a value of column type `ty`, converting integers between the
    /// integer types when the number fits; `None` when it cannot be one.
    pub fn coerce_to(&self, ty: ColumnType) -> Option<Value> {
        if self.column_type() == Some(ty) || self.is_null() {
            return Some(self.clone());
        }
        let wide: i128 = match self {
            Value::U8(v) => i128::from(*v),
            Value::U64(v) => i128::from(*v),
            Value::Integer(v) | Value::Timestamp(v) => i128::from(*v),
            Value::Text(s) if ty == ColumnType::Json => return Some(Value::Json(s.clone())),
            Value::Json(s) if ty == ColumnType::Text => return Some(Value::Text(s.clone())),
            _ => return None,
        };
        match ty {
            ColumnType::U8 => u8::try_from(wide).ok().map(Value::U8),
            ColumnType::U64 => u64::try_from(wide).ok().map(Value::U64),
            ColumnType::Integer => i64::try_from(wide).ok().map(Value::Integer),
            ColumnType::Timestamp => i64::try_from(wide).ok().map(Value::Timestamp),
            ColumnType::U256 => u64::try_from(wide).ok().map(|v| {
                let mut b = [0u8; 32];
                b[24..].copy_from_slice(&v.to_be_bytes());
                Value::U256(b)
            }),
            _ => None,
        }
    }

    fn kind_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Boolean(_) => 1,
            Value::U8(_) => 2,
            Value::U64(_) => 3,
            Value::Integer(_) => 4,
            Value::U256(_) => 5,
            Value::I256(_) => 6,
            Value::Timestamp(_) => 7,
            Value::Float(_) => 8,
            Value::Text(_) => 9,
            Value::Json(_) => 10,
            Value::Blob(_) => 11,
        }
    }
}

/// I256 bytes compare as signed: flip the sign bit, then compare unsigned.
fn i256_cmp(a: &[u8; 32], b: &[u8; 32]) -> Ordering {
    (a[0] ^ 0x80)
        .cmp(&(b[0] ^ 0x80))
        .then_with(|| a[1..].cmp(&b[1..]))
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            (Value::U8(a), Value::U8(b)) => a.cmp(b),
            (Value::U64(a), Value::U64(b)) => a.cmp(b),
            (Value::Integer(a), Value::Integer(b)) | (Value::Timestamp(a), Value::Timestamp(b)) => {
                a.cmp(b)
            }
            (Value::U256(a), Value::U256(b)) => a.cmp(b),
            (Value::I256(a), Value::I256(b)) => i256_cmp(a, b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::Text(a), Value::Text(b)) | (Value::Json(a), Value::Json(b)) => a.cmp(b),
            (Value::Blob(a), Value::Blob(b)) => a.cmp(b),
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind_rank().hash(state);
        match self {
            Value::Text(v) | Value::Json(v) => v.hash(state),
            Value::U8(v) => v.hash(state),
            Value::U64(v) => v.hash(state),
            Value::Integer(v) | Value::Timestamp(v) => v.hash(state),
            Value::Float(v) => v.to_bits().hash(state),
            Value::Boolean(v) => v.hash(state),
            Value::U256(v) | Value::I256(v) => v.hash(state),
            Value::Blob(v) => v.hash(state),
            Value::Null => {}
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) | Value::Json(s) => write!(f, "{s:?}"),
            Value::U8(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::Integer(v) | Value::Timestamp(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Boolean(v) => write!(f, "{v}"),
            Value::U256(b) | Value::I256(b) => write_hex(f, b),
            Value::Blob(b) => write_hex(f, b),
            Value::Null => write!(f, "NULL"),
        }
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    write!(f, "0x")?;
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// A table row: one value per column, in the table's column order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Row {
    /// One value per column, in the table's column order; a row shorter than
    /// the table is padded with NULL when written.
    pub values: Vec<Value>,
}

impl Row {
    /// A row of `values`, in the table's column order.
    pub fn from_values(values: Vec<Value>) -> Self {
        Row { values }
    }
}

/// Renders values for error messages: `(1, "alice")`.
pub fn show_values(values: &[&Value]) -> String {
    let parts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    format!("({})", parts.join(", "))
}
