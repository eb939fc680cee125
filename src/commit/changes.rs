//! Appending a commit's changes to the change log (`crate::feed`), in the same
//! transaction, when the change feed is on.

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::auth::SYSTEM_PROJECT;
use crate::catalog::{Catalog, TableInfo, kv_tree};
use crate::commit::context::WriteCtx;
use crate::error::AedbError;
use crate::feed::log::{CHANGES_TREE, FLOOR_TREE, decode_floor, encode, record_key};
use crate::feed::{ChangeTarget, ChangeValue, CommittedChange};
use crate::kv::KvEntry;
use crate::storage::effects::Effect;
use crate::storage::{ReadTransaction, StorageError};
use crate::table::decode;
use crate::vocab::types::Row;

/// Expired change records one commit deletes at most.
const PRUNE_PER_COMMIT: usize = 256;

/// What a user tree holds.
enum Owner {
    Table(String, String, Arc<TableInfo>),
    Kv(String, String),
}

impl WriteCtx<'_, '_> {
    /// Logs this transaction's net changes to table rows and KV keys (the value
    /// on `before`, the state this commit started from, read with that state's
    /// catalog `before_catalog`, and the value now, read with this
    /// transaction's), then prunes records older than the last `retain`
    /// commits. `floor_if_new` is where the log starts if it has never been
    /// written.
    pub(crate) fn log_changes(
        &mut self,
        before: &ReadTransaction,
        before_catalog: &Catalog,
        retain: u64,
        floor_if_new: u64,
    ) -> Result<(), AedbError> {
        let seq = self.cat.txn.seq();
        let touched = self.touched_keys();
        let owners = tree_owners(self.cat.catalog());
        let old_owners = tree_owners(before_catalog);
        let mut n = 0u32;
        for (tree, key) in touched {
            // A table's rows are decoded with the schema they were written
            // under: a `DropColumn` rewrites them in this very commit.
            let (Some(owner), old_owner) =
                (owners.get(tree.as_slice()), old_owners.get(tree.as_slice()))
            else {
                continue;
            };
            let name = String::from_utf8_lossy(&tree).into_owned();
            let old = match before.tree_handle(&name) {
                Ok(h) => before.tree(h)?.get(&key)?.map(|b| b.into_owned()),
                Err(StorageError::TreeNotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            let new = match self.cat.txn.existing_tree(&name)? {
                Some(mut t) => t.get(&key)?,
                None => None,
            };
            if old == new {
                continue;
            }
            let change = match owner {
                Owner::Table(project, scope, t) => {
                    let old_t = match old_owner {
                        Some(Owner::Table(_, _, old_t)) => old_t,
                        _ => t,
                    };
                    let old = old.map(|b| decode(old_t, &key, &b)).transpose()?;
                    let new = new.map(|b| decode(t, &key, &b)).transpose()?;
                    let Some(any) = new.as_ref().or(old.as_ref()) else {
                        continue;
                    };
                    let primary_key = t.pk.iter().map(|&i| any[i].clone()).collect();
                    let row = |v: Vec<_>| ChangeValue::Row(Row::from_values(v));
                    CommittedChange {
                        seq,
                        project_id: project.clone(),
                        scope_id: scope.clone(),
                        target: ChangeTarget::Row {
                            table_name: t.name().to_string(),
                            primary_key,
                        },
                        old: old.map(row),
                        new: new.map(row),
                    }
                }
                Owner::Kv(project, scope) => {
                    let entry = |b: Vec<u8>| KvEntry::decode(&name, &key, &b).map(ChangeValue::Kv);
                    CommittedChange {
                        seq,
                        project_id: project.clone(),
                        scope_id: scope.clone(),
                        target: ChangeTarget::Kv { key: key.clone() },
                        old: old.map(entry).transpose()?,
                        new: new.map(entry).transpose()?,
                    }
                }
            };
            self.cat
                .txn
                .open_tree(CHANGES_TREE)?
                .insert(&record_key(seq, n), &encode(&change)?)?;
            n += 1;
        }
        self.prune_changes(seq, retain, floor_if_new)
    }

    /// The (tree, key) pairs this transaction put or deleted in user trees,
    /// each once, in the order first touched.
    fn touched_keys(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        // The facade opens storage with `large_commit_bytes: None`: its
        // transactions always log their effects.
        for e in self.cat.txn.effects().unwrap_or_default() {
            let (Effect::Put { tree, key, .. } | Effect::Delete { tree, key }) = e else {
                continue;
            };
            if matches!(tree.first(), Some(b't' | b'k'))
                && seen.insert((tree.as_slice(), key.as_slice()))
            {
                out.push((tree.clone(), key.clone()));
            }
        }
        out
    }

    /// Deletes the oldest records of commits more than `retain` commits back
    /// (a bounded number per commit) and moves the floor past what is gone.
    fn prune_changes(&mut self, seq: u64, retain: u64, floor_if_new: u64) -> Result<(), AedbError> {
        let stored = self.cat.txn.open_tree(FLOOR_TREE)?.get(b"")?;
        let mut floor = match stored {
            Some(b) => decode_floor(&b)?,
            None => floor_if_new,
        };
        let cutoff = seq.saturating_sub(retain);
        let mut log = self.cat.txn.open_tree(CHANGES_TREE)?;
        let oldest: Vec<Vec<u8>> = log
            .entries(Bound::Unbounded, Bound::Unbounded, PRUNE_PER_COMMIT + 1)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let seq_of = |k: &[u8]| {
            k.get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        };
        let mut first_kept = None;
        for (i, k) in oldest.iter().enumerate() {
            let s = seq_of(k).ok_or_else(|| AedbError::IntegrityError {
                message: format!("{CHANGES_TREE} key {k:02x?} is not seq ++ position"),
            })?;
            if s > cutoff || i == PRUNE_PER_COMMIT {
                first_kept = Some(s);
                break;
            }
            log.remove(k)?;
            // The log is now incomplete for `s`.
            floor = floor.max(s + 1);
        }
        if first_kept.is_none_or(|s| s > cutoff) {
            floor = floor.max(cutoff + 1);
        }
        self.cat
            .txn
            .open_tree(FLOOR_TREE)?
            .insert(b"", &floor.to_be_bytes())?;
        Ok(())
    }
}

/// Which table or scope owns each rows and KV tree in `cat` (the engine's own
/// `_system` project is left out).
fn tree_owners(cat: &Catalog) -> HashMap<Vec<u8>, Owner> {
    let mut out = HashMap::new();
    for ((p, s, _), t) in &cat.tables {
        if p != SYSTEM_PROJECT {
            let owner = Owner::Table(p.clone(), s.clone(), t.clone());
            out.insert(t.rows_tree.clone().into_bytes(), owner);
        }
    }
    for ((p, s), scope) in &cat.scopes {
        if p != SYSTEM_PROJECT {
            let owner = Owner::Kv(p.clone(), s.clone());
            out.insert(kv_tree(scope.id).into_bytes(), owner);
        }
    }
    out
}
