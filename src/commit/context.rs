//! `WriteCtx`: the facade's write transaction, composed of a `CatalogTxn` (the
//! engine's write transaction plus the catalog as it sees it) and the size
//! limits writes are checked against. Every mutation (DDL or data) runs on one
//! of these; an error anywhere drops it, which leaves nothing behind.
//!
//! Invariant: `WriteCtx` only composes. Row work is `table::write` (on the write
//! transaction and a `TableInfo`), DDL is `commit::ddl` (on the `CatalogTxn`),
//! and the dispatch between them is `commit::apply`; no other folder has an
//! `impl WriteCtx`.

use std::sync::Arc;

use crate::auth::Call;
use crate::catalog::{Catalog, CatalogCache, CatalogTxn};
use crate::error::AedbError;
use crate::storage::WriteTransaction;

/// Size limits a write is checked against (from `AedbConfig`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteLimits {
    pub(crate) max_table_value_bytes: usize,
    pub(crate) max_kv_key_bytes: usize,
    pub(crate) max_kv_value_bytes: usize,
    pub(crate) max_batch_rows: usize,
    /// Most rows a predicated mutation without a limit may match.
    pub(crate) max_scan_rows: usize,
    /// Retention of the audit tables: most rows, and oldest age (0: no bound).
    pub(crate) audit_max_rows: usize,
    pub(crate) audit_max_age_secs: u64,
    /// Retention of the event outbox (`None`: that bound does not apply).
    pub(crate) event_retention_commits: Option<u64>,
    pub(crate) event_retention_secs: Option<u64>,
}

pub(crate) struct WriteCtx<'t, 'db> {
    pub(crate) cat: CatalogTxn<'t, 'db>,
    pub(crate) limits: WriteLimits,
    /// The public call and its caller: every mutation is authorized for it.
    pub(crate) call: Call<'static>,
    /// Audit rows written so far in this transaction (their key's second part).
    pub(crate) audit_rows: u64,
    /// Set when an `Accumulate` was a repeat of the delta committed at this
    /// seq (a no-op), with how many were: a commit of nothing but repeats is
    /// reported as a duplicate.
    pub(crate) replayed: Option<u64>,
    pub(crate) replays: usize,
    /// Events emitted so far in this commit (the next one's position).
    pub(crate) events: u32,
}

impl<'t, 'db> WriteCtx<'t, 'db> {
    pub(crate) fn new(
        txn: &'t mut WriteTransaction<'db>,
        cache: &CatalogCache,
        limits: WriteLimits,
        call: Call<'static>,
    ) -> Result<Self, AedbError> {
        Ok(WriteCtx {
            cat: CatalogTxn::new(txn, cache)?,
            limits,
            call,
            audit_rows: 0,
            replayed: None,
            replays: 0,
            events: 0,
        })
    }

    /// The changed catalog (stamped with this transaction's seq), if any DDL ran,
    /// for the cache once the commit succeeds.
    pub(crate) fn finish(self) -> Result<Option<Arc<Catalog>>, AedbError> {
        self.cat.finish()
    }
}
