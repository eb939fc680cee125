//! `AedbInstance`: the public door. A thin facade: each group of methods lives
//! beside the domain it serves (`ddl`, `commit`, `query`, `kv`, `ops`); all of
//! them go through the two paths here, `write` (a write transaction on tokio's
//! blocking pool) and `read_at` (a snapshot, which never blocks).
//!
//! The top room: it may import every other room, and none imports it.

mod commit;
mod ddl;
mod kv;
mod ops;
mod query;

use std::path::Path;
use std::sync::Arc;

use crate::catalog::{CATALOG_TREE, Catalog, CatalogCache};
use crate::commit::context::{WriteCtx, WriteLimits};
use crate::commit::mutation::Mutation;
use crate::commit::{CommitFinality, CommitResult, IdempotencyOutcome};
use crate::config::AedbConfig;
use crate::error::{AedbError, QueryError};
use crate::pager::vfs::{RealFs, Vfs};
use crate::query::plan::ConsistencyMode;
use crate::storage::{Consistency, Database, Finality, ReadTransaction, StorageError};

pub use ddl::ProjectInfo;

/// An open database: projects → scopes → tables, KV spaces, queries, commits.
/// Cheap to clone (all clones share one engine); the database closes, with a
/// checkpoint, when the last clone is dropped.
#[derive(Clone)]
pub struct AedbInstance {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    config: AedbConfig,
    catalogs: CatalogCache,
    /// Slots for commits on the blocking pool (`max_inflight_commits`).
    inflight: Arc<tokio::sync::Semaphore>,
}

impl AedbInstance {
    /// Opens (creating if needed) the database in `dir`, recovering from the WAL.
    /// A second open of the same directory, in this or another process, is
    /// refused while this one is open.
    pub fn open(config: AedbConfig, dir: impl AsRef<Path>) -> Result<Self, AedbError> {
        Self::open_with_vfs(config, Arc::new(RealFs), dir.as_ref())
    }

    /// Opens through any file system (the fault-injecting simulation, in tests).
    pub fn open_with_vfs(
        config: AedbConfig,
        vfs: Arc<dyn Vfs>,
        dir: &Path,
    ) -> Result<Self, AedbError> {
        config.validate()?;
        let db = Database::open_with(vfs, dir, config.storage_options()?)?;
        {
            let mut txn = db.begin_write()?;
            if !txn.list_trees()?.iter().any(|t| t == CATALOG_TREE) {
                txn.open_tree(CATALOG_TREE)?;
                txn.commit(Finality::Durable)?;
            }
        }
        let catalogs = {
            let read = db.begin_read()?;
            let tree = read.open_tree(CATALOG_TREE)?;
            CatalogCache::load(tree.raw())?
        };
        let inflight = Arc::new(tokio::sync::Semaphore::new(config.max_inflight_commits));
        Ok(AedbInstance {
            inner: Arc::new(Inner {
                db,
                config,
                catalogs,
                inflight,
            }),
        })
    }

    /// The storage engine underneath (for tools and checks).
    pub fn storage(&self) -> &Database {
        &self.inner.db
    }

    pub fn config(&self) -> &AedbConfig {
        &self.inner.config
    }

    /// Whether an earlier failure (a failed sync or write, a full disk) stopped the
    /// engine. Then every write fails with code `poisoned` or `out_of_space` until
    /// every clone of this instance is dropped and the database is reopened, which
    /// recovers the last durable state from the page file and the WAL.
    pub fn is_poisoned(&self) -> bool {
        self.inner.db.is_poisoned()
    }

    fn limits(&self) -> WriteLimits {
        let c = &self.inner.config;
        WriteLimits {
            max_table_value_bytes: c.max_table_value_bytes,
            max_kv_key_bytes: c.max_kv_key_bytes,
            max_kv_value_bytes: c.max_kv_value_bytes,
            max_batch_rows: c.max_batch_rows,
            max_scan_rows: c.max_scan_rows,
        }
    }

    /// Applies `mutations` atomically in one write transaction, off the async
    /// worker threads; with `dry_run`, validates and rolls back instead.
    ///
    /// At most `max_inflight_commits` commits run on the blocking pool at once
    /// (each holds a thread, waiting for the writer lock or its sync); further
    /// callers wait here for a slot without holding a thread. A future dropped
    /// while it waits commits nothing; once its commit started, dropping the
    /// future does not stop it (read the state to learn the outcome).
    async fn write(
        &self,
        mutations: Vec<Mutation>,
        finality: CommitFinality,
        dry_run: bool,
    ) -> Result<CommitResult, AedbError> {
        let max = self.inner.config.max_batch_rows;
        if mutations.len() > max {
            return Err(AedbError::Validation(format!(
                "{} mutations in one commit exceed max_batch_rows = {max}",
                mutations.len()
            )));
        }
        let slot = self
            .inner
            .inflight
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AedbError::Unavailable {
                message: format!("commit queue closed: {e}"),
            })?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            this.write_blocking(mutations, finality, dry_run)
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("commit task failed: {e}"),
        })?
    }

    fn write_blocking(
        &self,
        mutations: Vec<Mutation>,
        finality: CommitFinality,
        dry_run: bool,
    ) -> Result<CommitResult, AedbError> {
        let db = &self.inner.db;
        let mut txn = db.begin_write()?;
        let base = db.visible_seq();
        let mut ctx = WriteCtx::new(&mut txn, &self.inner.catalogs, self.limits())?;
        let mut affected = 0;
        for m in mutations {
            affected += ctx.apply(m)?;
        }
        let catalog = ctx.finish()?;
        if dry_run {
            txn.abort();
            return Ok(CommitResult {
                commit_seq: base,
                durable_head_seq: db.durable_seq(),
                idempotency: IdempotencyOutcome::Applied,
                canonical_commit_seq: base,
                affected_rows: affected,
            });
        }
        // Raised before the commit can become visible; see `catalog::cache`.
        let ddl = catalog.as_ref().map(|_| self.inner.catalogs.begin_ddl(db));
        let receipt = txn.commit(match finality {
            CommitFinality::Visible => Finality::Visible,
            CommitFinality::Durable => Finality::Durable,
        })?;
        if let (Some(guard), Some(c)) = (ddl, catalog) {
            guard.publish(c);
        }
        Ok(CommitResult {
            commit_seq: receipt.seq,
            durable_head_seq: db.durable_seq(),
            idempotency: IdempotencyOutcome::Applied,
            canonical_commit_seq: receipt.seq,
            affected_rows: affected,
        })
    }

    /// A read snapshot for a consistency mode.
    fn read_at(&self, c: ConsistencyMode) -> Result<ReadTransaction, QueryError> {
        let db = &self.inner.db;
        let at = match c {
            ConsistencyMode::AtLatest => Consistency::Latest,
            ConsistencyMode::AtCheckpoint => Consistency::AtCheckpoint,
            ConsistencyMode::AtSeq(n) => {
                let current = db.visible_seq();
                if n > current {
                    return Err(QueryError::SeqNotYetVisible {
                        requested: n,
                        current,
                    });
                }
                Consistency::AtSeq(n)
            }
        };
        db.begin_read_at(at).map_err(|e| match e {
            StorageError::SnapshotUnavailable { seq, oldest, .. } => QueryError::SnapshotExpired {
                requested: seq,
                oldest_available: oldest,
            },
            other => other.into(),
        })
    }

    /// The catalog of a snapshot (from the cache when it certainly describes it).
    fn catalog_of(&self, txn: &ReadTransaction) -> Result<Arc<Catalog>, AedbError> {
        if let Some(c) = self.inner.catalogs.for_snapshot(txn.seq()) {
            return Ok(c);
        }
        let tree = txn.open_tree(CATALOG_TREE)?;
        self.inner.catalogs.at(tree.raw())
    }
}
