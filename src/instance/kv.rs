//! KV reads: gets and scans of a scope's KV space, with 0.1.9's signatures
//! (the caller last; `*_no_auth` without one, checked like any plain call:
//! refused by a production or secure instance). Every read picks its snapshot,
//! then asks `auth` on that snapshot's catalog before it looks at a key.

use std::ops::Bound;

use crate::auth::{Call, authorize};
use crate::btree::prefix_successor;
use crate::catalog::{Catalog, DEFAULT_SCOPE_ID, kv_tree};
use crate::error::{AedbError, QueryError};
use crate::instance::{AedbInstance, engine};
use crate::kv::numeric::counter_shard_storage_key;
use crate::kv::read::{get, range_prefix, resume, scan};
use crate::kv::{KvCursor, KvEntry, KvScanResult, ScopedKvEntry};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;
use crate::storage::{ReadTransaction, StorageError, TreeHandle};

/// A scope's KV tree on a snapshot: its handle and name, `None` before the
/// scope's first KV write.
type Space = Option<(TreeHandle, String)>;

impl AedbInstance {
    /// The snapshot a KV read uses: a continuing scan's cursor's, else the
    /// consistency mode's.
    fn kv_snapshot(
        &self,
        consistency: ConsistencyMode,
        cursor: Option<&KvCursor>,
    ) -> Result<ReadTransaction, QueryError> {
        match cursor {
            Some(c) => self.read_at(ConsistencyMode::AtSeq(c.snapshot_seq)),
            None => self.read_at(consistency),
        }
    }

    fn kv_space(
        txn: &ReadTransaction,
        cat: &Catalog,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Space, QueryError> {
        let name = kv_tree(cat.scope(project_id, scope_id)?.id);
        match txn.tree_handle(&name) {
            Ok(h) => Ok(Some((h, name))),
            Err(StorageError::TreeNotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `read` on the snapshot once `call` may do what `need` says there.
    async fn kv_read<T>(
        &self,
        call: Call<'_>,
        snapshot: Result<ReadTransaction, QueryError>,
        need: Need<'_>,
        read: impl FnOnce(&ReadTransaction, &Catalog) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        let r = snapshot.and_then(|txn| {
            let cat = self.catalog_of(&txn)?;
            authorize(&cat, &call, &need)?;
            read(&txn, &cat)
        });
        self.audited_query(&call, r).await
    }

    async fn kv_get_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
    ) -> Result<Option<KvEntry>, QueryError> {
        let need = Need::KvRead {
            project: project_id,
            scope: scope_id,
            key,
        };
        let snapshot = self.read_at(consistency);
        self.kv_read(call, snapshot, need, |txn, cat| {
            let space = Self::kv_space(txn, cat, project_id, scope_id)?;
            get(txn, space.as_ref().map(|(h, n)| (*h, n.as_str())), key)
        })
        .await
    }

    /// The entry under `key`, read as `caller` (needs `KvRead` reaching it).
    pub async fn kv_get(
        &self,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<Option<KvEntry>, QueryError> {
        let call = self.call_by("kv_get", Some(caller));
        self.kv_get_for(call, project_id, scope_id, key, consistency)
            .await
    }

    /// `kv_get` in the project's default scope (`app`).
    pub async fn kv_get_default_scope(
        &self,
        project_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<Option<KvEntry>, QueryError> {
        let call = self.call_by("kv_get_default_scope", Some(caller));
        self.kv_get_for(call, project_id, DEFAULT_SCOPE_ID, key, consistency)
            .await
    }

    /// `kv_get` without a caller (an open instance trusts its process).
    pub async fn kv_get_no_auth(
        &self,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
    ) -> Result<Option<KvEntry>, QueryError> {
        let call = self.call("kv_get_no_auth", None);
        self.kv_get_for(call, project_id, scope_id, key, consistency)
            .await
    }

    async fn kv_get_many_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        keys: &[Vec<u8>],
        consistency: ConsistencyMode,
    ) -> Result<Vec<Option<KvEntry>>, QueryError> {
        let max = self.config().max_scan_rows;
        if keys.len() > max {
            return Err(QueryError::Engine(AedbError::Validation(format!(
                "{} keys in one get_many exceed max_scan_rows = {max}",
                keys.len()
            ))));
        }
        let r = self.read_at(consistency).and_then(|txn| {
            let cat = self.catalog_of(&txn)?;
            for key in keys {
                let need = Need::KvRead {
                    project: project_id,
                    scope: scope_id,
                    key,
                };
                authorize(&cat, &call, &need)?;
            }
            let space = Self::kv_space(&txn, &cat, project_id, scope_id)?;
            let space = space.as_ref().map(|(h, n)| (*h, n.as_str()));
            keys.iter().map(|k| get(&txn, space, k)).collect()
        });
        self.audited_query(&call, r).await
    }

    /// The entries under `keys`, in order, from one snapshot (at most
    /// `max_scan_rows` keys), read as `caller`.
    pub async fn kv_get_many(
        &self,
        project_id: &str,
        scope_id: &str,
        keys: &[Vec<u8>],
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<Vec<Option<KvEntry>>, QueryError> {
        let call = self.call_by("kv_get_many", Some(caller));
        self.kv_get_many_for(call, project_id, scope_id, keys, consistency)
            .await
    }

    /// `kv_get_many` without a caller.
    pub async fn kv_get_many_no_auth(
        &self,
        project_id: &str,
        scope_id: &str,
        keys: &[Vec<u8>],
        consistency: ConsistencyMode,
    ) -> Result<Vec<Option<KvEntry>>, QueryError> {
        let call = self.call("kv_get_many_no_auth", None);
        self.kv_get_many_for(call, project_id, scope_id, keys, consistency)
            .await
    }

    /// One page of the keys in `(lo, hi)`, all of which start with `prefix`,
    /// read as `call` may (it needs `KvRead` reaching every key under
    /// `prefix`).
    #[allow(clippy::too_many_arguments)]
    async fn kv_scan_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        (prefix, lo, hi): (&[u8], Bound<&[u8]>, Bound<&[u8]>),
        limit: u64,
        cursor: Option<KvCursor>,
        consistency: ConsistencyMode,
    ) -> Result<KvScanResult, QueryError> {
        let need = Need::KvScan {
            project: project_id,
            scope: scope_id,
            prefix,
        };
        let page = limit.min(self.config().max_scan_rows as u64) as usize;
        if page == 0 {
            // A page of nothing could never move a cursor forward.
            return Err(QueryError::invalid("a KV scan's limit must be at least 1"));
        }
        let snapshot = self.kv_snapshot(consistency, cursor.as_ref());
        self.kv_read(call, snapshot, need, |txn, cat| {
            let space = Self::kv_space(txn, cat, project_id, scope_id)?;
            let space = space.as_ref().map(|(h, n)| (*h, n.as_str()));
            let (entries, truncated) = scan(txn, space, resume(lo, cursor.as_ref()), hi, page)?;
            let cursor = match entries.last() {
                Some((k, _)) if truncated => Some(KvCursor {
                    snapshot_seq: txn.seq(),
                    last_key: k.clone(),
                    page_size: limit,
                }),
                _ => None,
            };
            Ok(KvScanResult {
                entries,
                cursor,
                snapshot_seq: txn.seq(),
                truncated,
            })
        })
        .await
    }

    /// One page (at most `limit`, and at most `max_scan_rows`) of the keys
    /// starting with `prefix`, read as `caller`; pass the result's cursor to
    /// continue on the same snapshot.
    #[allow(clippy::too_many_arguments)]
    pub async fn kv_scan_prefix(
        &self,
        project_id: &str,
        scope_id: &str,
        prefix: &[u8],
        limit: u64,
        cursor: Option<KvCursor>,
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<KvScanResult, QueryError> {
        let call = self.call_by("kv_scan_prefix", Some(caller));
        let end = prefix_successor(prefix);
        let hi = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let range = (prefix, Bound::Included(prefix), hi);
        self.kv_scan_for(
            call,
            project_id,
            scope_id,
            range,
            limit,
            cursor,
            consistency,
        )
        .await
    }

    /// `kv_scan_prefix` in the project's default scope (`app`).
    pub async fn kv_scan_prefix_default_scope(
        &self,
        project_id: &str,
        prefix: &[u8],
        limit: u64,
        cursor: Option<KvCursor>,
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<KvScanResult, QueryError> {
        self.kv_scan_prefix(
            project_id,
            DEFAULT_SCOPE_ID,
            prefix,
            limit,
            cursor,
            consistency,
            caller,
        )
        .await
    }

    /// The first page of the keys starting with `prefix`, without a caller.
    pub async fn kv_scan_prefix_no_auth(
        &self,
        project_id: &str,
        scope_id: &str,
        prefix: &[u8],
        limit: u64,
        consistency: ConsistencyMode,
    ) -> Result<Vec<(Vec<u8>, KvEntry)>, QueryError> {
        let call = self.call("kv_scan_prefix_no_auth", None);
        let end = prefix_successor(prefix);
        let hi = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let range = (prefix, Bound::Included(prefix), hi);
        self.kv_scan_for(call, project_id, scope_id, range, limit, None, consistency)
            .await
            .map(|r| r.entries)
    }

    /// One page of the keys between `start` and `end`, read as `caller` (who
    /// needs `KvRead` over the bounds' common prefix: an open bound needs the
    /// whole scope).
    #[allow(clippy::too_many_arguments)]
    pub async fn kv_scan_range(
        &self,
        project_id: &str,
        scope_id: &str,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        limit: u64,
        cursor: Option<KvCursor>,
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<KvScanResult, QueryError> {
        let call = self.call_by("kv_scan_range", Some(caller));
        let (lo, hi) = (
            start.as_ref().map(Vec::as_slice),
            end.as_ref().map(Vec::as_slice),
        );
        let range = (range_prefix(lo, hi), lo, hi);
        self.kv_scan_for(
            call,
            project_id,
            scope_id,
            range,
            limit,
            cursor,
            consistency,
        )
        .await
    }

    /// The keys starting with `prefix` in every scope of the project that
    /// `caller` may scan them in, ordered by scope then key; at most `limit`
    /// (and `max_scan_rows`) in all. Denied if it may scan none.
    pub async fn kv_scan_all_scopes(
        &self,
        project_id: &str,
        prefix: &[u8],
        limit: u64,
        consistency: ConsistencyMode,
        caller: &CallerContext,
    ) -> Result<Vec<ScopedKvEntry>, QueryError> {
        let call = self.call_by("kv_scan_all_scopes", Some(caller));
        let page = limit.min(self.config().max_scan_rows as u64) as usize;
        let r = self.read_at(consistency).and_then(|txn| {
            let cat = self.catalog_of(&txn)?;
            cat.project(project_id)?;
            let scopes: Vec<&str> = cat
                .scopes
                .keys()
                .filter(|(p, _)| p == project_id)
                .map(|(_, s)| s.as_str())
                .collect();
            let mut denial = None;
            let mut readable = Vec::new();
            for scope in scopes {
                let need = Need::KvScan {
                    project: project_id,
                    scope,
                    prefix,
                };
                match authorize(&cat, &call, &need) {
                    Ok(()) => readable.push(scope),
                    Err(e) => denial = denial.or(Some(e)),
                }
            }
            if readable.is_empty() {
                return match denial {
                    Some(e) => Err(e.into()),
                    None => Ok(Vec::new()),
                };
            }
            let end = prefix_successor(prefix);
            let hi = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let mut out = Vec::new();
            for scope in readable {
                let space = Self::kv_space(&txn, &cat, project_id, scope)?;
                let space = space.as_ref().map(|(h, n)| (*h, n.as_str()));
                let left = page - out.len();
                let (entries, _) = scan(&txn, space, Bound::Included(prefix), hi, left)?;
                out.extend(entries.into_iter().map(|(key, e)| ScopedKvEntry {
                    scope_id: scope.to_string(),
                    key,
                    value: e.value,
                    version: e.version,
                }));
                if out.len() == page {
                    break;
                }
            }
            Ok(out)
        });
        self.audited_query(&call, r).await
    }

    async fn counter_read_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        shard_count: u16,
        consistency: ConsistencyMode,
    ) -> Result<u64, AedbError> {
        let need = Need::KvRead {
            project: project_id,
            scope: scope_id,
            key,
        };
        let snapshot = self.read_at(consistency);
        self.kv_read(call, snapshot, need, |txn, cat| {
            let space = Self::kv_space(txn, cat, project_id, scope_id)?;
            let space = space.as_ref().map(|(h, n)| (*h, n.as_str()));
            let mut total = 0u64;
            for shard in 0..shard_count.max(1) {
                let k = counter_shard_storage_key(key, shard);
                let Some(e) = get(txn, space, &k)? else {
                    continue;
                };
                let v: [u8; 8] = e.value.as_slice().try_into().map_err(|_| {
                    AedbError::Validation(format!(
                        "counter shard {k:?} holds {} bytes, not a U64",
                        e.value.len()
                    ))
                })?;
                total = total
                    .checked_add(u64::from_be_bytes(v))
                    .ok_or(AedbError::Overflow)?;
            }
            Ok(total)
        })
        .await
        .map_err(engine)
    }

    /// The sum of counter `key`'s `shard_count` shards, from one snapshot.
    pub async fn counter_read_sharded(
        &self,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        shard_count: u16,
        consistency: ConsistencyMode,
    ) -> Result<u64, AedbError> {
        let call = self.call("counter_read_sharded", None);
        self.counter_read_for(call, project_id, scope_id, key, shard_count, consistency)
            .await
    }

    /// `counter_read_sharded` for `caller` (needs `KvRead` reaching `key`).
    pub async fn counter_read_sharded_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        shard_count: u16,
        consistency: ConsistencyMode,
    ) -> Result<u64, AedbError> {
        let call = self.call_by("counter_read_sharded_as", Some(caller));
        self.counter_read_for(call, project_id, scope_id, key, shard_count, consistency)
            .await
    }
}
