//! Order-preserving key encoding: the bytes of encoded values compare (as byte
//! strings) exactly as the values do, and every encoding is self-delimiting, so a
//! composite key sorts column by column and a column prefix is a byte prefix.
//!
//! Per type (FORMAT.md "Table keys"):
//! - U8: 1 byte; U64: 8 bytes big-endian; Integer/Timestamp: 8 bytes big-endian
//!   with the sign bit flipped; Boolean: 1 byte (0/1).
//! - Float: the IEEE bits, all flipped when negative, else the sign bit flipped
//!   (this is `f64::total_cmp` order).
//! - U256: 32 bytes big-endian; I256: same with the sign bit flipped.
//! - Text/Json/Blob: the bytes with 0x00 written as 0x00 0xFF, then 0x00 0x00.
//!
//! Index keys put a presence byte before each column (0x00 NULL, 0x01 value) so
//! NULLs sort first; primary-key columns are never NULL and carry no marker.
#![forbid(unsafe_code)]

use crate::vocab::types::{ColumnType, Value};

/// Appends the encoding of `value` (which must be of type `ty`; callers coerce and
/// check first). Returns false for a mismatched or NULL value.
pub fn encode_value(out: &mut Vec<u8>, value: &Value) -> bool {
    match value {
        Value::U8(v) => out.push(*v),
        Value::U64(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Integer(v) | Value::Timestamp(v) => {
            out.extend_from_slice(&((*v as u64) ^ (1 << 63)).to_be_bytes())
        }
        Value::Boolean(v) => out.push(u8::from(*v)),
        Value::Float(v) => {
            let bits = v.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits ^ (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::U256(b) => out.extend_from_slice(b),
        Value::I256(b) => {
            out.push(b[0] ^ 0x80);
            out.extend_from_slice(&b[1..]);
        }
        Value::Text(s) | Value::Json(s) => encode_bytes(out, s.as_bytes()),
        Value::Blob(b) => encode_bytes(out, b),
        Value::Null => return false,
    }
    true
}

fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Appends an index column: presence marker, then the value.
pub fn encode_nullable(out: &mut Vec<u8>, value: &Value) {
    if value.is_null() {
        out.push(0);
    } else {
        out.push(1);
        encode_value(out, value);
    }
}

/// The encoded primary key of values already checked against the key's types.
pub fn encode_key(values: &[&Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 9);
    for v in values {
        encode_value(&mut out, v);
    }
    out
}

/// Length of the encoding of one value of type `ty` at the start of `bytes`, or
/// `None` if `bytes` is not a complete encoding (a damaged key).
pub fn encoded_len(ty: ColumnType, bytes: &[u8]) -> Option<usize> {
    let fixed = match ty {
        ColumnType::U8 | ColumnType::Boolean => 1,
        ColumnType::U64 | ColumnType::Integer | ColumnType::Timestamp | ColumnType::Float => 8,
        ColumnType::U256 | ColumnType::I256 => 32,
        ColumnType::Text | ColumnType::Json | ColumnType::Blob => {
            let mut i = 0;
            while i + 1 < bytes.len() {
                if bytes[i] == 0 {
                    match bytes[i + 1] {
                        0 => return Some(i + 2),
                        0xFF => i += 2,
                        _ => return None,
                    }
                } else {
                    i += 1;
                }
            }
            return None;
        }
    };
    (bytes.len() >= fixed).then_some(fixed)
}

/// Length of a nullable (index) column encoding at the start of `bytes`.
pub fn encoded_nullable_len(ty: ColumnType, bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        0 => Some(1),
        1 => encoded_len(ty, &bytes[1..]).map(|n| n + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(encode_value(&mut out, v));
        out
    }

    fn sample(ty: ColumnType, rng: &mut fastrand::Rng) -> Value {
        match ty {
            ColumnType::U8 => Value::U8(rng.u8(..)),
            ColumnType::U64 => Value::U64(if rng.bool() {
                rng.u64(..)
            } else {
                rng.u64(..4)
            }),
            ColumnType::Integer => Value::Integer(if rng.bool() {
                rng.i64(..)
            } else {
                rng.i64(-3..3)
            }),
            ColumnType::Timestamp => Value::Timestamp(rng.i64(..)),
            ColumnType::Boolean => Value::Boolean(rng.bool()),
            ColumnType::Float => Value::Float(match rng.u8(..6) {
                0 => f64::from_bits(rng.u64(..)),
                1 => -0.0,
                2 => 0.0,
                _ => (rng.f64() - 0.5) * 1e6,
            }),
            ColumnType::U256 | ColumnType::I256 => {
                let mut b = [0u8; 32];
                for x in b.iter_mut().skip(rng.usize(..32)) {
                    *x = rng.u8(..);
                }
                if ty == ColumnType::U256 {
                    Value::U256(b)
                } else {
                    Value::I256(b)
                }
            }
            ColumnType::Text | ColumnType::Json | ColumnType::Blob => {
                let bytes: Vec<u8> = (0..rng.usize(..5))
                    .map(|_| [0u8, 1, b'a', 0xFF][rng.usize(..4)])
                    .collect();
                match ty {
                    ColumnType::Blob => Value::Blob(bytes),
                    _ => {
                        let s: String = bytes
                            .iter()
                            .map(|b| if *b == 0xFF { 'z' } else { *b as char })
                            .collect();
                        if ty == ColumnType::Text {
                            Value::Text(s)
                        } else {
                            Value::Json(s)
                        }
                    }
                }
            }
        }
    }

    /// Composite keys of two columns compare as the value pairs do, and their
    /// lengths decode back.
    #[test]
    fn encoding_preserves_order_column_by_column() {
        let seed = aedb_pager::sim::test_seed("key_order", 0x006b_6579);
        let mut rng = fastrand::Rng::with_seed(seed);
        for &t1 in &ColumnType::ALL {
            for &t2 in &ColumnType::ALL {
                for _ in 0..200 {
                    let a = (sample(t1, &mut rng), sample(t2, &mut rng));
                    let b = (sample(t1, &mut rng), sample(t2, &mut rng));
                    let ka = encode_key(&[&a.0, &a.1]);
                    let kb = encode_key(&[&b.0, &b.1]);
                    assert_eq!(a.cmp(&b), ka.cmp(&kb), "{a:?} vs {b:?} (seed {seed})");
                    let n1 = encoded_len(t1, &ka).expect("first column decodes");
                    assert_eq!(
                        n1 + encoded_len(t2, &ka[n1..]).expect("second column decodes"),
                        ka.len()
                    );
                }
            }
        }
    }

    #[test]
    fn nulls_sort_first_in_index_columns() {
        let mut a = Vec::new();
        encode_nullable(&mut a, &Value::Null);
        let mut b = Vec::new();
        encode_nullable(&mut b, &Value::Integer(i64::MIN));
        assert!(a < b);
        assert_eq!(encoded_nullable_len(ColumnType::Integer, &b), Some(9));
        assert_eq!(encoded_nullable_len(ColumnType::Integer, &a), Some(1));
        assert_eq!(
            encoded_len(ColumnType::Text, &[b'a', 0, 7]),
            None,
            "a bad escape is refused"
        );
        assert!(enc(&Value::Text("a".into())) < enc(&Value::Text("a\0".into())));
    }
}
