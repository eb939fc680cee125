//! Online backup: a pin that holds checkpoints off while the page file and the
//! WAL are copied, the list of what to copy, and the cut that ends a restored
//! WAL at a chosen commit.
//!
//! Why a pin is enough: while no checkpoint runs, the two metas do not change,
//! no page either meta reaches is reused (engine invariant 5, the two-meta
//! rule), and no WAL segment is deleted (WAL invariant 3). Commits go on: they
//! write pages the metas do not reach and append frames. So the page file's
//! bytes, copied at any pace, hold the checkpointed state exactly, and the WAL
//! segments hold every frame after it up to the seq the copy names.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aedb_pager::vfs::{OpenMode, Vfs};
use aedb_pager::{DATA_FILE_NAME, Key};

use crate::database::Database;
use crate::effects::decode_timed;
use crate::engine::Engine;
use crate::error::{Result, StorageError};
use crate::wal::frame::{Frame, SEGMENT_HEADER_LEN, SegmentHeader, decode_frame};
use crate::wal::{list_segments, segment_name};

/// Name of the WAL directory inside a database directory.
pub const WAL_DIR_NAME: &str = "wal";

/// Checkpoints held off for a backup; dropping it lets them run again.
pub struct BackupPin {
    engine: Arc<Engine>,
    checkpoint_seq: u64,
    meta_generation: u64,
    page_file_len: u64,
}

/// One file of a database to copy: its name relative to the database
/// directory (`data.aedb`, `wal/<first seq>.wal`), where it is, and how many
/// of its bytes belong to the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// Where the file goes in the copy, relative to the database directory,
    /// with `/` separators (`wal/<20-digit first seq>.wal`).
    pub name: String,
    /// Where the file is now, inside the database directory.
    pub path: PathBuf,
    /// Bytes to copy from the file's start. Later bytes are not part of the
    /// backup: pages past the file's length at the pin, frames past `head_seq`.
    pub len: u64,
}

/// What a backup copies: the files, and the last commit they hold whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSet {
    /// The newest meta's checkpoint seq: the page file's state.
    pub checkpoint_seq: u64,
    /// The newest meta's generation: every page written after it carries a
    /// higher one (what an incremental backup on top of this one copies).
    pub meta_generation: u64,
    /// The page file's page size, in bytes.
    pub page_size: u32,
    /// Every commit up to this seq is in the copied WAL (and durable).
    pub head_seq: u64,
    /// The page file first, then the WAL segments oldest first: every segment
    /// that starts at or before `head_seq + 1`, each cut after `head_seq`'s frame.
    pub files: Vec<BackupFile>,
}

impl Database {
    /// Pins the files for a backup: until the pin is dropped no checkpoint
    /// runs (commits go on; a due checkpoint waits, `checkpoint_now` blocks).
    pub fn pin_for_backup(&self) -> Result<BackupPin> {
        // A checkpoint in flight finishes first (its meta and segment deletions
        // would change what the pin describes).
        let _gate = self.engine.checkpoint_gate();
        let st = self.engine.writer()?;
        self.engine.backups.pin();
        let checkpoint_seq = st.checkpoint_seq;
        let meta_generation = self.engine.pager.meta().generation;
        drop(st);
        // Built before anything can fail, so an error unpins on drop.
        let mut pin = BackupPin {
            engine: self.engine.clone(),
            checkpoint_seq,
            meta_generation,
            page_file_len: 0,
        };
        let path = self.engine.dir.join(DATA_FILE_NAME);
        pin.page_file_len = self
            .engine
            .vfs
            .open(&path, OpenMode::ReadOnly)
            .and_then(|f| f.len())
            .map_err(|e| StorageError::io("measuring", &path, e))?;
        Ok(pin)
    }
}

impl BackupPin {
    /// The file system the database lives on.
    pub fn vfs(&self) -> Arc<dyn Vfs> {
        self.engine.vfs.clone()
    }

    /// The checkpoint seq at the pin: the state the copied page file holds.
    /// It cannot move while the pin lives.
    pub fn checkpoint_seq(&self) -> u64 {
        self.checkpoint_seq
    }

    /// The files to copy now: the page file (as long as it was at the pin;
    /// pages past that are not reached by either meta) and the WAL segments up
    /// to the last commit visible now, made durable first, each cut at the
    /// end of that commit's frame.
    pub fn files(&self) -> Result<BackupSet> {
        let engine = &self.engine;
        let head = engine.readers.latest_seq();
        engine.sync.wait_durable(head, true)?;
        let mut files = vec![BackupFile {
            name: DATA_FILE_NAME.to_string(),
            path: engine.dir.join(DATA_FILE_NAME),
            len: self.page_file_len,
        }];
        let wal_dir = engine.dir.join(WAL_DIR_NAME);
        let key = engine.options.key.as_ref();
        for (first, path) in list_segments(&*engine.vfs, &wal_dir)? {
            // The segment after the head (its header chains to the head's
            // hash) is what reaches a checkpoint at the head (W11).
            if first > head.saturating_add(1) {
                break;
            }
            let (len, _) = frames_end(&*engine.vfs, &path, key, head)?;
            files.push(BackupFile {
                name: format!("{WAL_DIR_NAME}/{}", segment_name(first)),
                path,
                len,
            });
        }
        Ok(BackupSet {
            checkpoint_seq: self.checkpoint_seq,
            meta_generation: self.meta_generation,
            page_size: engine.pager.page_size(),
            head_seq: head,
            files,
        })
    }
}

impl Drop for BackupPin {
    fn drop(&mut self) {
        self.engine.backups.unpin();
    }
}

/// Walks the whole, good frames of segment `path` in order (checked as
/// recovery checks them: crc, chain, HMAC), while `visit` returns true;
/// returns the offset after the last frame visited.
fn walk_frames(
    vfs: &dyn Vfs,
    path: &Path,
    key: Option<&Key>,
    visit: &mut dyn FnMut(&Frame<'_>) -> bool,
) -> Result<u64> {
    let file = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| StorageError::io("opening", path, e))?;
    let len = file
        .len()
        .map_err(|e| StorageError::io("measuring", path, e))?;
    let mut bytes = vec![0u8; len as usize];
    file.read_at(&mut bytes, 0)
        .map_err(|e| StorageError::io("reading", path, e))?;
    let corrupt = |rule: &'static str, detail: String| StorageError::WalCorruption {
        segment: path.to_path_buf(),
        offset: 0,
        seq: 0,
        rule,
        detail,
    };
    let header = bytes
        .get(..SEGMENT_HEADER_LEN)
        .ok_or_else(|| corrupt("S1", "shorter than a segment header".into()))?;
    let header = SegmentHeader::decode(header).map_err(|(rule, d)| corrupt(rule, d))?;
    let mut prev = header.prev_hash;
    let mut at = SEGMENT_HEADER_LEN;
    while at < bytes.len() {
        let Ok(f) = decode_frame(&bytes[at..], &prev, key) else {
            break;
        };
        if !visit(&f) {
            break;
        }
        prev = f.hash;
        at += f.len;
    }
    Ok(at as u64)
}

/// The end of the last whole frame at or before `up_to` in segment `path`,
/// and that frame's seq (`None`: the segment holds none). Reading stops at
/// the first frame that is not whole and good, or that is past `up_to`.
pub fn frames_end(
    vfs: &dyn Vfs,
    path: &Path,
    key: Option<&Key>,
    up_to: u64,
) -> Result<(u64, Option<u64>)> {
    let mut last = None;
    let end = walk_frames(vfs, path, key, &mut |f| {
        if f.seq > up_to {
            return false;
        }
        last = Some(f.seq);
        true
    })?;
    Ok((end, last))
}

/// The seq and commit time (microseconds since the Unix epoch; `None` for a
/// frame written without one) of every good frame of segment `path`.
pub fn commit_times(
    vfs: &dyn Vfs,
    path: &Path,
    key: Option<&Key>,
) -> Result<Vec<(u64, Option<u64>)>> {
    let mut out = Vec::new();
    let mut bad = None;
    walk_frames(vfs, path, key, &mut |f| match decode_timed(f.payload) {
        Ok((_, time)) => {
            out.push((f.seq, time));
            true
        }
        Err(e) => {
            bad = Some((f.seq, e));
            false
        }
    })?;
    match bad {
        Some((seq, detail)) => Err(StorageError::WalCorruption {
            segment: path.to_path_buf(),
            offset: 0,
            seq,
            rule: "E1",
            detail,
        }),
        None => Ok(out),
    }
}

/// Ends the WAL in `wal_dir` (a restored copy, not a live database's) after
/// the frame of commit `seq`: that segment is cut at the frame's end, a
/// segment starting at `seq + 1` keeps only its header (it reaches a
/// checkpoint at `seq`, W11), later segments are removed, so an open replays
/// exactly up to `seq`.
/// Returns the seq of the last frame kept (below `seq` when the WAL ends
/// before it).
pub fn cut_wal_after(vfs: &dyn Vfs, wal_dir: &Path, key: Option<&Key>, seq: u64) -> Result<u64> {
    let mut last = 0;
    for (first, path) in list_segments(vfs, wal_dir)? {
        if first > seq.saturating_add(1) {
            vfs.remove_file(&path)
                .map_err(|e| StorageError::io("removing", &path, e))?;
            continue;
        }
        let (end, kept) = frames_end(vfs, &path, key, seq)?;
        let file = vfs
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| StorageError::io("opening", &path, e))?;
        file.set_len(end)
            .and_then(|()| file.sync_data())
            .map_err(|e| StorageError::io("cutting", &path, e))?;
        last = kept.unwrap_or(last).max(last);
    }
    vfs.sync_dir(wal_dir)
        .map_err(|e| StorageError::io("syncing directory", wal_dir, e))?;
    Ok(last)
}
