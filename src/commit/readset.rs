//! The read set of a mutation: the keys it acts on, at the versions a snapshot
//! holds. `preflight_plan` returns it, so a caller can commit the mutation
//! later in an envelope that fails with `Conflict` if any of them changed
//! (0.1.9's optimistic workflow).

use crate::catalog::{Catalog, kv_tree};
use crate::commit::mutation::Mutation;
use crate::commit::tx::{ReadBound, ReadKey, ReadRange, ReadRangeEntry, ReadSet, ReadSetEntry};
use crate::error::AedbError;
use crate::storage::{ReadTransaction, StorageError};
use crate::table::row::split_version;
use crate::table::write::pk_from_values;
use crate::vocab::types::{Row, Value};

/// The stored version of `key` in tree `tree` on `txn` (0: absent).
fn version(txn: &ReadTransaction, tree: &str, key: &[u8]) -> Result<u64, AedbError> {
    let h = match txn.tree_handle(tree) {
        Ok(h) => h,
        Err(StorageError::TreeNotFound(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    match txn.tree(h)?.get(key)? {
        // KV entries and rows both start with their version.
        Some(b) => Ok(split_version(&b)
            .map_err(|e| AedbError::IntegrityError {
                message: format!("{tree} key {key:02x?}: {e}"),
            })?
            .0),
        None => Ok(0),
    }
}

/// What `m` reads, on `txn` (whose catalog is `cat`): KV keys and rows it
/// names, at their versions; a predicated mutation reads its whole table
/// (a range, conflicting with any change to the table). DDL and sharded
/// counter additions (commutative) read nothing.
pub(crate) fn read_set_of(
    txn: &ReadTransaction,
    cat: &Catalog,
    m: &Mutation,
) -> Result<ReadSet, AedbError> {
    use Mutation as M;
    let mut set = ReadSet::default();
    let kv_key = |p: &String, s: &String, key: &Vec<u8>| -> Result<ReadSetEntry, AedbError> {
        let tree = kv_tree(cat.scope(p, s)?.id);
        Ok(ReadSetEntry {
            version_at_read: version(txn, &tree, key)?,
            key: ReadKey::KvKey {
                project_id: p.clone(),
                scope_id: s.clone(),
                key: key.clone(),
            },
        })
    };
    let row = |p: &str, s: &str, t: &str, pk: Vec<Value>| -> Result<ReadSetEntry, AedbError> {
        let info = cat.table(p, s, t)?;
        let key = pk_from_values(info, &pk)?;
        Ok(ReadSetEntry {
            version_at_read: version(txn, &info.rows_tree, &key)?,
            key: ReadKey::TableRow {
                project_id: p.into(),
                scope_id: s.into(),
                table_name: t.into(),
                primary_key: pk,
            },
        })
    };
    let pk_of = |p: &str, s: &str, t: &str, r: &Row| -> Result<Vec<Value>, AedbError> {
        let info = cat.table(p, s, t)?;
        Ok(info
            .pk
            .iter()
            .map(|&i| r.values.get(i).cloned().unwrap_or(Value::Null))
            .collect())
    };
    match m {
        M::KvSet {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvDel {
            project_id,
            scope_id,
            key,
        }
        | M::KvIncU256 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvDecU256 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvAddU256Ex {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvSubU256Ex {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvMaxU256 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvMinU256 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvMutateU256 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvAddU64Ex {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvSubU64Ex {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvSubIntEx {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvMaxU64 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvMinU64 {
            project_id,
            scope_id,
            key,
            ..
        }
        | M::KvMutateU64 {
            project_id,
            scope_id,
            key,
            ..
        } => set.points.push(kv_key(project_id, scope_id, key)?),
        M::Insert {
            project_id,
            scope_id,
            table_name,
            primary_key,
            ..
        }
        | M::Upsert {
            project_id,
            scope_id,
            table_name,
            primary_key,
            ..
        }
        | M::Delete {
            project_id,
            scope_id,
            table_name,
            primary_key,
        }
        | M::TableIncU256 {
            project_id,
            scope_id,
            table_name,
            primary_key,
            ..
        }
        | M::TableDecU256 {
            project_id,
            scope_id,
            table_name,
            primary_key,
            ..
        } => set
            .points
            .push(row(project_id, scope_id, table_name, primary_key.clone())?),
        M::InsertBatch {
            project_id,
            scope_id,
            table_name,
            rows,
        }
        | M::UpsertBatch {
            project_id,
            scope_id,
            table_name,
            rows,
        }
        | M::UpsertBatchOnConflict {
            project_id,
            scope_id,
            table_name,
            rows,
            ..
        } => {
            for r in rows {
                let pk = pk_of(project_id, scope_id, table_name, r)?;
                set.points.push(row(project_id, scope_id, table_name, pk)?);
            }
        }
        M::UpsertOnConflict {
            project_id,
            scope_id,
            table_name,
            row: r,
            ..
        } => {
            let pk = pk_of(project_id, scope_id, table_name, r)?;
            set.points.push(row(project_id, scope_id, table_name, pk)?);
        }
        M::DeleteWhere {
            project_id,
            scope_id,
            table_name,
            ..
        }
        | M::UpdateWhere {
            project_id,
            scope_id,
            table_name,
            ..
        }
        | M::UpdateWhereExpr {
            project_id,
            scope_id,
            table_name,
            ..
        } => set.ranges.push(ReadRangeEntry {
            range: ReadRange::TableRange {
                project_id: project_id.clone(),
                scope_id: scope_id.clone(),
                table_name: table_name.clone(),
                start: ReadBound::Unbounded,
                end: ReadBound::Unbounded,
            },
            max_version_at_read: txn.seq(),
            structural_version_at_read: txn.seq(),
        }),
        // An accumulator's exactly-once and ordering rules are checked by the
        // commit itself; its state is not a key a caller read.
        M::Ddl(_)
        | M::CounterAdd { .. }
        | M::Accumulate { .. }
        | M::ExposeAccumulator { .. }
        | M::ExposeAccumulatorBatch { .. }
        | M::ReleaseAccumulatorExposure { .. }
        | M::ProjectAccumulator { .. }
        | M::EmitEvent { .. } => {}
    }
    Ok(set)
}
