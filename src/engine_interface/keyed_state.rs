//! Keyed state: a table with a one-column primary key, read and written by
//! that key. Reads go to the table's trees on a snapshot; an index page skips
//! its offset and a rank is found from the B+tree's subtree counts, both in
//! O(log n), never by walking the rows before them. Writes are ordinary
//! mutations through the one write path; `keyed_state_update` commits only if
//! the row is still the version it read.

use std::ops::Bound;
use std::sync::Arc;

use crate::auth::{Call, authorize};
use crate::catalog::{TableInfo, index_tree};
use crate::commit::mutation::Mutation;
use crate::commit::tx::{Conditions, ReadKey, ReadSet, ReadSetEntry};
use crate::commit::{CommitFinality, CommitResult};
use crate::engine_interface::KeyedStateQueryRequest;
use crate::error::{AedbError, ResourceType};
use crate::instance::{AedbInstance, WritePlan, engine};
use crate::permission::Need;
use crate::query::plan::ConsistencyMode;
use crate::storage::{ReadTransaction, ReadTree};
use crate::table::key::encode_nullable;
use crate::table::write::{coerce_cell, pk_from_values};
use crate::table::{decode_versioned, index_entry, missing_tree, pk_of_index_entry};
use crate::vocab::types::{Row, Value};

/// A keyed-state table on a snapshot the caller may read.
pub(crate) struct KeyedSnapshot {
    pub(crate) txn: ReadTransaction,
    pub(crate) table: Arc<TableInfo>,
}

impl KeyedSnapshot {
    /// The row under `key` and the seq of the commit that last wrote it.
    pub(crate) fn row(&self, key: &Value) -> Result<Option<(u64, Row)>, AedbError> {
        let pk = pk_from_values(&self.table, std::slice::from_ref(key))?;
        self.stored(&self.rows()?, &pk)
    }

    /// The table's rows tree on the snapshot.
    fn rows(&self) -> Result<ReadTree<'_>, AedbError> {
        let name = &self.table.rows_tree;
        let h = self
            .txn
            .tree_handle(name)
            .map_err(|e| missing_tree(name, e))?;
        Ok(self.txn.tree(h)?)
    }

    /// The row under the encoded key `pk` in `rows`, with its version.
    fn stored(&self, rows: &ReadTree<'_>, pk: &[u8]) -> Result<Option<(u64, Row)>, AedbError> {
        match rows.get(pk)? {
            Some(b) => {
                let (version, values) = decode_versioned(&self.table, pk, &b)?;
                Ok(Some((version, Row::from_values(values))))
            }
            None => Ok(None),
        }
    }

    fn index(&self, name: &str) -> Result<usize, AedbError> {
        self.table
            .record
            .indexes
            .iter()
            .position(|ix| ix.def.index_name == name)
            .ok_or_else(|| {
                AedbError::not_found(ResourceType::Index, format!("{}.{name}", self.table.name()))
            })
    }

    /// The encoded leading columns of index `i`.
    fn index_prefix(&self, i: usize, prefix: &[Value]) -> Result<Vec<u8>, AedbError> {
        let t = &self.table;
        let cols = &t.index_columns[i];
        if prefix.len() > cols.len() {
            return Err(AedbError::Validation(format!(
                "index {:?} of {} has {} columns; a prefix of {} values was given",
                t.record.indexes[i].def.index_name,
                t.name(),
                cols.len(),
                prefix.len()
            )));
        }
        let mut out = Vec::new();
        for (v, &c) in prefix.iter().zip(cols) {
            encode_nullable(&mut out, &coerce_cell(t, c, v)?);
        }
        Ok(out)
    }

    fn index_tree(&self, i: usize) -> Result<ReadTree<'_>, AedbError> {
        let name = index_tree(self.table.record.indexes[i].id);
        let h = self
            .txn
            .tree_handle(&name)
            .map_err(|e| missing_tree(&name, e))?;
        Ok(self.txn.tree(h)?)
    }

    /// Up to `limit` rows in index order whose leading columns are `prefix`,
    /// after the first `offset` of them.
    pub(crate) fn index_page(&self, req: &KeyedStateQueryRequest) -> Result<Vec<Row>, AedbError> {
        let i = self.index(&req.index_name)?;
        let prefix = self.index_prefix(i, &req.prefix)?;
        let tree = self.index_tree(i)?;
        // Resolved once for the whole page, not per row.
        let rows_tree = self.rows()?;
        // Keys below the prefix, then the offset: the first entry to return.
        let start = tree.rank(&prefix)?.saturating_add(req.offset as u64);
        let Some((first, _)) = tree.nth(start)? else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        let range = (Bound::Included(&first[..]), Bound::Unbounded);
        for entry in tree.range(&range)? {
            let (k, v) = entry?;
            if !k.starts_with(&prefix) || rows.len() >= req.limit {
                break;
            }
            let pk = pk_of_index_entry(&self.table, i, &k, &v)?;
            let (_, row) =
                self.stored(&rows_tree, &pk)?
                    .ok_or_else(|| AedbError::IntegrityError {
                        message: format!(
                            "index {:?} of {} points at a row {pk:02x?} that does not exist",
                            req.index_name,
                            self.table.name()
                        ),
                    })?;
            rows.push(row);
        }
        Ok(rows)
    }

    /// The position of the row under `key` in index `index_name`'s order
    /// (`None`: no such row, or the index leaves it out).
    pub(crate) fn rank(&self, index_name: &str, key: &Value) -> Result<Option<usize>, AedbError> {
        let i = self.index(index_name)?;
        let pk = pk_from_values(&self.table, std::slice::from_ref(key))?;
        let Some((_, row)) = self.row(key)? else {
            return Ok(None);
        };
        let Some((entry, _)) = index_entry(&self.table, i, &row.values, &pk)? else {
            return Ok(None);
        };
        Ok(Some(self.index_tree(i)?.rank(&entry)? as usize))
    }
}

impl AedbInstance {
    /// The snapshot `consistency` names and keyed state `keyed_state` on it,
    /// if `call` may read it; `op` names the operation in errors.
    pub(crate) fn keyed_snapshot(
        &self,
        call: &Call<'_>,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        consistency: ConsistencyMode,
    ) -> Result<KeyedSnapshot, AedbError> {
        let txn = self.read_at(consistency).map_err(engine)?;
        let cat = self.catalog_of(&txn)?;
        let need = Need::TableRead {
            project: project_id,
            scope: scope_id,
            table: keyed_state,
        };
        authorize(&cat, call, &need)?;
        let table = cat.table(project_id, scope_id, keyed_state)?.clone();
        keyed(&table, call.name)?;
        Ok(KeyedSnapshot { txn, table })
    }

    /// The row of keyed state `keyed_state` under `key`.
    pub async fn keyed_state_read(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        key: Value,
        consistency: ConsistencyMode,
    ) -> Result<Option<Row>, AedbError> {
        let call = self.call("keyed_state_read", None);
        let r = self
            .keyed_snapshot(&call, project_id, scope_id, keyed_state, consistency)
            .and_then(|s| s.row(&key))
            .map(|r| r.map(|(_, row)| row));
        self.audited(&call, r).await
    }

    /// One column (`field`) of the row under `key`.
    pub async fn keyed_state_read_field(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        key: Value,
        field: &str,
        consistency: ConsistencyMode,
    ) -> Result<Option<Value>, AedbError> {
        let call = self.call("keyed_state_read_field", None);
        let r = (|| {
            let s = self.keyed_snapshot(&call, project_id, scope_id, keyed_state, consistency)?;
            let col = s.table.schema().column_index(field).ok_or_else(|| {
                AedbError::Validation(format!(
                    "keyed state {} has no column {field:?}",
                    s.table.name()
                ))
            })?;
            Ok(s.row(&key)?.map(|(_, mut row)| row.values.swap_remove(col)))
        })();
        self.audited(&call, r).await
    }

    /// Writes (adds or replaces) the row under `key`, durably. The row's key
    /// column must hold `key`.
    pub async fn keyed_state_write(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        key: Value,
        value: Row,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("keyed_state_write", None);
        let m = Mutation::Upsert {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: keyed_state.into(),
            primary_key: vec![key],
            row: value,
        };
        self.commit_durable(call, m).await
    }

    /// Removes the row under `key` (if any), durably.
    pub async fn keyed_state_delete(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        key: Value,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("keyed_state_delete", None);
        let m = Mutation::Delete {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: keyed_state.into(),
            primary_key: vec![key],
        };
        self.commit_durable(call, m).await
    }

    /// Reads the row under `key`, passes it to `update_fn` and commits what
    /// it returns (a row: write it; `None`: delete it), durably, only if the
    /// row is still the version read: a concurrent change is `Conflict`, so
    /// no update is lost. An error from `update_fn` commits nothing.
    pub async fn keyed_state_update<F>(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        key: Value,
        update_fn: F,
    ) -> Result<CommitResult, AedbError>
    where
        F: FnOnce(Option<Row>) -> Result<Option<Row>, AedbError>,
    {
        let call = self.call("keyed_state_update", None);
        let at = ConsistencyMode::AtLatest;
        let read = self
            .keyed_snapshot(&call, project_id, scope_id, keyed_state, at)
            .and_then(|s| Ok((s.row(&key)?, s.txn.seq())));
        let (current, seq) = self.audited(&call, read).await?;
        let (version, row) = match current {
            Some((v, row)) => (v, Some(row)),
            None => (0, None),
        };
        let m = match update_fn(row)? {
            Some(row) => Mutation::Upsert {
                project_id: project_id.into(),
                scope_id: scope_id.into(),
                table_name: keyed_state.into(),
                primary_key: vec![key.clone()],
                row,
            },
            None => Mutation::Delete {
                project_id: project_id.into(),
                scope_id: scope_id.into(),
                table_name: keyed_state.into(),
                primary_key: vec![key.clone()],
            },
        };
        let read_set = ReadSet {
            points: vec![row_read(project_id, scope_id, keyed_state, key, version)],
            ranges: Vec::new(),
        };
        let plan = WritePlan {
            mutations: vec![m],
            conditions: Conditions {
                read_set,
                base_seq: seq,
                ..Conditions::default()
            },
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: None,
            compose: None,
        };
        self.write_planned(call, plan).await
    }

    /// Up to `req.limit` rows in index `req.index_name`'s order whose leading
    /// columns are `req.prefix`, after the first `req.offset` (found in
    /// O(log n)). `limit` is at most `max_scan_rows`.
    pub async fn keyed_state_query_index(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        req: KeyedStateQueryRequest,
        consistency: ConsistencyMode,
    ) -> Result<Vec<Row>, AedbError> {
        let call = self.call("keyed_state_query_index", None);
        self.query_index_for(call, (project_id, scope_id, keyed_state), req, consistency)
            .await
    }

    /// `keyed_state_query_index` for `call`.
    pub(crate) async fn query_index_for(
        &self,
        call: Call<'_>,
        (project_id, scope_id, keyed_state): (&str, &str, &str),
        req: KeyedStateQueryRequest,
        consistency: ConsistencyMode,
    ) -> Result<Vec<Row>, AedbError> {
        let max = self.config().max_scan_rows;
        if req.limit > max {
            return Err(AedbError::Validation(format!(
                "{}: limit {} exceeds max_scan_rows = {max}",
                call.name, req.limit
            )));
        }
        let r = self
            .keyed_snapshot(&call, project_id, scope_id, keyed_state, consistency)
            .and_then(|s| s.index_page(&req));
        self.audited(&call, r).await
    }

    /// The position (0-based) of the row under `key` in index `index_name`'s
    /// order, in O(log n); `None` when there is no such row or the index
    /// leaves it out (a partial index, a NULL in a unique one).
    pub async fn keyed_state_index_rank(
        &self,
        project_id: &str,
        scope_id: &str,
        keyed_state: &str,
        index_name: &str,
        key: Value,
        consistency: ConsistencyMode,
    ) -> Result<Option<usize>, AedbError> {
        let call = self.call("keyed_state_index_rank", None);
        let r = self
            .keyed_snapshot(&call, project_id, scope_id, keyed_state, consistency)
            .and_then(|s| s.rank(index_name, &key));
        self.audited(&call, r).await
    }
}

/// Keyed state is a table with a one-column primary key.
fn keyed(t: &TableInfo, call: &str) -> Result<(), AedbError> {
    if t.pk.len() != 1 {
        return Err(AedbError::Validation(format!(
            "{call}: keyed state needs a one-column primary key; table {} has {}",
            t.name(),
            t.pk.len()
        )));
    }
    Ok(())
}

/// A read-set entry for the row under `key`, read at `version` (0: absent).
pub(crate) fn row_read(
    project_id: &str,
    scope_id: &str,
    keyed_state: &str,
    key: Value,
    version: u64,
) -> ReadSetEntry {
    ReadSetEntry {
        key: ReadKey::TableRow {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: keyed_state.into(),
            primary_key: vec![key],
        },
        version_at_read: version,
    }
}
