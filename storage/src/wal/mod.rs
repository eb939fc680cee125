//! The redo WAL: segments `<dir>/wal/<first seq>.wal`, each a header followed by
//! hash-chained frames (see [`frame`]).
//!
//! Invariants:
//! 1. Frames carry consecutive seqs across segments; each segment's header records
//!    the chain hash before its first frame.
//! 2. A segment is created, its header synced, and the directory synced before any
//!    frame is appended to it; the previous segment is fully synced first, so a sync
//!    of the current segment covers every appended frame.
//! 3. A segment is deleted only when both metas' checkpoint seqs cover all of its
//!    frames, and the directory is synced after the unlink (G3 d).
#![forbid(unsafe_code)]

pub mod frame;
pub mod recover;
mod resolve;

use aedb_pager::Key;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aedb_pager::vfs::{OpenMode, Vfs, VfsFile};

use crate::error::{Result, StorageError};
use frame::{ChainHash, SEGMENT_HEADER_LEN, SegmentHeader, encode_frame};

/// The file name of the segment whose first frame is `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

/// Parses a segment file name.
pub fn parse_segment_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".wal")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// Segments in `wal_dir`, oldest first.
pub fn list_segments(vfs: &dyn Vfs, wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    if !vfs
        .exists(wal_dir)
        .map_err(|e| StorageError::io("checking", wal_dir, e))?
    {
        return Ok(Vec::new());
    }
    let mut out: Vec<(u64, PathBuf)> = vfs
        .list_dir(wal_dir)
        .map_err(|e| StorageError::io("listing", wal_dir, e))?
        .into_iter()
        .filter_map(|p| parse_segment_name(&p).map(|s| (s, p)))
        .collect();
    out.sort();
    Ok(out)
}

/// Appends frames; rotates and deletes segments.
pub struct WalWriter {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    key: Option<Key>,
    segment_limit: u64,
    /// Live segments, oldest first: (first seq, path).
    segments: Vec<(u64, PathBuf)>,
    file: Arc<dyn VfsFile>,
    file_len: u64,
    /// The segment is zero-filled up to here (W9), so appends before this offset
    /// overwrite allocated blocks and a sync carries no size change.
    prealloc_end: u64,
    /// Last appended frame.
    pub head_seq: u64,
    /// Chain hash after `head_seq`: the previous hash of the next frame.
    pub head_hash: ChainHash,
    /// Bytes appended since the last checkpoint.
    pub bytes_since_checkpoint: u64,
}

impl WalWriter {
    /// Starts a fresh segment after `head_seq` (recovery never appends to a segment
    /// it read: a torn or damaged tail stays behind).
    pub fn start(
        vfs: Arc<dyn Vfs>,
        dir: PathBuf,
        key: Option<Key>,
        segment_limit: u64,
        mut segments: Vec<(u64, PathBuf)>,
        head_seq: u64,
        head_hash: ChainHash,
    ) -> Result<WalWriter> {
        // `head_seq` came from disk: a crc-valid frame could claim u64::MAX.
        let Some(first) = head_seq.checked_add(1) else {
            let detail = "the recovered head seq has no successor".into();
            let seq = head_seq;
            return Err(StorageError::WalCorruption {
                segment: dir,
                offset: 0,
                seq,
                rule: "W3",
                detail,
            });
        };
        let (file, path, prealloc_end) =
            create_segment(&*vfs, &dir, key.is_some(), first, head_hash, segment_limit)?;
        segments.retain(|(s, _)| *s != first);
        segments.push((first, path));
        Ok(WalWriter {
            vfs,
            dir,
            key,
            segment_limit,
            segments,
            file,
            file_len: SEGMENT_HEADER_LEN as u64,
            prealloc_end,
            head_seq,
            head_hash,
            bytes_since_checkpoint: 0,
        })
    }

    /// The segment appends go to (what a sync must cover).
    pub fn current(&self) -> Arc<dyn VfsFile> {
        self.file.clone()
    }

    /// Live segments, oldest first, as (first seq, path); the current one is
    /// last. Segments a checkpoint let go (`take_covered`) are no longer listed.
    pub fn segments(&self) -> &[(u64, PathBuf)] {
        &self.segments
    }

    /// Appends the frame of commit `seq`; returns its chain hash.
    /// `synced_upto` is the highest seq known durable now (recorded for rule W8).
    pub fn append(&mut self, seq: u64, synced_upto: u64, payload: &[u8]) -> Result<ChainHash> {
        let mut synced_upto = synced_upto;
        if self.file_len >= self.segment_limit {
            self.rotate()?;
            // Rotation synced every earlier frame.
            synced_upto = self.head_seq;
        }
        let (bytes, hash) = encode_frame(
            seq,
            synced_upto,
            &self.head_hash,
            payload,
            self.key.as_ref(),
        );
        let path = self
            .segments
            .last()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let end = self.file_len + bytes.len() as u64;
        if end > self.prealloc_end {
            // Zero-fill the next chunk first; the next sync pays its size change
            // once, and the appends after it are overwrites again.
            let target = end.max(self.prealloc_end + prealloc_chunk(self.segment_limit));
            zero_fill(&*self.file, end, target)
                .map_err(|e| StorageError::io("preallocating", &path, e))?;
            self.prealloc_end = target;
        }
        self.file
            .write_at(&bytes, self.file_len)
            .map_err(|e| StorageError::io("appending to", &path, e))?;
        self.file_len += bytes.len() as u64;
        self.bytes_since_checkpoint += bytes.len() as u64;
        self.head_seq = seq;
        self.head_hash = hash;
        Ok(hash)
    }

    /// Invariant 2: the old segment is synced before the new one takes frames.
    fn rotate(&mut self) -> Result<()> {
        let old = self
            .segments
            .last()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        self.file
            .sync_data()
            .map_err(|e| StorageError::io("syncing", &old, e))?;
        // Appends are seq-checked by the engine, which never issues a seq past
        // u64::MAX, so this only fails on a head recovered from a crafted file.
        let Some(first) = self.head_seq.checked_add(1) else {
            let (seq, detail) = (self.head_seq, "the head seq has no successor".into());
            let rule = "W3";
            return Err(StorageError::WalCorruption {
                segment: old,
                offset: 0,
                seq,
                rule,
                detail,
            });
        };
        let keyed = self.key.is_some();
        let (hash, limit) = (self.head_hash, self.segment_limit);
        let (file, path, prealloc_end) =
            create_segment(&*self.vfs, &self.dir, keyed, first, hash, limit)?;
        self.file = file;
        self.file_len = SEGMENT_HEADER_LEN as u64;
        self.prealloc_end = prealloc_end;
        self.segments.push((first, path));
        Ok(())
    }

    /// Starts a fresh segment at head + 1 unless the current one has no frames yet.
    /// Called after a checkpoint, so an open reads only frames past it instead of
    /// re-reading (and re-hashing) a segment of frames the checkpoint already holds.
    pub fn rotate_if_used(&mut self) -> Result<()> {
        if self.file_len > SEGMENT_HEADER_LEN as u64 {
            self.rotate()?;
        }
        Ok(())
    }

    /// Takes every segment whose frames are all at or below `covered` off the
    /// list (invariant 3), to be deleted by [`Covered::delete`] outside the
    /// writer's lock.
    pub fn take_covered(&mut self, covered: u64) -> Covered {
        let mut segments = Vec::new();
        while self.segments.len() > 1 && self.segments[1].0 <= covered.saturating_add(1) {
            segments.push(self.segments.remove(0).1);
        }
        Covered {
            vfs: self.vfs.clone(),
            dir: self.dir.clone(),
            segments,
        }
    }
}

/// Segments no meta needs any more, taken off the writer's list.
#[must_use = "covered segments are deleted by `delete`"]
pub struct Covered {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    segments: Vec<PathBuf>,
}

impl Covered {
    /// Unlinks the segments and syncs the directory; returns how many.
    pub fn delete(self) -> Result<usize> {
        for path in &self.segments {
            self.vfs
                .remove_file(path)
                .map_err(|e| StorageError::io("deleting", path, e))?;
        }
        if !self.segments.is_empty() {
            self.vfs
                .sync_dir(&self.dir)
                .map_err(|e| StorageError::io("syncing directory", &self.dir, e))?;
        }
        Ok(self.segments.len())
    }
}

/// Zero-fill granularity: 1 MiB, or the segment size when segments are smaller.
/// Each chunk costs one sync that journals a size change (once per ~5,000 small
/// commits) and a segment's first chunk is written and synced when the segment is
/// created (at open and after each checkpoint), so bigger chunks cost more there.
fn prealloc_chunk(segment_limit: u64) -> u64 {
    segment_limit.clamp(4096, 1 << 20)
}

/// Writes zeros over [from, to) (allocating the blocks: W9).
fn zero_fill(file: &dyn VfsFile, from: u64, to: u64) -> std::io::Result<()> {
    const BLOCK: usize = 256 << 10;
    let zeros = vec![0u8; BLOCK.min(to.saturating_sub(from) as usize)];
    let mut at = from;
    while at < to {
        let n = zeros.len().min((to - at) as usize);
        file.write_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Creates a segment: header, then zeros to the first preallocation chunk, synced
/// together (so the first appends are overwrites); returns the zero-filled end.
fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    keyed: bool,
    first_seq: u64,
    prev_hash: ChainHash,
    segment_limit: u64,
) -> Result<(Arc<dyn VfsFile>, PathBuf, u64)> {
    let path = dir.join(segment_name(first_seq));
    let file = vfs
        .open(&path, OpenMode::CreateTruncate)
        .map_err(|e| StorageError::io("creating", &path, e))?;
    let header = SegmentHeader {
        keyed,
        first_seq,
        prev_hash,
    }
    .encode();
    file.write_at(&header, 0)
        .map_err(|e| StorageError::io("writing header of", &path, e))?;
    let prealloc_end = SEGMENT_HEADER_LEN as u64 + prealloc_chunk(segment_limit);
    zero_fill(&*file, SEGMENT_HEADER_LEN as u64, prealloc_end)
        .map_err(|e| StorageError::io("preallocating", &path, e))?;
    file.sync_data()
        .map_err(|e| StorageError::io("syncing", &path, e))?;
    if !aedb_pager::mutation::active(aedb_pager::mutation::Mutation::SkipDirSyncAfterSegmentCreate)
    {
        vfs.sync_dir(dir)
            .map_err(|e| StorageError::io("syncing directory", dir, e))?;
    }
    Ok((file, path, prealloc_end))
}
