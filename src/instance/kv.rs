//! The KV space of each scope: byte keys to byte values, ordered.

use std::ops::Bound;

use crate::auth::{Call, authorize};
use crate::btree::prefix_successor;
use crate::catalog::kv_tree;
use crate::commit::mutation::Mutation;
use crate::commit::{CommitFinality, CommitResult};
use crate::error::AedbError;
use crate::error::QueryError;
use crate::instance::AedbInstance;
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;
use crate::storage::{ReadTransaction, StorageError, TreeHandle};

/// A key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

impl AedbInstance {
    /// Sets `key` to `value` in the scope's KV space (durable on return).
    pub async fn kv_set(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("kv_set", None);
        self.kv_set_for(call, project_id, scope_id, key, value)
            .await
    }

    /// `kv_set` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_set_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("kv_set_as", Some(caller));
        self.kv_set_for(call, project_id, scope_id, key, value)
            .await
    }

    async fn kv_set_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        self.write(
            call,
            vec![Mutation::KvSet {
                project_id: project_id.into(),
                scope_id: scope_id.into(),
                key,
                value,
            }],
            CommitFinality::Durable,
            false,
        )
        .await
    }

    /// Removes `key` (no error if absent).
    pub async fn kv_del(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("kv_del", None);
        self.kv_del_for(call, project_id, scope_id, key).await
    }

    /// `kv_del` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_del_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("kv_del_as", Some(caller));
        self.kv_del_for(call, project_id, scope_id, key).await
    }

    async fn kv_del_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        self.write(
            call,
            vec![Mutation::KvDel {
                project_id: project_id.into(),
                scope_id: scope_id.into(),
                key,
            }],
            CommitFinality::Durable,
            false,
        )
        .await
    }

    /// The scope's KV tree, or `None` before its first write.
    fn kv_space(
        &self,
        txn: &ReadTransaction,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Option<TreeHandle>, QueryError> {
        let cat = self.catalog_of(txn)?;
        match txn.tree_handle(&kv_tree(cat.scope(project_id, scope_id)?.id)) {
            Ok(h) => Ok(Some(h)),
            Err(StorageError::TreeNotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The value under `key`.
    pub async fn kv_get(
        &self,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
    ) -> Result<Option<Vec<u8>>, QueryError> {
        let call = self.call("kv_get", None);
        self.kv_get_for(call, project_id, scope_id, key, consistency)
            .await
    }

    /// `kv_get` for `caller` (needs `KvRead` reaching the key).
    pub async fn kv_get_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
    ) -> Result<Option<Vec<u8>>, QueryError> {
        let call = self.call_by("kv_get_as", Some(caller));
        self.kv_get_for(call, project_id, scope_id, key, consistency)
            .await
    }

    async fn kv_get_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        key: &[u8],
        consistency: ConsistencyMode,
    ) -> Result<Option<Vec<u8>>, QueryError> {
        let need = Need::KvRead {
            project: project_id,
            scope: scope_id,
            key,
        };
        let r = (|| {
            let txn = self.read_at(consistency)?;
            authorize(&*self.catalog_of(&txn)?, &call, &need)?;
            match self.kv_space(&txn, project_id, scope_id)? {
                Some(h) => Ok(txn.tree(h)?.get(key)?.map(|v| v.into_owned())),
                None => Ok(None),
            }
        })();
        self.audited_query(&call, r).await
    }

    /// Up to `limit` entries (and at most `max_scan_rows`) whose key starts with
    /// `prefix`, after `start_after` if given (pass the last key of the previous
    /// page to paginate).
    pub async fn kv_scan_prefix(
        &self,
        project_id: &str,
        scope_id: &str,
        prefix: &[u8],
        limit: usize,
        start_after: Option<&[u8]>,
        consistency: ConsistencyMode,
    ) -> Result<Vec<KvPair>, QueryError> {
        let call = self.call("kv_scan_prefix", None);
        let r = self.kv_scan_for(
            &call,
            project_id,
            scope_id,
            prefix,
            limit,
            start_after,
            consistency,
        );
        self.audited_query(&call, r).await
    }

    /// `kv_scan_prefix` for `caller`: needs `KvRead` reaching every key under
    /// `prefix` (a grant's prefix must be a prefix of `prefix`).
    #[allow(clippy::too_many_arguments)]
    pub async fn kv_scan_prefix_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        prefix: &[u8],
        limit: usize,
        start_after: Option<&[u8]>,
        consistency: ConsistencyMode,
    ) -> Result<Vec<KvPair>, QueryError> {
        let call = self.call_by("kv_scan_prefix_as", Some(caller));
        let r = self.kv_scan_for(
            &call,
            project_id,
            scope_id,
            prefix,
            limit,
            start_after,
            consistency,
        );
        self.audited_query(&call, r).await
    }

    #[allow(clippy::too_many_arguments)]
    fn kv_scan_for(
        &self,
        call: &Call<'_>,
        project_id: &str,
        scope_id: &str,
        prefix: &[u8],
        limit: usize,
        start_after: Option<&[u8]>,
        consistency: ConsistencyMode,
    ) -> Result<Vec<KvPair>, QueryError> {
        let txn = self.read_at(consistency)?;
        let need = Need::KvScan {
            project: project_id,
            scope: scope_id,
            prefix,
        };
        authorize(&*self.catalog_of(&txn)?, call, &need)?;
        let Some(h) = self.kv_space(&txn, project_id, scope_id)? else {
            return Ok(Vec::new());
        };
        let end = prefix_successor(prefix);
        let lo = match start_after {
            Some(k) if k >= prefix => Bound::Excluded(k),
            _ => Bound::Included(prefix),
        };
        let hi = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::new();
        // A page holds at most max_scan_rows entries, like an unlimited query;
        // continue with the last key as `start_after`.
        let limit = limit.min(self.config().max_scan_rows);
        if limit == 0 {
            return Ok(out);
        }
        for entry in txn.tree(h)?.range(&(lo, hi))? {
            let (k, v) = entry?;
            out.push((k.into_owned(), v.into_owned()));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}
