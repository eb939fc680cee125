//! Backup and restore doors (0.1.9's signatures): backups are taken on the
//! blocking pool while commits go on (`crate::backup`); restores are
//! associated functions that build a new data directory, to be opened after.
//! A backup reads every table, so it needs the right to administer the
//! database (a plain call on an open-mode instance).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::SYSTEM_PROJECT;
use crate::auth::{Call, authorize};
use crate::backup::{
    BackupKind, BackupManifest, RemoteBackupAdapter, extract_backup_archive, restore_chain,
    restore_chain_at_time, take_backup, write_backup_archive,
};
use crate::catalog::DdlOperation;
use crate::commit::CommitFinality;
use crate::commit::mutation::Mutation;
use crate::commit::now_micros;
use crate::commit::tx::Conditions;
use crate::config::AedbConfig;
use crate::error::AedbError;
use crate::instance::{AedbInstance, WritePlan, engine};
use crate::pager::vfs::{RealFs, Vfs};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;

impl AedbInstance {
    /// Refuses `call` unless it may administer the database (`GlobalAdmin`;
    /// any plain call of an open-mode instance); a denial is audited.
    pub(crate) async fn authorize_global(&self, call: &Call<'_>) -> Result<(), AedbError> {
        let r = (|| {
            let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
            authorize(&*self.catalog_of(&txn)?, call, &Need::Global)
        })();
        self.audited(call, r).await
    }

    async fn backup_into(
        &self,
        name: &'static str,
        caller: Option<CallerContext>,
        dir: &Path,
        parent: Option<&Path>,
    ) -> Result<BackupManifest, AedbError> {
        self.authorize_global(&self.call(name, caller)).await?;
        let this = self.clone();
        let (dir, parent) = (dir.to_path_buf(), parent.map(Path::to_path_buf));
        tokio::task::spawn_blocking(move || {
            let kind = match &parent {
                Some(p) => BackupKind::Incremental(p),
                None => BackupKind::Full,
            };
            let key = this.config().hmac_key();
            take_backup(this.storage(), &dir, kind, key, now_micros()).map(|(m, _)| m)
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
        self.backup_into("backup_full", None, backup_dir, None)
            .await
    }

    /// `backup_full` for `caller`, who needs the right to administer the
    /// database (`Permission::GlobalAdmin`): the form a production or secure
    /// instance accepts (beyond 0.1.9, whose backups take no caller).
    pub async fn backup_full_as(
        &self,
        caller: CallerContext,
        backup_dir: &Path,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_into("backup_full_as", Some(caller), backup_dir, None)
            .await
    }

    /// A full backup as one archive file (encrypted with the config's
    /// `backup_encryption_key` when set), written through a temporary file.
    pub async fn backup_full_to_file(
        &self,
        backup_file: &Path,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_file_for("backup_full_to_file", None, backup_file)
            .await
    }

    /// `backup_full_to_file` for `caller`, who needs `GlobalAdmin`.
    pub async fn backup_full_to_file_as(
        &self,
        caller: CallerContext,
        backup_file: &Path,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_file_for("backup_full_to_file_as", Some(caller), backup_file)
            .await
    }

    async fn backup_file_for(
        &self,
        name: &'static str,
        caller: Option<CallerContext>,
        backup_file: &Path,
    ) -> Result<BackupManifest, AedbError> {
        let staging = sibling(backup_file, "backup-staging");
        let _ = std::fs::remove_dir_all(&staging);
        let m = self.backup_into(name, caller, &staging, None).await;
        let r = m.and_then(|m| {
            write_backup_archive(&staging, backup_file, self.config().backup_key())?;
            Ok(m)
        });
        let _ = std::fs::remove_dir_all(&staging);
        r
    }

    /// A full backup stored through `adapter` under `uri` (after the backups
    /// stored there before); the local copy it is taken into, beside the
    /// database's directory, is removed after.
    pub async fn backup_full_to_remote(
        &self,
        adapter: &dyn RemoteBackupAdapter,
        uri: &str,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_remote_for("backup_full_to_remote", None, adapter, uri)
            .await
    }

    /// `backup_full_to_remote` for `caller`, who needs `GlobalAdmin`.
    pub async fn backup_full_to_remote_as(
        &self,
        caller: CallerContext,
        adapter: &dyn RemoteBackupAdapter,
        uri: &str,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_remote_for("backup_full_to_remote_as", Some(caller), adapter, uri)
            .await
    }

    async fn backup_remote_for(
        &self,
        name: &'static str,
        caller: Option<CallerContext>,
        adapter: &dyn RemoteBackupAdapter,
        uri: &str,
    ) -> Result<BackupManifest, AedbError> {
        let staging = sibling(
            self.storage().path(),
            &format!("remote-staging-{}", now_micros()),
        );
        let m = self.backup_into(name, caller, &staging, None).await;
        let r = m.and_then(|m| adapter.store_backup_dir(uri, &staging).map(|()| m));
        let _ = std::fs::remove_dir_all(&staging);
        r
    }

    /// Restores the latest chain stored under `uri` (brought back by
    /// `adapter` into a scratch directory beside `data_dir`, removed after)
    /// into `data_dir`, at its last head; returns that seq.
    pub fn restore_from_remote(
        adapter: &dyn RemoteBackupAdapter,
        uri: &str,
        data_dir: &Path,
        config: &AedbConfig,
    ) -> Result<u64, AedbError> {
        let scratch = sibling(data_dir, "remote-scratch");
        let _ = std::fs::remove_dir_all(&scratch);
        let r = adapter
            .materialize_backup_chain(uri, &scratch)
            .and_then(|dirs| Self::restore_from_backup_chain(&dirs, data_dir, config, None));
        let _ = std::fs::remove_dir_all(&scratch);
        r
    }

    /// Restores the archive `backup_file` (`backup_full_to_file`'s) into
    /// `data_dir`; returns the restored seq.
    pub fn restore_from_backup_file(
        backup_file: &Path,
        data_dir: &Path,
        config: &AedbConfig,
    ) -> Result<u64, AedbError> {
        let staging = sibling(data_dir, "archive-staging");
        let _ = std::fs::remove_dir_all(&staging);
        let r = extract_backup_archive(backup_file, &staging, config.backup_key())
            .and_then(|()| Self::restore_from_backup(&staging, data_dir, config));
        let _ = std::fs::remove_dir_all(&staging);
        r
    }

    /// An incremental backup on top of the backup in `parent_backup_dir`:
    /// the pages written since the parent's checkpoint and the WAL after the
    /// parent's head.
    pub async fn backup_incremental(
        &self,
        backup_dir: &Path,
        parent_backup_dir: &Path,
    ) -> Result<BackupManifest, AedbError> {
        self.backup_into(
            "backup_incremental",
            None,
            backup_dir,
            Some(parent_backup_dir),
        )
        .await
    }

    /// `backup_incremental` for `caller` (as `backup_full_as`).
    pub async fn backup_incremental_as(
        &self,
        caller: CallerContext,
        backup_dir: &Path,
        parent_backup_dir: &Path,
    ) -> Result<BackupManifest, AedbError> {
        let parent = Some(parent_backup_dir);
        self.backup_into("backup_incremental_as", Some(caller), backup_dir, parent)
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

    /// Restores a chain at the last commit made at or before
    /// `target_time_micros` (wall clock, microseconds since the Unix epoch;
    /// every WAL frame carries its commit's time); returns its seq.
    pub fn restore_from_backup_chain_at_time(
        backup_dirs: &[PathBuf],
        data_dir: &Path,
        config: &AedbConfig,
        target_time_micros: u64,
    ) -> Result<u64, AedbError> {
        let fs: Arc<dyn Vfs> = Arc::new(RealFs);
        restore_chain_at_time(&fs, backup_dirs, data_dir, config, target_time_micros)
    }

    /// Restores one project's scope out of a chain at `target_seq` (the last
    /// head when `None`): the database restored into `data_dir` holds that
    /// scope's tables, KV space and accumulators as they were, and nothing of
    /// the other projects and scopes (the `_system` project stays, and the
    /// event outbox, which is global). Built beside `data_dir` and renamed
    /// into place, so a failure leaves nothing there. Returns the restored seq
    /// (the drops of the other namespaces commit after it).
    pub fn restore_namespace_from_backup_chain(
        backup_dirs: &[PathBuf],
        data_dir: &Path,
        config: &AedbConfig,
        project_id: &str,
        scope_id: &str,
        target_seq: Option<u64>,
    ) -> Result<u64, AedbError> {
        let staging = sibling(data_dir, "restoring-namespace");
        let cleanup = |e: AedbError| {
            let _ = std::fs::remove_dir_all(&staging);
            e
        };
        if data_dir.join(crate::pager::DATA_FILE_NAME).exists() {
            return Err(AedbError::Backup {
                path: data_dir.display().to_string(),
                detail: "already holds a database; restore into a new directory".into(),
            });
        }
        let _ = std::fs::remove_dir_all(&staging);
        let fs: Arc<dyn Vfs> = Arc::new(RealFs);
        let seq = restore_chain(&fs, backup_dirs, &staging, config, target_seq).map_err(cleanup)?;
        let keep = (|| {
            let db = AedbInstance::open_with_vfs(config.clone(), fs.clone(), &staging)?;
            db.keep_only_namespace(project_id, scope_id)
        })();
        keep.map_err(cleanup)?;
        if data_dir.exists() {
            std::fs::remove_dir(data_dir)
                .map_err(|e| AedbError::Backup {
                    path: data_dir.display().to_string(),
                    detail: format!("not an empty directory: {e}"),
                })
                .map_err(cleanup)?;
        }
        std::fs::rename(&staging, data_dir)
            .map_err(|e| AedbError::Backup {
                path: data_dir.display().to_string(),
                detail: format!("moving the restored database into place: {e}"),
            })
            .map_err(cleanup)?;
        Ok(seq)
    }

    /// Drops every project but `project_id` and `_system`, and every scope of
    /// it but `scope_id`, in one commit (`NotFound` if the scope is missing).
    fn keep_only_namespace(&self, project_id: &str, scope_id: &str) -> Result<(), AedbError> {
        let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
        let cat = self.catalog_of(&txn)?;
        cat.scope(project_id, scope_id)?;
        let mut drops: Vec<Mutation> = cat
            .project_ids()
            .into_iter()
            .filter(|p| p != project_id && p != SYSTEM_PROJECT)
            .map(|p| {
                Mutation::Ddl(DdlOperation::DropProject {
                    project_id: p,
                    if_exists: false,
                })
            })
            .collect();
        drops.extend(
            cat.scope_ids(project_id)
                .into_iter()
                .filter(|s| s != scope_id)
                .map(|s| {
                    Mutation::Ddl(DdlOperation::DropScope {
                        project_id: project_id.into(),
                        scope_id: s,
                        if_exists: false,
                    })
                }),
        );
        drop(txn);
        if drops.is_empty() {
            return Ok(());
        }
        let plan = WritePlan {
            mutations: drops,
            conditions: Conditions::default(),
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: None,
            compose: None,
        };
        let call = self.call("restore_namespace_from_backup_chain", None);
        self.write_blocking(&call, plan).map(|_| ())
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

/// `path` with `.<what>` added to its file name: a working directory beside it.
pub(crate) fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.{what}"))
}
