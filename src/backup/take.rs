//! Taking a backup while commits go on: pin the files (no checkpoint runs),
//! copy the page file (full) or the pages written since the parent (a
//! delta), then the WAL up to the head, each synced with its SHA-256, and
//! write the manifest last.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::backup::{
    BackupManifest, bad, copy_file, delta, hex, io, load_manifest_in, verify_in, write_file,
    write_manifest_in,
};
use crate::error::AedbError;
use crate::pager::DATA_FILE_NAME;
use crate::pager::vfs::Vfs;
use crate::storage::Database;
use crate::storage::backup::WAL_DIR_NAME;
/// The page delta's name in an incremental backup.
pub(crate) const DELTA_FILE: &str = "pages.delta";

/// Which backup to take.
pub(crate) enum BackupKind<'p> {
    Full,
    /// On top of the backup in this directory.
    Incremental(&'p Path),
    /// On top of a backup known by its manifest and newest meta generation
    /// (one taken by this process: continuous archiving).
    After(&'p BackupManifest, u64),
}

/// Makes `dir` (and `dir/wal`), refusing one that already holds a backup.
fn prepare(vfs: &dyn Vfs, dir: &Path) -> Result<(), AedbError> {
    let manifest = dir.join(super::MANIFEST_FILE);
    if vfs
        .exists(&manifest)
        .map_err(|e| io("checking", &manifest, e))?
    {
        return Err(bad(
            dir,
            "already holds a backup; back up into a new directory",
        ));
    }
    let wal = dir.join(WAL_DIR_NAME);
    vfs.create_dir_all(&wal)
        .map_err(|e| io("creating", &wal, e))?;
    Ok(())
}

/// Takes a backup of `db` into `dir`; `key` signs the manifest (and must
/// verify the parent's). Returns its manifest and its newest meta
/// generation (what a backup on top of it needs).
pub(crate) fn take_backup(
    db: &Database,
    dir: &Path,
    kind: BackupKind<'_>,
    key: Option<&[u8]>,
    created_at_micros: u64,
) -> Result<(BackupManifest, u64), AedbError> {
    let pin = db.pin_for_backup()?;
    let vfs = pin.vfs();
    let vfs = &*vfs;
    let parent = match kind {
        BackupKind::Full => None,
        BackupKind::Incremental(p) => {
            let m = load_manifest_in(vfs, p, key)?;
            verify_in(vfs, p, &m)?;
            let generation = delta::generation_of(vfs, p, &m.checkpoint_file)?;
            Some((m, generation))
        }
        BackupKind::After(m, generation) => Some((m.clone(), generation)),
    };
    prepare(vfs, dir)?;
    let set = pin.files()?;
    if let Some((p, _)) = &parent
        && (p.wal_head_seq > set.head_seq || p.checkpoint_seq > set.checkpoint_seq)
    {
        return Err(bad(
            dir,
            format!(
                "the parent backup (head {}) is ahead of this database (head {}): not its backup",
                p.wal_head_seq, set.head_seq
            ),
        ));
    }
    let mut sha = BTreeMap::new();
    let (pages, wal) = set
        .files
        .split_first()
        .ok_or_else(|| AedbError::Unavailable {
            message: "backup: the engine listed no page file".into(),
        })?;
    debug_assert_eq!(pages.name, DATA_FILE_NAME);
    let checkpoint_file = match &parent {
        None => {
            sha.insert(
                DATA_FILE_NAME.to_string(),
                copy_file(vfs, &pages.path, pages.len, &dir.join(DATA_FILE_NAME))?,
            );
            DATA_FILE_NAME.to_string()
        }
        Some((_, parent_generation)) => {
            let bytes = delta::build(
                vfs,
                &pages.path,
                pages.len,
                set.page_size,
                set.meta_generation,
                *parent_generation,
            )?;
            write_file(vfs, &dir.join(DELTA_FILE), &bytes)?;
            sha.insert(DELTA_FILE.to_string(), hex(&Sha256::digest(&bytes)));
            DELTA_FILE.to_string()
        }
    };
    // An incremental needs only the segments holding frames after its parent's
    // head: a segment ends where the next one begins.
    let after = parent.as_ref().map_or(0, |(p, _)| p.wal_head_seq);
    let mut wal_segments = Vec::new();
    for (i, f) in wal.iter().enumerate() {
        let next_first = wal
            .get(i + 1)
            .and_then(|n| crate::storage::wal::parse_segment_name(&n.path));
        if next_first.is_some_and(|n| n <= after.saturating_add(1)) {
            continue;
        }
        sha.insert(
            f.name.clone(),
            copy_file(vfs, &f.path, f.len, &dir.join(&f.name))?,
        );
        wal_segments.push(f.name.clone());
    }
    vfs.sync_dir(&dir.join(WAL_DIR_NAME))
        .and_then(|()| vfs.sync_dir(dir))
        .map_err(|e| io("syncing", dir, e))?;
    let manifest = BackupManifest {
        backup_id: format!("{created_at_micros:016x}-{:x}", set.head_seq),
        backup_type: if parent.is_some() {
            "incremental"
        } else {
            "full"
        }
        .into(),
        parent_backup_id: parent.as_ref().map(|(p, _)| p.backup_id.clone()),
        from_seq: parent.as_ref().map(|(p, _)| p.wal_head_seq),
        created_at_micros,
        aedb_version: env!("CARGO_PKG_VERSION").into(),
        checkpoint_seq: set.checkpoint_seq,
        wal_head_seq: set.head_seq,
        checkpoint_file,
        wal_segments,
        file_sha256: sha,
    };
    write_manifest_in(vfs, dir, &manifest, key)?;
    drop(pin);
    let generation = set.meta_generation;
    tracing::info!(
        dir = %dir.display(),
        backup_type = %manifest.backup_type,
        checkpoint_seq = manifest.checkpoint_seq,
        head_seq = manifest.wal_head_seq,
        "aedb backup taken"
    );
    Ok((manifest, generation))
}
