//! `CatalogTxn`: the catalog as one write transaction sees it. DDL runs on it
//! (`commit::ddl`); data mutations only read its catalog.
//!
//! Invariants:
//! 1. The shared catalog is copied on the transaction's first change
//!    (`catalog_mut`), so readers and the cache never see an uncommitted edit.
//! 2. Every in-memory change is matched by a `_catalog` record written in the same
//!    transaction (`put`/`delete`), and `finish` stamps a changed catalog with
//!    the transaction's seq (`\0v`) and its next tree id (`\0n`).

use std::sync::Arc;

use crate::catalog::{CATALOG_TREE, Catalog, CatalogCache, NEXT_ID_KEY, VERSION_KEY};
use crate::error::AedbError;
use crate::storage::WriteTransaction;

pub(crate) struct CatalogTxn<'t, 'db> {
    pub(crate) txn: &'t mut WriteTransaction<'db>,
    catalog: Arc<Catalog>,
    dirty: bool,
}

impl<'t, 'db> CatalogTxn<'t, 'db> {
    /// The catalog the transaction starts from: the cache's when it certainly
    /// describes the base snapshot, else the stored one.
    pub(crate) fn new(
        txn: &'t mut WriteTransaction<'db>,
        cache: &CatalogCache,
    ) -> Result<Self, AedbError> {
        let base = txn.seq() - 1;
        let catalog = match cache.for_snapshot(base) {
            Some(c) => c,
            None => txn.open_tree(CATALOG_TREE)?.read(|t| cache.at(t))??,
        };
        Ok(CatalogTxn {
            txn,
            catalog,
            dirty: false,
        })
    }

    /// The catalog as this transaction sees it.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The catalog, for changing (copied on the first change of the transaction).
    pub(crate) fn catalog_mut(&mut self) -> &mut Catalog {
        self.dirty = true;
        Arc::make_mut(&mut self.catalog)
    }

    /// Writes a `_catalog` record.
    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), AedbError> {
        self.catalog_mut();
        self.txn.open_tree(CATALOG_TREE)?.insert(key, value)?;
        Ok(())
    }

    /// Deletes a `_catalog` record.
    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), AedbError> {
        self.catalog_mut();
        self.txn.open_tree(CATALOG_TREE)?.remove(key)?;
        Ok(())
    }

    /// A fresh tree id (for a table, index or scope KV space).
    pub(crate) fn alloc_id(&mut self) -> u64 {
        let cat = self.catalog_mut();
        let id = cat.next_id.max(1);
        cat.next_id = id + 1;
        id
    }

    /// Stamps a changed catalog with this transaction's seq; returns it for the
    /// cache once the commit succeeds.
    pub(crate) fn finish(mut self) -> Result<Option<Arc<Catalog>>, AedbError> {
        if !self.dirty {
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
