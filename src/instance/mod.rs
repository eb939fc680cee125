//! `AedbInstance`: the public door. A thin facade: each group of methods lives
//! beside the domain it serves (`ddl`, `commit`, `query`, `kv`, `ops`); all of
//! them go through the two paths here, `write` (a write transaction on tokio's
//! blocking pool) and `read_at` (a snapshot, which never blocks).
//!
//! The top room: it may import every other room, and none imports it.

mod access;
mod accumulator;
mod accumulator_read;
mod archive;
mod backup;
mod check;
mod commit;
mod ddl;
mod envelope;
mod event;
mod feed;
mod kv;
mod kv_compare;
mod kv_write;
mod migration;
mod ops;
mod processor;
mod query;
mod write;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use crate::auth::{AccessMode, Call};
use crate::catalog::{CATALOG_TREE, Catalog, CatalogCache};
use crate::commit::audit::{self, AssertionRecord, AuthzEvent, AuthzRecord};
use crate::commit::context::{WriteCtx, WriteLimits};
use crate::commit::idempotency::Window;
use crate::commit::mutation::Mutation;
use crate::commit::tx::Conditions;
use crate::commit::{CommitFinality, CommitResult};
use crate::config::AedbConfig;
use crate::error::{AedbError, QueryError};
use crate::event::checkpoint::CheckpointRule;
use crate::metrics::CommitCounters;
use crate::pager::vfs::{RealFs, Vfs};
use crate::permission::CallerContext;
use crate::query::plan::ConsistencyMode;
use crate::storage::{Consistency, Database, Finality, ReadTransaction, StorageError};

pub use archive::ArchiveStatus;
pub use check::InvariantReport;
pub use ddl::ProjectInfo;
pub use feed::ChangeSubscription;

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
    /// Which calls are accepted without a caller (how the instance was opened).
    mode: AccessMode,
    /// Batched checkpoint ACKs: the seq last persisted per (caller id, or
    /// empty for a plain call; processor name), updated only after the
    /// commit that persisted it succeeded.
    acked: std::sync::Mutex<std::collections::HashMap<(String, String), u64>>,
    /// Reactive processors' handlers, runtimes and counters.
    processors: processor::Processors,
    /// Commit calls counted for `operational_metrics`.
    counters: CommitCounters,
    /// The continuous archiver, when one runs.
    archiver: std::sync::Mutex<Option<archive::Archiver>>,
}

/// One commit call waiting for an in-flight slot (counted while it lives, so
/// a call dropped while it waits is uncounted too).
struct Queued<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a std::sync::atomic::AtomicUsize) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A commit call taking this long (queueing and the durable wait included)
/// is reported as a `tracing` warning.
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// One commit to make: its mutations, the conditions they apply under, how
/// far it must get, and whether to roll back instead (`preflight`).
pub(crate) struct WritePlan {
    pub(crate) mutations: Vec<Mutation>,
    pub(crate) conditions: Conditions,
    pub(crate) finality: CommitFinality,
    pub(crate) dry_run: bool,
    /// A processor checkpoint to move in the same commit.
    pub(crate) checkpoint: Option<CheckpointMove>,
    /// Writes composed inside the write transaction, after `mutations` (a
    /// migration and its history row; a declared schema planned against the
    /// state the transaction sees). Returns the rows it affected.
    pub(crate) compose: Option<Composed>,
}

/// Writes a door composes inside the write transaction (see `WritePlan`).
pub(crate) type Composed = Box<dyn FnOnce(&mut WriteCtx<'_, '_>) -> Result<u64, AedbError> + Send>;

/// A processor checkpoint moved by a plan: processor `name` to `seq`, as
/// `rule` allows.
#[derive(Clone)]
pub(crate) struct CheckpointMove {
    pub(crate) name: String,
    pub(crate) seq: u64,
    pub(crate) rule: CheckpointRule,
}

/// A read's error where the call's error type is `AedbError` (0.1.9's
/// signatures mix the two): an engine error as it is, an expired snapshot as
/// `SnapshotExpired`, anything else as `Unavailable` with its message.
pub(crate) fn engine(e: QueryError) -> AedbError {
    match e {
        QueryError::Engine(e) => e,
        QueryError::SnapshotExpired { .. } => AedbError::SnapshotExpired,
        other => AedbError::Unavailable {
            message: other.to_string(),
        },
    }
}

impl AedbInstance {
    /// Opens (creating if needed) the database in `dir`, recovering from the WAL.
    /// A second open of the same directory, in this or another process, is
    /// refused while this one is open.
    ///
    /// Plain calls (`query`, `commit`, ...) are trusted: the process that opened
    /// the database acts for itself. `*_as` calls are checked against the
    /// caller's grants.
    pub fn open(config: AedbConfig, dir: impl AsRef<Path>) -> Result<Self, AedbError> {
        Self::open_with_vfs(config, Arc::new(RealFs), dir.as_ref())
    }

    /// Opens for multi-tenant use: every call that reads or writes data needs a
    /// caller (`*_as`); a plain call fails with `PermissionDenied` naming it.
    pub fn open_production(config: AedbConfig, dir: impl AsRef<Path>) -> Result<Self, AedbError> {
        Self::open_in(
            config,
            Arc::new(RealFs),
            dir.as_ref(),
            AccessMode::Production,
        )
    }

    /// `open_production` on a hardened configuration only: `DurabilityMode::Full`,
    /// strict recovery, the hash-chained WAL and an HMAC key of at least 32
    /// bytes (`AedbConfig::production(key)` is one). Any other config is refused
    /// with `InvalidConfig` naming the setting.
    pub fn open_secure(config: AedbConfig, dir: impl AsRef<Path>) -> Result<Self, AedbError> {
        if let Some(message) = config.secure_violation() {
            return Err(AedbError::InvalidConfig { message });
        }
        Self::open_in(config, Arc::new(RealFs), dir.as_ref(), AccessMode::Secure)
    }

    /// Opens through any file system (the fault-injecting simulation, in tests).
    pub fn open_with_vfs(
        config: AedbConfig,
        vfs: Arc<dyn Vfs>,
        dir: &Path,
    ) -> Result<Self, AedbError> {
        Self::open_in(config, vfs, dir, AccessMode::Open)
    }

    /// `open_secure` through any file system (the fault-injecting simulation).
    pub fn open_secure_with_vfs(
        config: AedbConfig,
        vfs: Arc<dyn Vfs>,
        dir: &Path,
    ) -> Result<Self, AedbError> {
        if let Some(message) = config.secure_violation() {
            return Err(AedbError::InvalidConfig { message });
        }
        Self::open_in(config, vfs, dir, AccessMode::Secure)
    }

    fn open_in(
        config: AedbConfig,
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        mode: AccessMode,
    ) -> Result<Self, AedbError> {
        config.validate()?;
        let marker = dir.join(crate::backup::RESTORE_MARKER);
        if vfs.exists(&marker).unwrap_or(false) {
            return Err(AedbError::Backup {
                path: dir.display().to_string(),
                detail: "a restore into this directory never finished; restore again (it starts over) or remove the directory".into(),
            });
        }
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
        let instance = AedbInstance {
            inner: Arc::new(Inner {
                db,
                config,
                catalogs,
                inflight,
                mode,
                acked: Default::default(),
                processors: Default::default(),
                counters: Default::default(),
                archiver: Default::default(),
            }),
        };
        instance.bootstrap_system()?;
        Ok(instance)
    }

    /// Creates the `_system` project and its audit tables if they are missing
    /// (a new database, or one made before they existed).
    fn bootstrap_system(&self) -> Result<(), AedbError> {
        // The common case, an existing database, opens without a write.
        let latest = self.inner.db.begin_read_at(Consistency::Latest)?;
        let catalog = self.catalog_of(&latest)?;
        drop(latest);
        if audit::is_bootstrapped(&catalog) && crate::migration::history::table(&catalog).is_ok() {
            return Ok(());
        }
        // A database whose catalog holds no project yet has no user change
        // before this commit: its change log is complete from seq 1. (Nothing
        // else writes while the instance opens.)
        let fresh = catalog
            .projects
            .keys()
            .all(|p| p == crate::auth::SYSTEM_PROJECT);
        self.system_commit("open", Finality::Durable, fresh.then_some(1), |ctx| {
            for op in audit::bootstrap()
                .into_iter()
                .chain([crate::migration::history::bootstrap()])
            {
                if let crate::catalog::DdlOperation::CreateTable { table_name, .. } = &op
                    && ctx
                        .cat
                        .catalog()
                        .table(
                            crate::auth::SYSTEM_PROJECT,
                            crate::catalog::DEFAULT_SCOPE_ID,
                            table_name,
                        )
                        .is_ok()
                {
                    continue;
                }
                ctx.apply(Mutation::Ddl(op))?;
            }
            Ok(())
        })
        .map(|_| ())
    }

    /// A public call by `caller` (or a plain call, `None`).
    pub(crate) fn call(&self, name: &'static str, caller: Option<CallerContext>) -> Call<'static> {
        Call {
            name,
            caller: caller.map(Cow::Owned),
            mode: self.inner.mode,
        }
    }

    /// `call` for a caller the call only borrows (reads).
    pub(crate) fn call_by<'c>(
        &self,
        name: &'static str,
        caller: Option<&'c CallerContext>,
    ) -> Call<'c> {
        Call {
            name,
            caller: caller.map(Cow::Borrowed),
            mode: self.inner.mode,
        }
    }

    fn system_call(&self, name: &'static str) -> Call<'static> {
        self.call(name, Some(CallerContext::system()))
    }

    /// The storage engine underneath (for tools and checks).
    pub fn storage(&self) -> &Database {
        &self.inner.db
    }

    /// The configuration the instance was opened with.
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
            audit_max_rows: c.audit_max_rows,
            audit_max_age_secs: c.audit_max_age_secs,
            event_retention_commits: c.event_retention_commits,
            event_retention_secs: c.event_retention_secs,
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
        call: Call<'_>,
        mutations: Vec<Mutation>,
        finality: CommitFinality,
        dry_run: bool,
    ) -> Result<CommitResult, AedbError> {
        let plan = WritePlan {
            mutations,
            conditions: Conditions::default(),
            finality,
            dry_run,
            checkpoint: None,
            compose: None,
        };
        self.write_planned(call, plan).await
    }

    /// One mutation for `call`, durable on return: what most doors commit.
    pub(crate) async fn commit_durable(
        &self,
        call: Call<'_>,
        m: Mutation,
    ) -> Result<CommitResult, AedbError> {
        self.write(call, vec![m], CommitFinality::Durable, false)
            .await
    }

    /// `write` under conditions (an envelope): its idempotency key, read set
    /// and assertions are checked in the write transaction, before any
    /// mutation applies. A failed assertion is recorded in
    /// `_system.app.assertion_audit` in a commit of its own.
    pub(crate) async fn write_planned(
        &self,
        call: Call<'_>,
        plan: WritePlan,
    ) -> Result<CommitResult, AedbError> {
        let started = std::time::Instant::now();
        let counted = !plan.dry_run;
        let name = call.name;
        let r = self.write_planned_counted(call, plan).await;
        if counted {
            let took = started.elapsed();
            self.inner.counters.finished(&r, took);
            if took >= SLOW_COMMIT {
                tracing::warn!(
                    call = name,
                    millis = took.as_millis() as u64,
                    ok = r.is_ok(),
                    "aedb slow commit"
                );
            }
        }
        r
    }

    async fn write_planned_counted(
        &self,
        call: Call<'_>,
        plan: WritePlan,
    ) -> Result<CommitResult, AedbError> {
        let mutations = &plan.mutations;
        let max = self.inner.config.max_batch_rows;
        if mutations.len() > max {
            return Err(AedbError::Validation(format!(
                "{} mutations in one commit exceed max_batch_rows = {max}",
                mutations.len()
            )));
        }
        let queued = Queued::new(&self.inner.counters.queued);
        let slot = self
            .inner
            .inflight
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AedbError::Unavailable {
                message: format!("commit queue closed: {e}"),
            })?;
        drop(queued);
        let this = self.clone();
        let call = call.into_owned();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let key = plan.conditions.key_hex();
            let applying = std::time::Instant::now();
            let result = this.write_blocking(&call, plan);
            this.inner.counters.applied(applying.elapsed());
            match &result {
                Err(e @ AedbError::PermissionDenied(_)) => this.audit_denial(&call, e.to_string()),
                Err(AedbError::AssertionFailed {
                    index,
                    assertion,
                    actual,
                }) => this.audit_in_own_commit(|ctx| {
                    ctx.audit_assertion(AssertionRecord {
                        caller_id: call.user().map(str::to_string),
                        call: call.name.to_string(),
                        idempotency_key: key,
                        index: *index,
                        assertion: format!("{assertion:?}"),
                        actual: format!("{actual:?}"),
                    })
                }),
                Err(AedbError::ExposureRejected {
                    project_id,
                    scope_id,
                    accumulator_name,
                    ..
                }) => {
                    let target = (
                        project_id.clone(),
                        scope_id.clone(),
                        accumulator_name.clone(),
                    );
                    this.audit_in_own_commit(|ctx| ctx.count_exposure_rejection(target));
                }
                _ => {}
            }
            result
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("commit task failed: {e}"),
        })?
    }

    /// Records a denied call in `_system.app.authz_audit`, in a commit of its
    /// own (the call itself wrote nothing). Visible at once, durable with the
    /// next sync. A failure to record (a poisoned engine) is not the caller's
    /// business: the call still fails with its `PermissionDenied`.
    fn audit_denial(&self, call: &Call<'_>, detail: String) {
        let record = AuthzRecord {
            caller_id: call.user().map(str::to_string),
            event: AuthzEvent::Denied,
            call: call.name.to_string(),
            resource: String::new(),
            detail,
        };
        self.audit_in_own_commit(|ctx| ctx.audit_authz(record));
    }

    /// Writes an audit row in a Visible commit of its own, as the engine: the
    /// call it records failed and wrote nothing. Best effort: a failure here
    /// (a full disk, a poisoned engine) must not replace the call's error.
    fn audit_in_own_commit(
        &self,
        write: impl FnOnce(&mut WriteCtx<'_, '_>) -> Result<(), AedbError>,
    ) {
        let _ = self.system_commit("audit", Finality::Visible, None, write);
    }

    /// A commit the engine makes for itself (the `_system` tables at open,
    /// audit rows, the processor registry, dead letters), as the system
    /// caller; `floor_if_new` as for `log_changes`.
    pub(crate) fn system_commit(
        &self,
        name: &'static str,
        finality: Finality,
        floor_if_new: Option<u64>,
        write: impl FnOnce(&mut WriteCtx<'_, '_>) -> Result<(), AedbError>,
    ) -> Result<u64, AedbError> {
        let db = &self.inner.db;
        let mut txn = db.begin_write()?;
        let mut ctx = WriteCtx::new(
            &mut txn,
            &self.inner.catalogs,
            self.limits(),
            self.system_call(name),
        )?;
        write(&mut ctx)?;
        self.log_changes(&mut ctx, floor_if_new)?;
        let catalog = ctx.finish()?;
        let ddl = catalog.as_ref().map(|_| self.inner.catalogs.begin_ddl(db));
        let receipt = txn.commit(finality)?;
        if let (Some(guard), Some(c)) = (ddl, catalog) {
            guard.publish(c);
        }
        Ok(receipt.seq)
    }

    /// Appends the commit's changes to the change log when the feed is on;
    /// `floor_if_new`: where a log never written starts (default: this commit).
    fn log_changes(
        &self,
        ctx: &mut WriteCtx<'_, '_>,
        floor_if_new: Option<u64>,
    ) -> Result<(), AedbError> {
        let retain = self.inner.config.change_feed_retain_commits;
        if retain == 0 {
            return Ok(());
        }
        // The writer lock is held: the latest snapshot is the state this
        // commit started from.
        let before = self.inner.db.begin_read()?;
        let before_catalog = self.catalog_of(&before)?;
        let floor = floor_if_new.unwrap_or_else(|| ctx.cat.txn.seq());
        ctx.log_changes(&before, &before_catalog, retain, floor)
    }

    fn idempotency_window(&self) -> Window {
        let c = &self.inner.config;
        Window {
            commits: c.idempotency_window_commits,
            micros: c.idempotency_window_seconds.saturating_mul(1_000_000),
        }
    }

    /// A read snapshot for a consistency mode.
    pub(crate) fn read_at(&self, c: ConsistencyMode) -> Result<ReadTransaction, QueryError> {
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

    /// The catalog of the snapshot `c` picks.
    pub(crate) fn catalog_at(&self, c: ConsistencyMode) -> Result<Arc<Catalog>, AedbError> {
        let txn = self.read_at(c).map_err(engine)?;
        self.catalog_of(&txn)
    }

    /// The catalog of a snapshot (from the cache when it certainly describes it).
    pub(crate) fn catalog_of(&self, txn: &ReadTransaction) -> Result<Arc<Catalog>, AedbError> {
        if let Some(c) = self.inner.catalogs.for_snapshot(txn.seq()) {
            return Ok(c);
        }
        let tree = txn.open_tree(CATALOG_TREE)?;
        self.inner.catalogs.at(tree.raw())
    }
}
