//! Backups (0.1.9's `aedb::backup`): a directory holding the database's files
//! as of one commit, described by a manifest with every file's SHA-256.
//!
//! A **full** backup holds the page file (the state at its checkpoint) and
//! the WAL segments up to its head seq; an **incremental** one holds the
//! pages written since its parent's checkpoint (a page delta, FORMAT
//! "Backups") and the WAL up to its own head. A chain (a full backup, then
//! incrementals, each naming its parent) restores to any seq from the full
//! backup's checkpoint to the last head: the page file is rebuilt from the
//! full copy and the deltas, and the WAL is replayed up to exactly that seq.
//!
//! Invariants:
//! 1. A backup is a backup only once its manifest exists: the manifest is
//!    written last, through a temporary file and a rename, after every file
//!    it names was synced. A crash mid-backup leaves a directory that every
//!    reader refuses.
//! 2. Restore builds the database in a sibling directory and renames it into
//!    place only after it opened and recovered: a crash mid-restore leaves no
//!    database at the target, never a partial one.
//! 3. Every file is checked against its manifest's SHA-256, and the manifest
//!    against its HMAC when a key is given, before anything is restored.

mod archive;
mod delta;
mod remote;
mod restore;
mod take;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AedbError;
use crate::pager::Key;
use crate::pager::vfs::{OpenMode, RealFs, Vfs};
use crate::vocab::hex;

pub use archive::{extract_backup_archive, write_backup_archive};
pub use remote::{ObjectStoreBackupAdapter, RemoteBackupAdapter};
pub use restore::RESTORE_MARKER;
pub(crate) use restore::{restore_chain, restore_chain_at_time};
pub(crate) use take::{BackupKind, take_backup};

/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest's HMAC-SHA256 (hex), when the backup was taken with a key.
pub const MANIFEST_SIG_FILE: &str = "manifest.sig";
const SIG_DOMAIN: &[u8] = b"aedb-backup-manifest\0";

/// What a backup holds (0.1.9's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The backup's id: its creation time and head seq in hex.
    pub backup_id: String,
    /// `full` or `incremental`.
    pub backup_type: String,
    /// The `backup_id` an incremental backup builds on; `None` for a full one.
    pub parent_backup_id: Option<String>,
    /// An incremental's parent's head seq: its WAL and pages continue from there.
    pub from_seq: Option<u64>,
    /// When the backup was taken, in microseconds since the Unix epoch.
    pub created_at_micros: u64,
    /// The crate version (`CARGO_PKG_VERSION`) that took the backup.
    pub aedb_version: String,
    /// The page file's (or delta's) state: the checkpoint at the backup.
    pub checkpoint_seq: u64,
    /// Every commit up to this seq is in the backup.
    pub wal_head_seq: u64,
    /// `data.aedb` (full) or `pages.delta` (incremental).
    pub checkpoint_file: String,
    /// `wal/<first seq>.wal`, oldest first.
    pub wal_segments: Vec<String>,
    /// Every file above → its SHA-256 (hex).
    pub file_sha256: BTreeMap<String, String>,
}

fn bad(dir: &Path, detail: impl Into<String>) -> AedbError {
    AedbError::Backup {
        path: dir.display().to_string(),
        detail: detail.into(),
    }
}

fn io(op: &str, path: &Path, e: std::io::Error) -> AedbError {
    AedbError::Backup {
        path: path.display().to_string(),
        detail: format!("{op}: {e}"),
    }
}

/// HMAC-SHA256 of the manifest's bytes under `key` (the pager's keyed tag,
/// in its own domain), in hex.
fn signature(key: &[u8], bytes: &[u8]) -> Result<String, AedbError> {
    let key = Key::new(key.to_vec())
        .map_err(|e| AedbError::Validation(format!("backup signing key: {e}")))?;
    Ok(hex(&key.tag(SIG_DOMAIN, &[bytes])))
}

/// The files under `dir` (real files), as `/`-separated relative names,
/// sorted.
pub(crate) fn files_of(dir: &Path) -> Result<Vec<String>, AedbError> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in std::fs::read_dir(&here).map_err(|e| io("listing", &here, e))? {
            let entry = entry.map_err(|e| io("listing", &here, e))?;
            let name = rel.join(entry.file_name());
            if entry.path().is_dir() {
                stack.push(name);
            } else {
                out.push(name.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a whole file through `vfs`.
pub(crate) fn read_file(vfs: &dyn Vfs, path: &Path) -> Result<Vec<u8>, AedbError> {
    let f = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| io("opening", path, e))?;
    let len = f.len().map_err(|e| io("measuring", path, e))?;
    let mut b = vec![0u8; len as usize];
    f.read_at(&mut b, 0).map_err(|e| io("reading", path, e))?;
    Ok(b)
}

/// Copies the first `len` bytes of `from` to `to` through `vfs`, 1 MiB at a
/// time, synced; returns their SHA-256 (hex).
pub(crate) fn copy_file(
    vfs: &dyn Vfs,
    from: &Path,
    len: u64,
    to: &Path,
) -> Result<String, AedbError> {
    const CHUNK: u64 = 1 << 20;
    let src = vfs
        .open(from, OpenMode::ReadOnly)
        .map_err(|e| io("opening", from, e))?;
    let dst = vfs
        .open(to, OpenMode::CreateTruncate)
        .map_err(|e| io("creating", to, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK.min(len) as usize];
    let mut at = 0;
    while at < len {
        let n = CHUNK.min(len - at) as usize;
        src.read_at(&mut buf[..n], at)
            .map_err(|e| io("reading", from, e))?;
        dst.write_at(&buf[..n], at)
            .map_err(|e| io("writing", to, e))?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    dst.sync_data().map_err(|e| io("syncing", to, e))?;
    Ok(hex(&hasher.finalize()))
}

/// Writes `bytes` to `path` through `vfs` and syncs them.
pub(crate) fn write_file(vfs: &dyn Vfs, path: &Path, bytes: &[u8]) -> Result<(), AedbError> {
    let f = vfs
        .open(path, OpenMode::CreateTruncate)
        .map_err(|e| io("creating", path, e))?;
    f.write_at(bytes, 0)
        .and_then(|()| f.sync_data())
        .map_err(|e| io("writing", path, e))
}

/// Writes the manifest (and its signature, with a key) into `dir`, each
/// through a temporary file renamed into place, the signature first.
pub(crate) fn write_manifest_in(
    vfs: &dyn Vfs,
    dir: &Path,
    manifest: &BackupManifest,
    signing_key: Option<&[u8]>,
) -> Result<(), AedbError> {
    let bytes = serde_json::to_vec_pretty(manifest)
        .map_err(|e| AedbError::Encode(format!("backup manifest: {e}")))?;
    let mut files = Vec::new();
    if let Some(key) = signing_key {
        files.push((MANIFEST_SIG_FILE, signature(key, &bytes)?.into_bytes()));
    }
    files.push((MANIFEST_FILE, bytes));
    for (name, bytes) in files {
        let tmp = dir.join(format!("{name}.tmp"));
        write_file(vfs, &tmp, &bytes)?;
        let to = dir.join(name);
        vfs.rename(&tmp, &to).map_err(|e| io("renaming", &to, e))?;
    }
    vfs.sync_dir(dir).map_err(|e| io("syncing", dir, e))
}

/// Reads the manifest of the backup in `dir`; with a key, its signature must
/// be there and match.
pub(crate) fn load_manifest_in(
    vfs: &dyn Vfs,
    dir: &Path,
    signing_key: Option<&[u8]>,
) -> Result<BackupManifest, AedbError> {
    let path = dir.join(MANIFEST_FILE);
    if !vfs.exists(&path).map_err(|e| io("checking", &path, e))? {
        return Err(bad(
            dir,
            "no manifest.json: not a backup, or a backup that never finished",
        ));
    }
    let bytes = read_file(vfs, &path)?;
    if let Some(key) = signing_key {
        let sig_path = dir.join(MANIFEST_SIG_FILE);
        if !vfs
            .exists(&sig_path)
            .map_err(|e| io("checking", &sig_path, e))?
        {
            return Err(bad(dir, "the manifest is not signed, and a key was given"));
        }
        let stored = read_file(vfs, &sig_path)?;
        if stored != signature(key, &bytes)?.into_bytes() {
            return Err(bad(
                dir,
                "the manifest's signature does not match: a wrong key, or a changed manifest",
            ));
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(dir, format!("manifest.json: {e}")))
}

/// Checks every file the manifest names against its SHA-256.
pub(crate) fn verify_in(
    vfs: &dyn Vfs,
    dir: &Path,
    manifest: &BackupManifest,
) -> Result<(), AedbError> {
    let mut named: Vec<&String> = manifest.wal_segments.iter().collect();
    named.push(&manifest.checkpoint_file);
    for name in named {
        if !manifest.file_sha256.contains_key(name) {
            return Err(bad(dir, format!("the manifest has no SHA-256 for {name}")));
        }
    }
    for (name, want) in &manifest.file_sha256 {
        if name.contains("..") || name.starts_with('/') {
            return Err(bad(
                dir,
                format!("the manifest names a file outside it: {name}"),
            ));
        }
        let path = dir.join(name);
        if !vfs.exists(&path).map_err(|e| io("checking", &path, e))? {
            return Err(bad(dir, format!("{name} is missing")));
        }
        let got = hex(&Sha256::digest(read_file(vfs, &path)?));
        if &got != want {
            return Err(bad(
                dir,
                format!("{name} is damaged: SHA-256 {got}, the manifest says {want}"),
            ));
        }
    }
    Ok(())
}

/// Writes `manifest` into `dir` (signed with `signing_key`, if given).
pub fn write_backup_manifest(
    dir: &Path,
    manifest: &BackupManifest,
    signing_key: Option<&[u8]>,
) -> Result<(), AedbError> {
    write_manifest_in(&RealFs, dir, manifest, signing_key)
}

/// Reads the manifest of the backup in `dir`; with a key, its signature must
/// match (else `AedbError::Backup` saying so).
pub fn load_backup_manifest(
    dir: &Path,
    signing_key: Option<&[u8]>,
) -> Result<BackupManifest, AedbError> {
    load_manifest_in(&RealFs, dir, signing_key)
}

/// Checks every file of the backup in `dir` against the manifest's SHA-256:
/// `AedbError::Backup` naming the first missing or damaged file.
pub fn verify_backup_files(dir: &Path, manifest: &BackupManifest) -> Result<(), AedbError> {
    verify_in(&RealFs, dir, manifest)
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file_hex(path: &Path) -> Result<String, AedbError> {
    let mut file = std::fs::File::open(path).map_err(|e| io("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| io("reading", path, e))?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}
