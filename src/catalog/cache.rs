//! `CatalogCache`: the newest catalog, shared by readers and writers, and
//! `DdlGuard`, the DDL-in-flight protocol that keeps it honest.
//!
//! Invariants (facade invariant 2, ARCHITECTURE.md):
//! 1. Every DDL commit of the database goes through this instance (the directory
//!    lock keeps other processes out), so the cached catalog describes every
//!    snapshot from its version on, until the next DDL.
//! 2. A DDL commit holds a `DdlGuard` from before it can become visible until it
//!    has published its catalog (`DdlGuard::publish`). While any guard lives,
//!    `for_snapshot` answers `None` and readers read the stored version (`at`).
//! 3. A guard dropped without publishing lowers the counter only if the engine
//!    is not poisoned: an unpoisoned failure wrote nothing, while a poisoned one
//!    may have made the DDL visible, so the counter stays raised and every
//!    reader of that engine reads the stored version.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aedb_btree::{PageSource, Tree};

use crate::catalog::{Catalog, stored_version};
use crate::error::AedbError;
use crate::storage::Database;

#[derive(Debug, Default)]
pub(crate) struct CatalogCache {
    current: Mutex<Arc<Catalog>>,
    ddl_in_flight: AtomicU64,
}

impl CatalogCache {
    /// A cache holding the catalog stored in `tree` (at open).
    pub(crate) fn load<S: PageSource>(tree: &Tree<'_, S>) -> Result<Self, AedbError> {
        let current = Mutex::new(Arc::new(Catalog::load(tree)?));
        Ok(CatalogCache {
            current,
            ddl_in_flight: AtomicU64::new(0),
        })
    }

    /// The catalog of a snapshot at `seq` taken before this call, if the cache
    /// certainly describes it.
    pub(crate) fn for_snapshot(&self, seq: u64) -> Option<Arc<Catalog>> {
        if self.ddl_in_flight.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (cur.version <= seq).then(|| cur.clone())
    }

    /// The catalog stored in `tree` (a `_catalog` tree of some snapshot).
    pub(crate) fn at<S: PageSource>(&self, tree: &Tree<'_, S>) -> Result<Arc<Catalog>, AedbError> {
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
    fn publish(&self, cat: Arc<Catalog>) {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if cat.version > cur.version {
            *cur = cat;
        }
    }

    /// Raises the DDL-in-flight counter until the guard publishes or drops
    /// (invariants 2 and 3). Call it before the DDL commit can become visible.
    pub(crate) fn begin_ddl<'a>(&'a self, db: &'a Database) -> DdlGuard<'a> {
        self.ddl_in_flight.fetch_add(1, Ordering::SeqCst);
        DdlGuard {
            cache: self,
            db,
            raised: true,
        }
    }

    fn end_ddl(&self) {
        self.ddl_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A DDL commit in flight; see the module's invariants 2 and 3.
#[must_use = "dropping the guard ends the DDL without publishing its catalog"]
pub(crate) struct DdlGuard<'a> {
    cache: &'a CatalogCache,
    db: &'a Database,
    raised: bool,
}

impl DdlGuard<'_> {
    /// After the commit succeeded: publishes its catalog, then lowers the counter.
    pub(crate) fn publish(mut self, cat: Arc<Catalog>) {
        self.cache.publish(cat);
        self.cache.end_ddl();
        self.raised = false;
    }
}

impl Drop for DdlGuard<'_> {
    fn drop(&mut self) {
        if self.raised && !self.db.is_poisoned() {
            self.cache.end_ddl();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::CatalogCache;
    use crate::catalog::Catalog;
    use crate::storage::{Database, StorageOptions};

    #[test]
    fn a_ddl_guard_hides_the_cache_until_it_publishes_or_drops() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), StorageOptions::default()).unwrap();
        let cache = CatalogCache::default();
        assert!(cache.for_snapshot(0).is_some());
        let guard = cache.begin_ddl(&db);
        assert!(
            cache.for_snapshot(0).is_none(),
            "a DDL in flight hides the cache"
        );
        drop(guard);
        assert!(
            cache.for_snapshot(0).is_some(),
            "an unpoisoned drop lowers the counter"
        );
        let guard = cache.begin_ddl(&db);
        guard.publish(Arc::new(Catalog {
            version: 5,
            ..Catalog::default()
        }));
        assert_eq!(cache.for_snapshot(5).map(|c| c.version), Some(5));
        assert!(
            cache.for_snapshot(4).is_none(),
            "a snapshot older than the cache reads its own"
        );
    }
}
