//! Rebuilding a table whose shape no alteration reaches (primary key, column
//! order, a column's type or nullability): its rows are read, converted into
//! the declared shape, and written into the table created again, all in the
//! plan's one write transaction.
//!
//! Invariant: no row is dropped and no value altered. A value converts only
//! when the new type holds it exactly (integers across widths and signedness
//! in range, integral floats up to 2^53, text to valid JSON and back); a value
//! that does not, a NULL for a non-nullable column, or two rows meeting on the
//! new primary key fail the whole plan with an error naming the table, the
//! column and the row.

use crate::catalog::types::ColumnType;
use crate::catalog::{DdlOperation, TableInfo};
use crate::commit::context::WriteCtx;
use crate::commit::mutation::Mutation;
use crate::error::AedbError;
use crate::table::write::all_rows;
use crate::vocab::types::{Row, Value, show_values};

use super::spec::TableSpec;

/// Largest magnitude a float holds every integer up to.
const FLOAT_EXACT: i128 = 1 << 53;

/// An integer-like value as an i128, when it fits.
fn as_i128(v: &Value) -> Option<i128> {
    match v {
        Value::U8(x) => Some(i128::from(*x)),
        Value::U64(x) => Some(i128::from(*x)),
        Value::Integer(x) | Value::Timestamp(x) => Some(i128::from(*x)),
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() <= FLOAT_EXACT as f64 => {
            Some(*f as i128)
        }
        Value::U256(b) => {
            let (high, low) = b.split_at(16);
            let low = i128::from_be_bytes(low.try_into().ok()?);
            (high.iter().all(|&x| x == 0) && low >= 0).then_some(low)
        }
        Value::I256(b) => {
            let (high, low) = b.split_at(16);
            let low = i128::from_be_bytes(low.try_into().ok()?);
            let sign = if low < 0 { 0xff } else { 0 };
            high.iter().all(|&x| x == sign).then_some(low)
        }
        _ => None,
    }
}

/// `n` as a value of type `to`, when `to` holds it exactly.
fn from_i128(n: i128, to: ColumnType) -> Option<Value> {
    let wide = |sign: u8| {
        let mut b = [sign; 32];
        b[16..].copy_from_slice(&n.to_be_bytes());
        b
    };
    match to {
        ColumnType::U8 => u8::try_from(n).ok().map(Value::U8),
        ColumnType::U64 => u64::try_from(n).ok().map(Value::U64),
        ColumnType::Integer => i64::try_from(n).ok().map(Value::Integer),
        ColumnType::Timestamp => i64::try_from(n).ok().map(Value::Timestamp),
        ColumnType::Float => (n.abs() <= FLOAT_EXACT).then_some(Value::Float(n as f64)),
        ColumnType::U256 => (n >= 0).then(|| Value::U256(wide(0))),
        ColumnType::I256 => Some(Value::I256(wide(if n < 0 { 0xff } else { 0 }))),
        _ => None,
    }
}

/// `v` as a value of type `to`, when `to` holds it exactly.
pub(crate) fn convert(v: &Value, to: ColumnType) -> Option<Value> {
    if matches!(v, Value::Null) || v.column_type() == Some(to) {
        return Some(v.clone());
    }
    match (v, to) {
        (Value::Json(s), ColumnType::Text) => Some(Value::Text(s.clone())),
        (Value::Text(s), ColumnType::Json) => serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .map(|_| Value::Json(s.clone())),
        _ => as_i128(v).and_then(|n| from_i128(n, to)),
    }
}

/// Rebuilds `t` as `spec` declares it (see the module's invariant); returns
/// the rows copied.
pub(crate) fn rebuild(
    ctx: &mut WriteCtx<'_, '_>,
    t: &TableInfo,
    spec: &TableSpec,
) -> Result<u64, AedbError> {
    let schema = t.schema();
    let (project, scope, table) = (&schema.project_id, &schema.scope_id, &schema.table_name);
    let rows = all_rows(ctx.cat.txn, t)?;
    // Where each declared column's value comes from in a stored row.
    let sources: Vec<Option<usize>> = spec.columns.iter().map(|c| t.column(&c.name)).collect();
    let mut converted = Vec::with_capacity(rows.len());
    for (_, old) in rows {
        let mut new = Vec::with_capacity(spec.columns.len());
        for (c, source) in spec.columns.iter().zip(&sources) {
            let value = source.map_or(Value::Null, |i| old[i].clone());
            let Some(value) = convert(&value, c.col_type) else {
                let key: Vec<&Value> = schema
                    .primary_key_indices()
                    .iter()
                    .map(|&i| &old[i])
                    .collect();
                return Err(AedbError::Validation(format!(
                    "rebuilding table '{table}': column '{}' of the row with key {} holds {value}, which {:?} cannot hold exactly",
                    c.name,
                    show_values(&key),
                    c.col_type
                )));
            };
            if !c.nullable && value == Value::Null {
                return Err(AedbError::NotNullViolation {
                    table: table.clone(),
                    column: c.name.clone(),
                });
            }
            new.push(value);
        }
        converted.push(new);
    }
    let count = converted.len() as u64;
    let mut spec = spec.clone();
    if spec.owner_id.is_none() {
        spec.owner_id = schema.owner_id.clone();
    }
    let mut ddl = spec.to_ddl(project, scope)?;
    // Indexes last: built once from the copied rows.
    let indexes = ddl.split_off(1 + spec.constraints.len());
    ctx.apply(Mutation::Ddl(DdlOperation::DropTable {
        project_id: project.clone(),
        scope_id: scope.clone(),
        table_name: table.clone(),
        if_exists: false,
    }))?;
    for op in ddl {
        ctx.apply(Mutation::Ddl(op))?;
    }
    let key_positions: Vec<usize> = spec
        .primary_key
        .iter()
        .filter_map(|k| spec.columns.iter().position(|c| &c.name == k))
        .collect();
    for values in converted {
        let primary_key = key_positions.iter().map(|&i| values[i].clone()).collect();
        ctx.apply(Mutation::Insert {
            project_id: project.clone(),
            scope_id: scope.clone(),
            table_name: table.clone(),
            primary_key,
            row: Row::from_values(values),
        })?;
    }
    for op in indexes {
        ctx.apply(Mutation::Ddl(op))?;
    }
    Ok(count)
}
