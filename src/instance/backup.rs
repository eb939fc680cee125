//! Backup and restore doors (0.1.9's signatures): backups are taken on the
//! blocking pool while commits go on (`crate::backup`); restores are
//! associated functions that build a new data directory, to be opened after.
//! A backup reads every table, so it needs the right to administer the
//! database (a plain call on an open-mode instance).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::authorize;
use crate::backup::{BackupKind, BackupManifest, restore_chain, take_backup};
use crate::commit::now_micros;
use crate::config::AedbConfig;
use crate::error::AedbError;
use crate::instance::{AedbInstance, engine};
use crate::pager::vfs::{RealFs, Vfs};
use crate::permission::Need;
use crate::query::plan::ConsistencyMode;

impl AedbInstance {
    async fn backup_into(
        &self,
        name: &'static str,
        dir: &Path,
        parent: Option<&Path>,
    ) -> Result<BackupManifest, AedbError> {
        let call = self.call(name, None);
        let r = (|| {
            let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
            authorize(&*self.catalog_of(&txn)?, &call, &Need::Global)
        })();
        self.audited(&call, r).await?;
        let this = self.clone();
        let (dir, parent) = (dir.to_path_buf(), parent.map(Path::to_path_buf));
        tokio::task::spawn_blocking(move || {
            let kind = match &parent {
                Some(p) => BackupKind::Incremental(p),
                None => BackupKind::Full,
            };
            let key = this.config().hmac_key();
            take_backup(this.storage(), &dir, kind, key, now_micros())
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("backup task failed: {e}"),
        })?
    }

    /// A full backup into `backup_dir` (new or empty), taken while commits go
    /// on: the page file at its checkpoint and the WAL up to the latest
    /// commit, with a manifest (signed when the config has an HMAC key).
    pub async fn backup_full(&self, backup_dir: &Path) -> Result<BackupManifest, AedbError> {
        self.backup_into("backup_full", backup_dir, None).await
    }

    /// An incremental backup on top of the backup in `parent_backup_dir`:
    /// the pages written since the parent's checkpoint and the WAL after the
    /// parent's head.
    pub async fn backup_incremental(
        &self,
        backup_dir: &Path,
        parent_backup_dir: &Path,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_into("backup_incremental", backup_dir, Some(parent_backup_dir))
            .await
    }

    /// Restores the backup in `backup_dir` into `data_dir` (new, or left by
    /// an unfinished restore) at its last commit; returns that seq.
    pub fn restore_from_backup(
        backup_dir: &Path,
        data_dir: &Path,
        config: &AedbConfig,
    ) -> Result<u64, AedbError> {
        Self::restore_from_backup_chain(&[backup_dir.to_path_buf()], data_dir, config, None)
    }

    /// Restores a chain (a full backup, then incrementals in order) into
    /// `data_dir` at `target_seq` (the last head when `None`), replaying the
    /// WAL up to exactly that commit; returns the restored seq. Any seq from
    /// the full backup's checkpoint to the last head restores.
    pub fn restore_from_backup_chain(
        backup_dirs: &[PathBuf],
        data_dir: &Path,
        config: &AedbConfig,
        target_seq: Option<u64>,
    ) -> Result<u64, AedbError> {
        let fs: Arc<dyn Vfs> = Arc::new(RealFs);
        restore_chain(&fs, backup_dirs, data_dir, config, target_seq)
    }

    /// `restore_from_backup_chain` through any file system (the simulation).
    pub fn restore_from_backup_chain_with_vfs(
        vfs: Arc<dyn Vfs>,
        backup_dirs: &[PathBuf],
        data_dir: &Path,
        config: &AedbConfig,
        target_seq: Option<u64>,
    ) -> Result<u64, AedbError> {
        restore_chain(&vfs, backup_dirs, data_dir, config, target_seq)
    }
}
