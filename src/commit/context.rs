//! The facade's write transaction: the engine's write transaction plus the
//! catalog as this transaction sees it. Every mutation (DDL or data) runs on one
//! of these; an error anywhere drops it, which leaves nothing behind.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aedb_btree::{PageSource, Tree};

use crate::catalog::{CATALOG_TREE, Catalog, NEXT_ID_KEY, VERSION_KEY, stored_version};
use crate::error::AedbError;
use crate::storage::WriteTransaction;

/// Size limits a write is checked against (from `AedbConfig`).
#[derive(Debug, Clone, Copy)]
pub struct WriteLimits {
    pub max_table_value_bytes: usize,
    pub max_kv_key_bytes: usize,
    pub max_kv_value_bytes: usize,
    pub max_batch_rows: usize,
    /// Most rows a predicated mutation without a limit may match.
    pub max_scan_rows: usize,
}

/// The newest catalog, shared by readers and writers. Every DDL commit of the
/// database goes through this instance (the directory lock keeps other processes
/// out), so the cached catalog describes every snapshot from its version on, until
/// the next DDL: a DDL commit raises `ddl_in_flight` before it can become visible
/// and lowers it only after publishing its catalog here. A reader that took its
/// snapshot and then sees no DDL in flight can use the cache without reading the
/// `_catalog` tree; otherwise it reads the stored version (`at`).
#[derive(Debug, Default)]
pub struct CatalogCache {
    current: Mutex<Arc<Catalog>>,
    ddl_in_flight: AtomicU64,
}

impl CatalogCache {
    /// A cache holding the catalog stored in `tree` (at open).
    pub fn load<S: PageSource>(tree: &Tree<'_, S>) -> Result<Self, AedbError> {
        Ok(CatalogCache { current: Mutex::new(Arc::new(Catalog::load(tree)?)), ddl_in_flight: AtomicU64::new(0) })
    }

    /// The catalog of a snapshot at `seq` taken before this call, if the cache
    /// certainly describes it.
    pub fn for_snapshot(&self, seq: u64) -> Option<Arc<Catalog>> {
        if self.ddl_in_flight.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (cur.version <= seq).then(|| cur.clone())
    }

    /// The catalog stored in `tree` (a `_catalog` tree of some snapshot).
    pub fn at<S: PageSource>(&self, tree: &Tree<'_, S>) -> Result<Arc<Catalog>, AedbError> {
        let version = stored_version(tree)?;
        {
            let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if cur.version == version {
                return Ok(cur.clone());
            }
        }
        let loaded = Arc::new(Catalog::load(tree)?);
        self.publish(loaded.clone());
        Ok(loaded)
    }

    /// Makes `cat` the cached catalog if it is newer.
    pub fn publish(&self, cat: Arc<Catalog>) {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cat.version > cur.version {
            *cur = cat;
        }
    }

    /// Before a DDL commit can become visible.
    pub fn begin_ddl(&self) {
        self.ddl_in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// After its catalog was published, or after a commit error that left the
    /// engine unpoisoned (nothing was written). A DDL commit that failed after it
    /// may have become visible never calls this: its engine is poisoned, and every
    /// reader of it reads the stored version.
    pub fn end_ddl(&self) {
        self.ddl_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct WriteCtx<'t, 'db> {
    pub txn: &'t mut WriteTransaction<'db>,
    pub catalog: Arc<Catalog>,
    pub catalog_dirty: bool,
    pub limits: WriteLimits,
}

impl<'t, 'db> WriteCtx<'t, 'db> {
    pub fn new(txn: &'t mut WriteTransaction<'db>, cache: &CatalogCache, limits: WriteLimits) -> Result<Self, AedbError> {
        let base = txn.seq() - 1;
        let catalog = match cache.for_snapshot(base) {
            Some(c) => c,
            None => txn.open_tree(CATALOG_TREE)?.read(|t| cache.at(t))??,
        };
        Ok(WriteCtx { txn, catalog, catalog_dirty: false, limits })
    }

    /// The catalog, for changing (copied on the first change of the transaction).
    pub fn catalog_mut(&mut self) -> &mut Catalog {
        self.catalog_dirty = true;
        Arc::make_mut(&mut self.catalog)
    }

    pub fn put_catalog(&mut self, key: &[u8], value: &[u8]) -> Result<(), AedbError> {
        self.catalog_mut();
        self.txn.open_tree(CATALOG_TREE)?.insert(key, value)?;
        Ok(())
    }

    pub fn delete_catalog(&mut self, key: &[u8]) -> Result<(), AedbError> {
        self.catalog_mut();
        self.txn.open_tree(CATALOG_TREE)?.remove(key)?;
        Ok(())
    }

    /// A fresh tree id (for a table, index or scope KV space).
    pub fn alloc_id(&mut self) -> u64 {
        let cat = self.catalog_mut();
        let id = cat.next_id.max(1);
        cat.next_id = id + 1;
        id
    }

    /// Stamps a changed catalog with this transaction's seq; returns it for the
    /// cache once the commit succeeds.
    pub fn finish(mut self) -> Result<Option<Arc<Catalog>>, AedbError> {
        if !self.catalog_dirty {
            return Ok(None);
        }
        let seq = self.txn.seq();
        let next = {
            let cat = Arc::make_mut(&mut self.catalog);
            cat.version = seq;
            cat.next_id
        };
        let mut tree = self.txn.open_tree(CATALOG_TREE)?;
        tree.insert(VERSION_KEY, &seq.to_be_bytes())?;
        tree.insert(NEXT_ID_KEY, &next.to_be_bytes())?;
        Ok(Some(self.catalog))
    }
}
