//! Restoring a chain of backups into a new database directory, at its last
//! head or at any seq it covers: the page file is the full backup's with the
//! deltas of the incrementals up to the one whose checkpoint is at or below
//! the target laid over it, the WAL is the union of the chain's segments cut
//! after the target's frame, and opening the directory replays exactly up to
//! the target. A marker file keeps the directory from being opened as a
//! database until all of that succeeded (invariant 2).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backup::delta;
use crate::backup::take::DELTA_FILE;
use crate::backup::{
    BackupManifest, bad, copy_file, io, load_manifest_in, read_file, verify_in, write_file,
};
use crate::config::AedbConfig;
use crate::error::AedbError;
use crate::pager::DATA_FILE_NAME;
use crate::pager::vfs::{OpenMode, Vfs};
use crate::storage::Database;
use crate::storage::backup::{WAL_DIR_NAME, commit_times, cut_wal_after};
use crate::storage::wal::parse_segment_name;

/// Present in a data directory while a restore builds it: the instance
/// refuses to open such a directory.
pub const RESTORE_MARKER: &str = "RESTORE_IN_PROGRESS";

/// The chain's manifests, each checked (signature, files) and linked to the
/// one before.
fn load_chain(
    vfs: &dyn Vfs,
    dirs: &[PathBuf],
    key: Option<&[u8]>,
) -> Result<Vec<BackupManifest>, AedbError> {
    let mut chain: Vec<BackupManifest> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let m = load_manifest_in(vfs, dir, key)?;
        verify_in(vfs, dir, &m)?;
        match chain.last() {
            None if m.backup_type != "full" => {
                return Err(bad(dir, "a chain starts with a full backup"));
            }
            Some(prev) if m.parent_backup_id.as_deref() != Some(prev.backup_id.as_str()) => {
                return Err(bad(
                    dir,
                    format!(
                        "broken chain: its parent is {:?}, the backup before it is {}",
                        m.parent_backup_id, prev.backup_id
                    ),
                ));
            }
            Some(_) if m.backup_type != "incremental" => {
                return Err(bad(dir, "only the first backup of a chain is full"));
            }
            _ => {}
        }
        chain.push(m);
    }
    Ok(chain)
}

/// The first directory of a non-empty chain and its checked manifests.
fn chain_of<'d>(
    vfs: &dyn Vfs,
    dirs: &'d [PathBuf],
    config: &AedbConfig,
) -> Result<(&'d PathBuf, Vec<BackupManifest>), AedbError> {
    let Some(first_dir) = dirs.first() else {
        return Err(AedbError::Validation(
            "restore: no backup directories given".into(),
        ));
    };
    Ok((first_dir, load_chain(vfs, dirs, config.hmac_key())?))
}

fn marker_check(vfs: &dyn Vfs, data_dir: &Path) -> Result<(), AedbError> {
    let marker = data_dir.join(RESTORE_MARKER);
    let unfinished = vfs
        .exists(&marker)
        .map_err(|e| io("checking", &marker, e))?;
    if unfinished {
        return Ok(());
    }
    let data = data_dir.join(DATA_FILE_NAME);
    if vfs.exists(&data).map_err(|e| io("checking", &data, e))? {
        return Err(bad(
            data_dir,
            "already holds a database; restore into a new directory",
        ));
    }
    // Files of anything else are not ours to replace (the restore clears what
    // an unfinished restore of its own left).
    let exists = vfs
        .exists(data_dir)
        .map_err(|e| io("checking", data_dir, e))?;
    if exists
        && !vfs
            .list_dir(data_dir)
            .map_err(|e| io("listing", data_dir, e))?
            .is_empty()
    {
        return Err(bad(
            data_dir,
            "is not empty; restore into a new or empty directory",
        ));
    }
    Ok(())
}

/// Removes what an unfinished restore left in `data_dir`.
fn clear(vfs: &dyn Vfs, data_dir: &Path) -> Result<(), AedbError> {
    for dir in [data_dir.join(WAL_DIR_NAME), data_dir.to_path_buf()] {
        if !vfs.exists(&dir).map_err(|e| io("checking", &dir, e))? {
            continue;
        }
        for path in vfs.list_dir(&dir).map_err(|e| io("listing", &dir, e))? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == RESTORE_MARKER || name == WAL_DIR_NAME {
                continue;
            }
            vfs.remove_file(&path)
                .map_err(|e| io("removing", &path, e))?;
        }
    }
    Ok(())
}

/// Per WAL segment (by first seq), its longest copy in the chain: segments
/// only grow, so the longest holds every frame any copy holds.
fn union_segments(
    vfs: &dyn Vfs,
    dirs: &[PathBuf],
    chain: &[BackupManifest],
) -> Result<BTreeMap<u64, (PathBuf, u64)>, AedbError> {
    let mut segments: BTreeMap<u64, (PathBuf, u64)> = BTreeMap::new();
    for (dir, m) in dirs.iter().zip(chain) {
        for name in &m.wal_segments {
            let path = dir.join(name);
            let first = parse_segment_name(&path)
                .ok_or_else(|| bad(dir, format!("{name} is not a WAL segment name")))?;
            let len = vfs
                .open(&path, OpenMode::ReadOnly)
                .and_then(|f| f.len())
                .map_err(|e| io("measuring", &path, e))?;
            if segments.get(&first).is_none_or(|(_, l)| *l < len) {
                segments.insert(first, (path, len));
            }
        }
    }
    Ok(segments)
}

/// The last commit of the chain made at or before `micros` (wall clock,
/// microseconds since the Unix epoch), from the commit times its WAL frames
/// carry; at least the first backup's checkpoint, which is where the chain's
/// restorable seqs begin. With a clock that stepped back, the highest seq
/// stamped at or before `micros` wins.
fn seq_at_time(
    vfs: &dyn Vfs,
    dirs: &[PathBuf],
    chain: &[BackupManifest],
    config: &AedbConfig,
    micros: u64,
) -> Result<u64, AedbError> {
    let first_dir = &dirs[0];
    let from = chain[0].checkpoint_seq;
    let key = config.storage_options()?.key;
    let mut best: Option<(u64, u64)> = None;
    let mut earliest: Option<(u64, u64)> = None;
    for (path, _) in union_segments(vfs, dirs, chain)?.values() {
        for (seq, time) in commit_times(vfs, path, key.as_ref())? {
            let Some(time) = time.filter(|_| seq >= from) else {
                continue;
            };
            if earliest.is_none_or(|(s, _)| seq < s) {
                earliest = Some((seq, time));
            }
            if time <= micros && best.is_none_or(|(s, _)| seq > s) {
                best = Some((seq, time));
            }
        }
    }
    if let Some((seq, _)) = best {
        return Ok(seq);
    }
    Err(match earliest {
        Some((first, first_time)) => bad(
            first_dir,
            format!(
                "no restorable commit at or before {micros}: the chain's first, seq {first}, was made at {first_time}"
            ),
        ),
        None => bad(first_dir, "the chain's WAL holds no timed commit"),
    })
}

/// Restores `dirs` (a full backup, then incrementals) into `data_dir` at
/// `target` (the last head when `None`); returns the restored seq.
pub(crate) fn restore_chain(
    fs: &Arc<dyn Vfs>,
    dirs: &[PathBuf],
    data_dir: &Path,
    config: &AedbConfig,
    target: Option<u64>,
) -> Result<u64, AedbError> {
    restore_to(fs, dirs, data_dir, config, Target::Seq(target))
}

/// Restores `dirs` into `data_dir` at the last commit made at or before
/// `micros` (`seq_at_time`); returns its seq. The chain is checked once.
pub(crate) fn restore_chain_at_time(
    fs: &Arc<dyn Vfs>,
    dirs: &[PathBuf],
    data_dir: &Path,
    config: &AedbConfig,
    micros: u64,
) -> Result<u64, AedbError> {
    restore_to(fs, dirs, data_dir, config, Target::Time(micros))
}

/// Where a restore stops: a seq (the last head when `None`) or a time.
enum Target {
    Seq(Option<u64>),
    Time(u64),
}

fn restore_to(
    fs: &Arc<dyn Vfs>,
    dirs: &[PathBuf],
    data_dir: &Path,
    config: &AedbConfig,
    target: Target,
) -> Result<u64, AedbError> {
    let vfs = &**fs;
    let (first_dir, chain) = chain_of(vfs, dirs, config)?;
    let (first, last) = (&chain[0], &chain[chain.len() - 1]);
    let target = match target {
        Target::Seq(seq) => seq.unwrap_or(last.wal_head_seq),
        Target::Time(micros) => seq_at_time(vfs, dirs, &chain, config, micros)?,
    };
    if target < first.checkpoint_seq || target > last.wal_head_seq {
        return Err(bad(
            first_dir,
            format!(
                "seq {target} is outside the chain: it restores seqs {}..={}",
                first.checkpoint_seq, last.wal_head_seq
            ),
        ));
    }
    // The newest page state at or below the target.
    let k = chain
        .iter()
        .rposition(|m| m.checkpoint_seq <= target)
        .unwrap_or(0);
    marker_check(vfs, data_dir)?;
    vfs.create_dir_all(&data_dir.join(WAL_DIR_NAME))
        .map_err(|e| io("creating", data_dir, e))?;
    write_file(
        vfs,
        &data_dir.join(RESTORE_MARKER),
        b"restore in progress\n",
    )?;
    vfs.sync_dir(data_dir)
        .map_err(|e| io("syncing", data_dir, e))?;
    clear(vfs, data_dir)?;

    // The page file: the full copy, then each delta up to k, built under
    // another name and renamed once synced (it is not a page file until then).
    let pages_path = data_dir.join(format!("{DATA_FILE_NAME}.restoring"));
    let base = dirs[0].join(DATA_FILE_NAME);
    let base_len = vfs
        .open(&base, OpenMode::ReadOnly)
        .and_then(|f| f.len())
        .map_err(|e| io("measuring", &base, e))?;
    copy_file(vfs, &base, base_len, &pages_path)?;
    let pages = vfs
        .open(&pages_path, OpenMode::ReadWrite)
        .map_err(|e| io("opening", &pages_path, e))?;
    for dir in &dirs[1..=k] {
        let path = dir.join(DELTA_FILE);
        let bytes = read_file(vfs, &path)?;
        let d = delta::decode(&bytes, &path)?;
        pages
            .set_len(d.file_len)
            .map_err(|e| io("sizing", &pages_path, e))?;
        for (id, page) in d.pages {
            pages
                .write_at(page, id * d.page_size as u64)
                .map_err(|e| io("writing", &pages_path, e))?;
        }
    }
    pages
        .sync_data()
        .map_err(|e| io("syncing", &pages_path, e))?;
    drop(pages);
    let data = data_dir.join(DATA_FILE_NAME);
    vfs.rename(&pages_path, &data)
        .map_err(|e| io("renaming", &data, e))?;

    // The WAL: each segment's longest copy in the chain (segments only grow),
    // from the one reaching the page state's checkpoint on.
    let checkpoint = chain[k].checkpoint_seq;
    let segments = union_segments(vfs, dirs, &chain)?;
    let firsts: Vec<u64> = segments.keys().copied().collect();
    for (i, (path, len)) in segments.values().enumerate() {
        // A segment whose frames all precede the checkpoint is not needed.
        if firsts.get(i + 1).is_some_and(|next| *next <= checkpoint) {
            continue;
        }
        let name = path.file_name().unwrap_or_default();
        let to = data_dir.join(WAL_DIR_NAME).join(name);
        copy_file(vfs, path, *len, &to)?;
    }
    let wal_dir = data_dir.join(WAL_DIR_NAME);
    vfs.sync_dir(&wal_dir)
        .map_err(|e| io("syncing", &wal_dir, e))?;
    let options = config.storage_options()?;
    let reached = cut_wal_after(vfs, &wal_dir, options.key.as_ref(), target)?;
    // Frames up to the target, unless the page state is the target itself.
    if reached.max(checkpoint) < target {
        return Err(bad(
            first_dir,
            format!("the chain's WAL ends at seq {reached}, before seq {target}"),
        ));
    }

    // Recovery replays up to the target and checkpoints it.
    let db = Database::open_with(fs.clone(), data_dir, options)?;
    let restored = db.visible_seq();
    drop(db);
    if restored != target {
        return Err(bad(
            data_dir,
            format!("the restored database is at seq {restored}, not {target}"),
        ));
    }
    let marker = data_dir.join(RESTORE_MARKER);
    vfs.remove_file(&marker)
        .and_then(|()| vfs.sync_dir(data_dir))
        .map_err(|e| io("finishing", &marker, e))?;
    tracing::info!(
        data_dir = %data_dir.display(),
        backups = dirs.len(),
        seq = restored,
        "aedb restore finished"
    );
    Ok(restored)
}
