//! Continuous archiving (beyond 0.1.9; Litestream's model): a task that ships
//! the database to a remote archive as it changes. It starts a chain with a
//! full backup, then, every `interval_ms` when commits happened, takes an
//! incremental backup on top of the last one shipped (the pages written since
//! and the WAL after its head) into a local staging directory beside the
//! database, stores it through the adapter and removes the local copy. A lost
//! machine loses at most the commits since the last shipped backup;
//! `restore_from_remote` restores the latest chain. A restarted process
//! starts a new chain (a full backup): the archive never depends on state
//! kept only in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backup::{BackupKind, BackupManifest, RemoteBackupAdapter, take_backup};
use crate::commit::now_micros;
use crate::error::AedbError;
use crate::instance::AedbInstance;
use crate::instance::backup::sibling;
use crate::permission::CallerContext;

/// What the archiver has done (since it started).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveStatus {
    /// Whether an archiver task is running now.
    pub running: bool,
    /// Backups stored in the archive.
    pub shipped: u64,
    /// The head seq of the last backup stored: every commit up to it is in
    /// the archive.
    pub last_shipped_seq: u64,
    /// Why the latest shipment failed (`None` once one succeeds); the
    /// archiver retries at its next interval.
    pub last_error: Option<String>,
}

/// A running archiver.
pub(crate) struct Archiver {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    status: Arc<Mutex<ArchiveStatus>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AedbInstance {
    /// Ships one backup (full, or on top of `parent`) through `adapter`.
    async fn ship(
        &self,
        adapter: &Arc<dyn RemoteBackupAdapter>,
        uri: &str,
        parent: Option<&(BackupManifest, u64)>,
    ) -> Result<(BackupManifest, u64), AedbError> {
        let this = self.clone();
        let adapter = adapter.clone();
        let (uri, parent) = (uri.to_string(), parent.cloned());
        tokio::task::spawn_blocking(move || {
            let dir = sibling(
                this.storage().path(),
                &format!("archive-staging-{}", now_micros()),
            );
            let kind = match &parent {
                Some((m, generation)) => BackupKind::After(m, *generation),
                None => BackupKind::Full,
            };
            let key = this.config().hmac_key();
            let r = take_backup(this.storage(), &dir, kind, key, now_micros())
                .and_then(|taken| adapter.store_backup_dir(&uri, &dir).map(|()| taken));
            let _ = std::fs::remove_dir_all(&dir);
            r
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("archive task failed: {e}"),
        })?
    }

    /// Starts shipping this database to `uri` through `adapter`: a full
    /// backup now (returned once stored), then an incremental one every
    /// `interval_ms` in which anything committed. Replaces a running archiver.
    /// Administering the database is needed (a plain call of an open-mode
    /// instance; `start_continuous_archiving_as` elsewhere).
    pub async fn start_continuous_archiving(
        &self,
        adapter: Arc<dyn RemoteBackupAdapter>,
        uri: &str,
        interval_ms: u64,
    ) -> Result<BackupManifest, AedbError> {
        let call = self.call("start_continuous_archiving", None);
        self.authorize_global(&call).await?;
        self.start_archiver(adapter, uri, interval_ms).await
    }

    /// `start_continuous_archiving` for `caller`, who needs `GlobalAdmin`.
    pub async fn start_continuous_archiving_as(
        &self,
        caller: CallerContext,
        adapter: Arc<dyn RemoteBackupAdapter>,
        uri: &str,
        interval_ms: u64,
    ) -> Result<BackupManifest, AedbError> {
        let call = self.call("start_continuous_archiving_as", Some(caller));
        self.authorize_global(&call).await?;
        self.start_archiver(adapter, uri, interval_ms).await
    }

    async fn start_archiver(
        &self,
        adapter: Arc<dyn RemoteBackupAdapter>,
        uri: &str,
        interval_ms: u64,
    ) -> Result<BackupManifest, AedbError> {
        if interval_ms == 0 {
            return Err(AedbError::Validation(
                "continuous archiving: interval_ms must be at least 1".into(),
            ));
        }
        self.stop_continuous_archiving().await;
        let first = self.ship(&adapter, uri, None).await?;
        let status = Arc::new(Mutex::new(ArchiveStatus {
            running: true,
            shipped: 1,
            last_shipped_seq: first.0.wal_head_seq,
            last_error: None,
        }));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (this, uri, st) = (self.clone(), uri.to_string(), status.clone());
        let manifest = first.0.clone();
        let task = tokio::spawn(async move {
            let mut last = first;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(interval_ms)) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
                if this.storage().visible_seq() <= last.0.wal_head_seq {
                    continue;
                }
                match this.ship(&adapter, &uri, Some(&last)).await {
                    Ok(next) => {
                        let mut s = lock(&st);
                        s.shipped += 1;
                        s.last_shipped_seq = next.0.wal_head_seq;
                        s.last_error = None;
                        last = next;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "aedb archive: shipping failed; retrying");
                        lock(&st).last_error = Some(e.to_string());
                    }
                }
            }
            lock(&st).running = false;
        });
        *lock(&self.inner.archiver) = Some(Archiver { stop, task, status });
        Ok(manifest)
    }

    /// Stops the archiver (after the shipment in progress, if any).
    pub async fn stop_continuous_archiving(&self) {
        let running = lock(&self.inner.archiver).take();
        if let Some(a) = running {
            let _ = a.stop.send(true);
            let _ = a.task.await;
        }
    }

    /// What the archiver has shipped (`running: false` when none runs).
    pub fn continuous_archiving_status(&self) -> ArchiveStatus {
        lock(&self.inner.archiver)
            .as_ref()
            .map(|a| lock(&a.status).clone())
            .unwrap_or_default()
    }
}
