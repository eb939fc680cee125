//! Row encoding: a MessagePack array with one native cell per column (int, float,
//! str, bin, bool or nil). The cell carries no type tag; the table's column types
//! say what it is, which keeps a row close to the size of its data. A row shorter
//! than the schema (written before `AddColumn`) reads the missing cells as NULL.
#![forbid(unsafe_code)]

use std::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserializer, Serialize};

use crate::vocab::types::{ColumnType, Value};

struct RowOut<'a>(&'a [Value]);
struct CellOut<'a>(&'a Value);

impl Serialize for RowOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&CellOut(v))?;
        }
        seq.end()
    }
}

impl Serialize for CellOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Text(v) | Value::Json(v) => s.serialize_str(v),
            Value::U8(v) => s.serialize_u8(*v),
            Value::U64(v) => s.serialize_u64(*v),
            Value::Integer(v) | Value::Timestamp(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Boolean(v) => s.serialize_bool(*v),
            Value::U256(b) | Value::I256(b) => s.serialize_bytes(b),
            Value::Blob(b) => s.serialize_bytes(b),
            Value::Null => s.serialize_unit(),
        }
    }
}

/// Bytes before a stored row's cells: the seq of the commit that last wrote
/// the row (u64 BE; FORMAT "Rows").
pub(crate) const VERSION_BYTES: usize = 8;

/// A row as stored: its version, then its cells.
pub(crate) fn encode_stored(version: u64, values: &[Value]) -> Vec<u8> {
    let mut out = version.to_be_bytes().to_vec();
    out.extend(encode_row(values));
    out
}

/// A stored row's version and the bytes of its cells.
pub(crate) fn split_version(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    let (head, cells) = bytes.split_at_checked(VERSION_BYTES).ok_or_else(|| {
        format!(
            "{} bytes, shorter than the {VERSION_BYTES}-byte version",
            bytes.len()
        )
    })?;
    let mut v = [0u8; VERSION_BYTES];
    v.copy_from_slice(head);
    Ok((u64::from_be_bytes(v), cells))
}

/// Encodes a row whose values were checked against the schema.
pub fn encode_row(values: &[Value]) -> Vec<u8> {
    // Serializing plain values into a Vec cannot fail.
    rmp_serde::to_vec(&RowOut(values)).unwrap_or_default()
}

/// Decodes a row of a table with these column types; a cell that does not fit its
/// column's type is an error naming the column position.
pub fn decode_row(types: &[ColumnType], bytes: &[u8]) -> Result<Vec<Value>, String> {
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    let mut values = RowSeed { types }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())?;
    values.resize(types.len(), Value::Null);
    Ok(values)
}

struct RowSeed<'a> {
    types: &'a [ColumnType],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a row of at most {} cells", self.types.len())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::with_capacity(self.types.len());
        while out.len() < self.types.len() {
            let ty = self.types[out.len()];
            match seq.next_element_seed(CellSeed {
                ty,
                column: out.len(),
            })? {
                Some(v) => out.push(v),
                None => return Ok(out),
            }
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(format!(
                "row has more than {} cells",
                self.types.len()
            )));
        }
        Ok(out)
    }
}

struct CellSeed {
    ty: ColumnType,
    column: usize,
}

impl CellSeed {
    fn wrong<E: de::Error>(&self, got: &str) -> E {
        E::custom(format!(
            "cell {} holds {got}, column type is {}",
            self.column, self.ty
        ))
    }

    fn int<E: de::Error>(&self, v: i128) -> Result<Value, E> {
        let out = match self.ty {
            ColumnType::U8 => u8::try_from(v).ok().map(Value::U8),
            ColumnType::U64 => u64::try_from(v).ok().map(Value::U64),
            ColumnType::Integer => i64::try_from(v).ok().map(Value::Integer),
            ColumnType::Timestamp => i64::try_from(v).ok().map(Value::Timestamp),
            _ => None,
        };
        out.ok_or_else(|| self.wrong(&format!("integer {v}")))
    }
}

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} cell", self.ty)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        match self.ty {
            ColumnType::Boolean => Ok(Value::Boolean(v)),
            _ => Err(self.wrong("a boolean")),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.int(i128::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.int(i128::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match self.ty {
            ColumnType::Float => Ok(Value::Float(v)),
            _ => Err(self.wrong("a float")),
        }
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Value, E> {
        self.visit_f64(f64::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.ty {
            ColumnType::Text => Ok(Value::Text(v.to_owned())),
            ColumnType::Json => Ok(Value::Json(v.to_owned())),
            _ => Err(self.wrong("text")),
        }
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        match self.ty {
            ColumnType::Blob => Ok(Value::Blob(v.to_vec())),
            ColumnType::U256 | ColumnType::I256 => {
                let b: [u8; 32] = v
                    .try_into()
                    .map_err(|_| self.wrong(&format!("{} bytes", v.len())))?;
                Ok(if self.ty == ColumnType::U256 {
                    Value::U256(b)
                } else {
                    Value::I256(b)
                })
            }
            _ => Err(self.wrong("bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_short_rows_pad_with_null() {
        let types = [
            ColumnType::Integer,
            ColumnType::Text,
            ColumnType::U256,
            ColumnType::Float,
            ColumnType::Blob,
            ColumnType::U8,
        ];
        let row = vec![
            Value::Integer(-5),
            Value::Text("x\0y".into()),
            Value::U256([9; 32]),
            Value::Float(1.5),
            Value::Null,
            Value::U8(7),
        ];
        let bytes = encode_row(&row);
        assert_eq!(decode_row(&types, &bytes).unwrap(), row);
        let mut wider = types.to_vec();
        wider.push(ColumnType::Boolean);
        let decoded = decode_row(&wider, &bytes).unwrap();
        assert_eq!(decoded.last(), Some(&Value::Null));
        assert!(
            decode_row(&types[..2], &bytes).is_err(),
            "extra cells are refused"
        );
        let wrong = [ColumnType::Text, ColumnType::Text];
        let err = decode_row(&wrong, &bytes).unwrap_err();
        assert!(err.contains("cell 0"), "{err}");
        for cut in 0..bytes.len() {
            let _ = decode_row(&types, &bytes[..cut]);
        }
    }
}
