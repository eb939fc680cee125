//! Operational methods: checkpoints, syncs, durability waits, snapshot probes,
//! shutdown.

use crate::error::AedbError;
use crate::error::QueryError;
use crate::instance::AedbInstance;
use crate::metrics::{Heads, OperationalMetrics};
use crate::query::plan::ConsistencyMode;
use crate::storage::RecoveryReport;

impl AedbInstance {
    /// Commit counts, errors by kind, latencies, the WAL and sync figures,
    /// queue depth, in-flight commits, the heads and their lag, checkpoint and
    /// page-file figures (see [`OperationalMetrics`]). Lock-free counters:
    /// cheap enough to call every second.
    pub async fn operational_metrics(&self) -> OperationalMetrics {
        let db = self.storage();
        let heads = Heads {
            visible: db.visible_seq(),
            durable: db.durable_seq(),
            checkpoint: db.checkpoint_seq(),
            inflight: self
                .config()
                .max_inflight_commits
                .saturating_sub(self.inner.inflight.available_permits()),
            recovered_seq: db.recovery_report().head_seq,
        };
        self.inner.counters.metrics(&db.stats(), &heads)
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&AedbInstance) -> Result<R, AedbError> + Send + 'static,
    ) -> Result<R, AedbError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| AedbError::Unavailable {
                message: format!("task failed: {e}"),
            })?
    }

    /// Writes a checkpoint now; returns its seq. Fuzzy: neither readers nor
    /// commits wait for its syncs (the writer lock is held only to choose the
    /// state to persist and, after, to start a fresh WAL segment).
    pub async fn checkpoint_now(&self) -> Result<u64, AedbError> {
        self.blocking(|db| {
            db.storage().checkpoint_now()?;
            Ok(db.storage().checkpoint_seq())
        })
        .await
    }

    /// Syncs the WAL through every commit so far; returns the durable seq.
    pub async fn force_fsync(&self) -> Result<u64, AedbError> {
        self.blocking(|db| {
            db.storage().sync()?;
            Ok(db.storage().durable_seq())
        })
        .await
    }

    /// Returns once commit `seq` is durable (syncing if no one else is).
    pub async fn wait_for_durable(&self, seq: u64) -> Result<(), AedbError> {
        let visible = self.storage().visible_seq();
        if seq > visible {
            return Err(AedbError::Validation(format!(
                "seq {seq} is not committed yet (latest {visible})"
            )));
        }
        if self.storage().durable_seq() >= seq {
            return Ok(());
        }
        self.force_fsync().await.map(|_| ())
    }

    /// The seq a read at `consistency` would see now.
    pub async fn snapshot_probe(&self, consistency: ConsistencyMode) -> Result<u64, AedbError> {
        match self.read_at(consistency) {
            Ok(txn) => Ok(txn.seq()),
            Err(QueryError::Engine(e)) => Err(e),
            Err(QueryError::SnapshotExpired { .. }) => Err(AedbError::SnapshotExpired),
            Err(e) => Err(AedbError::Validation(e.to_string())),
        }
    }

    /// What opening found: the checkpoint it started from, commits replayed, any
    /// torn tail cut or (permissive) frames dropped.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.storage().recovery_report().clone()
    }

    /// Syncs and checkpoints, so the next open replays nothing. The instance
    /// stays usable; dropping the last clone closes the files.
    pub async fn shutdown(&self) -> Result<(), AedbError> {
        // Processors first: each checkpoints what it handled.
        self.stop_all_processors().await;
        self.stop_continuous_archiving().await;
        self.force_fsync().await?;
        self.checkpoint_now().await?;
        Ok(())
    }
}
