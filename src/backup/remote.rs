//! Remote backups: 0.1.9's `RemoteBackupAdapter` (store a backup directory
//! under a URI; bring a chain back as local directories) and an adapter over
//! any `object_store` backend (a local directory and memory built in; S3,
//! GCS or Azure from the application's own `object_store` with those
//! features).
//!
//! Layout in the store: backup `k` of a URI (0, 1, … in the order stored) at
//! `<uri>/<k, 10 digits>-<backup id>/<file>`, its manifest uploaded last, so
//! a backup whose upload was cut short has no manifest and is ignored.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore};

use crate::backup::{
    BackupManifest, MANIFEST_FILE, MANIFEST_SIG_FILE, bad, files_of, io, load_manifest_in,
};
use crate::error::AedbError;
use crate::pager::vfs::RealFs;

/// Where backups go and come back from (0.1.9's trait).
pub trait RemoteBackupAdapter: Send + Sync {
    /// Stores the backup in `backup_dir` under `uri`, after the ones stored
    /// there before.
    fn store_backup_dir(&self, uri: &str, backup_dir: &Path) -> Result<(), AedbError>;
    /// Downloads the latest chain stored under `uri` (its last full backup and
    /// the incrementals after it) into `scratch_dir`; returns their local
    /// directories in chain order.
    fn materialize_backup_chain(
        &self,
        uri: &str,
        scratch_dir: &Path,
    ) -> Result<Vec<PathBuf>, AedbError>;
}

/// Backups in an `object_store` store.
pub struct ObjectStoreBackupAdapter {
    store: Arc<dyn ObjectStore>,
}

impl ObjectStoreBackupAdapter {
    /// An adapter that stores and fetches backups in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        ObjectStoreBackupAdapter { store }
    }
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own,
/// so the adapter's blocking calls work inside or outside a tokio runtime.
fn run<T: Send>(f: impl Future<Output = Result<T, AedbError>> + Send) -> Result<T, AedbError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| AedbError::Unavailable {
                    message: format!("remote backup runtime: {e}"),
                })?
                .block_on(f)
        })
        .join()
        .map_err(|_| AedbError::Unavailable {
            message: "remote backup task panicked".into(),
        })?
    })
}

fn remote(uri: &str, e: impl std::fmt::Display) -> AedbError {
    AedbError::Backup {
        path: uri.to_string(),
        detail: format!("object store: {e}"),
    }
}

impl ObjectStoreBackupAdapter {
    /// Every object under `prefix` (of backups stored at `uri`).
    async fn list(&self, uri: &str, prefix: &ObjectPath) -> Result<Vec<ObjectMeta>, AedbError> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| remote(uri, e))
    }

    /// The complete backups under `uri`: (folder name, index), in order.
    async fn stored(&self, uri: &str) -> Result<Vec<(String, u64)>, AedbError> {
        let prefix = ObjectPath::from(uri);
        let objects = self.list(uri, &prefix).await?;
        let mut out: Vec<(String, u64)> = objects
            .iter()
            .filter_map(|o| {
                let rest: Vec<_> = o.location.prefix_match(&prefix)?.collect();
                match rest.as_slice() {
                    [folder, file] if file.as_ref() == MANIFEST_FILE => {
                        let index = folder.as_ref().split('-').next()?.parse().ok()?;
                        Some((folder.as_ref().to_string(), index))
                    }
                    _ => None,
                }
            })
            .collect();
        out.sort_by_key(|(_, i)| *i);
        Ok(out)
    }
}

impl RemoteBackupAdapter for ObjectStoreBackupAdapter {
    fn store_backup_dir(&self, uri: &str, backup_dir: &Path) -> Result<(), AedbError> {
        let manifest = load_manifest_in(&RealFs, backup_dir, None)?;
        let files = files_of(backup_dir)?;
        run(async {
            let next = self.stored(uri).await?.last().map_or(0, |(_, i)| i + 1);
            let folder = format!("{next:010}-{}", manifest.backup_id);
            // The manifest (and its signature) last: a backup is complete
            // only once its manifest is there.
            let (last, first): (Vec<&String>, Vec<&String>) = files
                .iter()
                .partition(|f| *f == MANIFEST_FILE || *f == MANIFEST_SIG_FILE);
            let mut ordered = first;
            ordered.extend(last.into_iter().rev());
            for name in ordered {
                let path = backup_dir.join(name);
                let bytes = std::fs::read(&path).map_err(|e| io("reading", &path, e))?;
                let to = ObjectPath::from(format!("{uri}/{folder}/{name}"));
                self.store
                    .put(&to, bytes.into())
                    .await
                    .map_err(|e| remote(uri, e))?;
            }
            Ok(())
        })
    }

    fn materialize_backup_chain(
        &self,
        uri: &str,
        scratch_dir: &Path,
    ) -> Result<Vec<PathBuf>, AedbError> {
        run(async {
            let stored = self.stored(uri).await?;
            let mut dirs = Vec::new();
            for (folder, _) in &stored {
                let local = scratch_dir.join(folder);
                let prefix = ObjectPath::from(format!("{uri}/{folder}"));
                let objects = self.list(uri, &prefix).await?;
                for o in objects {
                    let Some(rest) = o.location.prefix_match(&prefix) else {
                        continue;
                    };
                    let rel: Vec<String> = rest.map(|p| p.as_ref().to_string()).collect();
                    if rel.iter().any(|p| p == ".." || p.is_empty()) {
                        return Err(bad(&local, "an object's name leaves the backup"));
                    }
                    let path = rel.iter().fold(local.clone(), |p, c| p.join(c));
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
                    }
                    let bytes = self
                        .store
                        .get(&o.location)
                        .await
                        .map_err(|e| remote(uri, e))?
                        .bytes()
                        .await
                        .map_err(|e| remote(uri, e))?;
                    std::fs::write(&path, &bytes).map_err(|e| io("writing", &path, e))?;
                }
                dirs.push(local);
            }
            // The latest chain: from the last full backup on.
            let mut start = 0;
            for (i, dir) in dirs.iter().enumerate() {
                let m: BackupManifest = load_manifest_in(&RealFs, dir, None)?;
                if m.backup_type == "full" {
                    start = i;
                }
            }
            if dirs.is_empty() {
                return Err(AedbError::Backup {
                    path: uri.to_string(),
                    detail: "no complete backup stored here".into(),
                });
            }
            Ok(dirs.split_off(start))
        })
    }
}
