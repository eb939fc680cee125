//! The `table_decode` harness (cargo-fuzz target and `cargo test` replay, RELIABILITY
//! G12): bytes from disk that the facade decodes — a row under some column types,
//! order-preserving keys, a catalog table record and the index keys built from it —
//! must give values or errors, never a panic. Not part of the stable API.
#![forbid(unsafe_code)]

use crate::catalog::{TableInfo, TableRecord};
use crate::table::key::{encoded_len, encoded_nullable_len};
use crate::table::{index_entry, pk_key, pk_of_index_entry, row::decode_row};
use crate::vocab::types::{ColumnType, Value};

/// `data[0]` = number of column types (mod 8), then one byte per type, then the
/// bytes to decode as a row, as keys, and as a catalog table record.
pub fn table_decode(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 8).min(rest.len());
    let (type_bytes, bytes) = rest.split_at(n);
    let types: Vec<ColumnType> = type_bytes
        .iter()
        .map(|b| ColumnType::ALL[usize::from(*b) % ColumnType::ALL.len()])
        .collect();
    let _ = decode_row(&types, bytes);
    let mut at = 0;
    for (i, ty) in types.iter().enumerate() {
        let step = if i % 2 == 0 {
            encoded_len(*ty, &bytes[at..])
        } else {
            encoded_nullable_len(*ty, &bytes[at..])
        };
        match step {
            Some(len) => at += len,
            None => break,
        }
    }
    if let Ok(record) = rmp_serde::from_slice::<TableRecord>(bytes) {
        let t = TableInfo::new(record);
        let values: Vec<Value> = t
            .types
            .iter()
            .map(|ty| Value::Null.coerce_to(*ty).unwrap_or(Value::Null))
            .collect();
        if t.pk.iter().all(|&i| !values[i].is_null()) {
            let _ = pk_key(&t, &values);
        }
        for i in 0..t.record.indexes.len() {
            if let Ok(Some((key, value))) = index_entry(&t, i, &values, b"pk") {
                let _ = pk_of_index_entry(&t, i, &key, &value);
            }
            let _ = pk_of_index_entry(&t, i, bytes, bytes);
        }
    }
}

/// Valid inputs to start from: a row of every column type and a table record with
/// a unique index, a composite index and a partial one.
pub fn sample_inputs() -> Vec<Vec<u8>> {
    use crate::catalog::schema::{ColumnDef, Constraint, IndexDef, IndexType, TableSchema};
    use crate::catalog::{IndexRecord, encode_record};
    use crate::vocab::expr::Expr;
    let row = vec![
        Value::Text("a\0b".into()),
        Value::U8(7),
        Value::U64(u64::MAX),
        Value::Integer(-5),
        Value::Float(-0.5),
        Value::Boolean(true),
        Value::U256([1; 32]),
    ];
    let mut first = vec![7u8, 0, 1, 2, 3, 4, 5, 6];
    first.extend(crate::table::row::encode_row(&row));
    let col = |name: &str, col_type| ColumnDef {
        name: name.into(),
        col_type,
        nullable: name != "id",
    };
    let def = |name: &str, columns: &[&str], index_type, partial_filter| IndexDef {
        project_id: "p".into(),
        scope_id: "app".into(),
        table_name: "t".into(),
        index_name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        index_type,
        partial_filter,
    };
    let record = TableRecord {
        id: 3,
        schema: TableSchema {
            project_id: "p".into(),
            scope_id: "app".into(),
            table_name: "t".into(),
            owner_id: None,
            columns: vec![
                col("id", ColumnType::Integer),
                col("name", ColumnType::Text),
                col("age", ColumnType::U64),
            ],
            primary_key: vec!["id".into()],
            constraints: vec![Constraint::Check {
                name: "c".into(),
                expr: Expr::Gte("age".into(), Value::U64(1)),
            }],
        },
        indexes: vec![
            IndexRecord {
                id: 4,
                def: def("u", &["name"], IndexType::UniqueHash, None),
                constraint: None,
            },
            IndexRecord {
                id: 5,
                def: def("c", &["name", "age"], IndexType::BTree, None),
                constraint: None,
            },
            IndexRecord {
                id: 6,
                def: def(
                    "p",
                    &["age"],
                    IndexType::BTree,
                    Some(Expr::IsNotNull("age".into())),
                ),
                constraint: None,
            },
        ],
        created_at_micros: 1,
    };
    let mut second = vec![0u8];
    second.extend(encode_record(&record).unwrap_or_default());
    vec![first, second]
}
