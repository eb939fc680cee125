//! Reading the WAL back at open: verify the chain from the newest meta's checkpoint,
//! collect the frames to replay, truncate a torn tail, and refuse (strict) or stop
//! at (permissive) anything else.
//!
//! Rules (FORMAT.md): S1–S3 segment header; W1 frame crc; W2 length limit; W3
//! consecutive seqs; W4 each frame chains to the previous frame's hash (and the
//! first frame of a segment to its header); W5 keyed HMAC; W6 the frame at the
//! meta's checkpoint seq has the meta's chain hash; W7 no gap between the meta's
//! checkpoint seq and the first retained frame after it; W8 a bad frame is a torn
//! tail unless a valid frame after it records that the WAL had been synced past
//! it (then the bytes were durable and are damaged: corruption). Unsynced writes may
//! reach the disk out of order, so a valid frame after a lost one is not by itself
//! damage. W9 zeros from a frame boundary to the end of a segment are its clean end
//! (segments are zero-filled ahead of the appends).
#![forbid(unsafe_code)]

use std::path::PathBuf;

use aedb_pager::vfs::{OpenMode, Vfs};

use super::frame::{ChainHash, FRAME_HEADER_LEN, FrameError, SEGMENT_HEADER_LEN, SegmentHeader, decode_frame};
use super::list_segments;
use crate::storage::error::{Result, StorageError};
use crate::storage::options::RecoveryMode;

/// What the WAL held beyond the checkpoint.
#[derive(Debug, Default)]
pub struct WalRecovery {
    /// Frames after the checkpoint, in order: (seq, payload, hash).
    pub frames: Vec<(u64, Vec<u8>, ChainHash)>,
    pub head_seq: u64,
    pub head_hash: ChainHash,
    /// Segments kept (oldest first).
    pub segments: Vec<(u64, PathBuf)>,
    /// Torn tail cut off: (segment, offset, bytes dropped).
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// Permissive mode: what was dropped and why.
    pub dropped: Vec<String>,
}

struct Scan {
    checkpoint_seq: u64,
    checkpoint_hash: ChainHash,
    out: WalRecovery,
    /// The chain as verified so far: last seq and hash (None before the first frame).
    at: Option<(u64, ChainHash)>,
    anchored: bool,
}

/// Reads `wal_dir` against the meta's (checkpoint seq, chain hash), truncating a
/// torn tail.
pub fn recover(vfs: &dyn Vfs, wal_dir: &std::path::Path, key: Option<&[u8]>, checkpoint_seq: u64, checkpoint_hash: ChainHash, mode: RecoveryMode) -> Result<WalRecovery> {
    scan_wal(vfs, wal_dir, key, checkpoint_seq, checkpoint_hash, mode, true)
}

/// Like [`recover`] but never writes: a torn tail is reported, not cut (for
/// `aedb wal verify`).
pub fn verify(vfs: &dyn Vfs, wal_dir: &std::path::Path, key: Option<&[u8]>, checkpoint_seq: u64, checkpoint_hash: ChainHash) -> Result<WalRecovery> {
    scan_wal(vfs, wal_dir, key, checkpoint_seq, checkpoint_hash, RecoveryMode::Strict, false)
}

fn scan_wal(vfs: &dyn Vfs, wal_dir: &std::path::Path, key: Option<&[u8]>, checkpoint_seq: u64, checkpoint_hash: ChainHash, mode: RecoveryMode, repair: bool) -> Result<WalRecovery> {
    let mut segments = list_segments(vfs, wal_dir)?;
    // Segments wholly at or below the checkpoint are not needed to replay; a crash
    // while deleting them may leave any subset behind, so they are skipped, not
    // chained (they are deleted by the next checkpoint).
    let start = segments.iter().rposition(|(first, _)| *first <= checkpoint_seq + 1).unwrap_or(0);
    let stale: Vec<(u64, PathBuf)> = segments.drain(..start).collect();
    // Even at checkpoint seq 0 the first frame must chain from the meta's hash
    // (genesis) and be seq 1 (W6, W7).
    let mut scan = Scan { checkpoint_seq, checkpoint_hash, out: WalRecovery::default(), at: None, anchored: false };
    let n = segments.len();
    let all_segments = segments.clone();
    let mut quarantine_from: Option<usize> = None;
    for (index, (first_seq, path)) in segments.into_iter().enumerate() {
        let last = index + 1 == n;
        let open_mode = if repair { OpenMode::ReadWrite } else { OpenMode::ReadOnly };
        let file = vfs.open(&path, open_mode).map_err(|e| StorageError::io("opening", &path, e))?;
        let len = file.len().map_err(|e| StorageError::io("measuring", &path, e))?;
        let mut bytes = vec![0u8; len as usize];
        file.read_at(&mut bytes, 0).map_err(|e| StorageError::io("reading", &path, e))?;
        let corrupt = |offset: u64, seq: u64, rule: &'static str, detail: String| StorageError::WalCorruption { segment: path.clone(), offset, seq, rule, detail };
        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            Err((rule, detail)) => {
                let known = scan.at.map_or(scan.checkpoint_seq, |(s, _)| s);
                if last && known + 1 == first_seq {
                    // A crash while creating the newest segment: nothing was ever
                    // appended to it (appends follow the header's sync).
                    if repair {
                        vfs.remove_file(&path).map_err(|e| StorageError::io("deleting", &path, e))?;
                        vfs.sync_dir(wal_dir).map_err(|e| StorageError::io("syncing directory", wal_dir, e))?;
                    }
                    scan.out.truncated = Some((path.clone(), 0, len));
                    break;
                }
                if mode == RecoveryMode::Permissive {
                    scan.out.dropped.push(format!("{}: header invalid (rule {rule}: {detail}); this and later segments set aside", path.display()));
                    quarantine_from = Some(index);
                    break;
                }
                return Err(corrupt(0, first_seq, rule, detail));
            }
        };
        if header.keyed != key.is_some() {
            return Err(corrupt(12, first_seq, "S3", if header.keyed { "a keyed segment opened without the key".into() } else { "an unkeyed segment opened with a key".into() }));
        }
        if header.first_seq != first_seq || first_seq == 0 {
            return Err(corrupt(16, first_seq, "S1", format!("header first seq {} in a segment named {first_seq}", header.first_seq)));
        }
        match scan.at {
            None => scan.at = Some((first_seq - 1, header.prev_hash)),
            Some((seq, hash)) => {
                if seq + 1 != first_seq || hash != header.prev_hash {
                    let e = corrupt(16, first_seq, "W4", format!("segment does not continue the chain after seq {seq}"));
                    if mode == RecoveryMode::Permissive {
                        scan.out.dropped.push(format!("{e}; this and later segments set aside"));
                        quarantine_from = Some(index);
                        break;
                    }
                    return Err(e);
                }
            }
        }
        scan.out.segments.push((first_seq, path.clone()));
        let mut offset = SEGMENT_HEADER_LEN;
        let mut stop = false;
        while offset < bytes.len() {
            let (prev_seq, prev_hash) = scan.at.unwrap_or((0, [0; 32]));
            match decode_frame(&bytes[offset..], &prev_hash, key) {
                Ok(f) if f.seq == prev_seq + 1 => {
                    scan.accept(f.seq, f.payload, f.hash, &path, offset)?;
                    offset += f.len;
                }
                // W9: the zero-filled rest of the segment is its clean end.
                _ if bytes[offset..].iter().all(|b| *b == 0) => break,
                result => {
                    let (rule, detail) = match result {
                        Ok(f) => ("W3", format!("seq {} after seq {prev_seq}", f.seq)),
                        Err(FrameError::Truncated) => ("W8", "a frame cut short".to_string()),
                        Err(FrameError::Bad(rule, d)) => (rule, d),
                    };
                    let followed = !last || synced_frame_after(&bytes, offset + 1, prev_seq + 1, key);
                    if !followed {
                        // W8: a torn tail. Cut it off so the next append is clean.
                        if repair {
                            file.set_len(offset as u64).map_err(|e| StorageError::io("truncating", &path, e))?;
                            file.sync_data().map_err(|e| StorageError::io("syncing", &path, e))?;
                        }
                        scan.out.truncated = Some((path.clone(), offset as u64, (bytes.len() - offset) as u64));
                    } else if mode == RecoveryMode::Permissive {
                        scan.out.dropped.push(format!("{}: offset {offset}: seq {} on: rule {rule}: {detail}", path.display(), prev_seq + 1));
                        if repair {
                            // Keep the dropped bytes for forensics, then cut them so
                            // the next append continues a clean chain.
                            set_aside(vfs, wal_dir, &path, Some(&bytes[offset..]))?;
                            file.set_len(offset as u64).map_err(|e| StorageError::io("truncating", &path, e))?;
                            file.sync_data().map_err(|e| StorageError::io("syncing", &path, e))?;
                        }
                        quarantine_from = Some(index + 1);
                    } else {
                        return Err(corrupt(offset as u64, prev_seq + 1, rule, detail));
                    }
                    stop = true;
                    break;
                }
            }
        }
        if stop {
            break;
        }
    }
    // Permissive recovery sets aside every segment past the stop point (renamed to
    // `.wal.dropped`), so no later open meets them again and no new segment collides.
    if let (Some(from), true) = (quarantine_from, repair) {
        for (_, path) in all_segments.iter().skip(from) {
            set_aside(vfs, wal_dir, path, None)?;
        }
    }
    // A WAL that ends at or before the checkpoint needs no anchor: every frame it
    // could hold is in the page file already.
    let (seq, hash) = match scan.at {
        Some((seq, hash)) if seq >= scan.checkpoint_seq => (seq, hash),
        _ => (scan.checkpoint_seq, scan.checkpoint_hash),
    };
    scan.out.head_seq = seq;
    scan.out.head_hash = hash;
    let mut all = stale;
    all.append(&mut scan.out.segments);
    scan.out.segments = all;
    Ok(scan.out)
}

/// Permissive recovery's quarantine: `tail` (if given) is copied to
/// `<segment>.dropped`; otherwise the whole segment is renamed to it.
fn set_aside(vfs: &dyn Vfs, wal_dir: &std::path::Path, path: &std::path::Path, tail: Option<&[u8]>) -> Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".dropped");
    let aside = PathBuf::from(aside);
    match tail {
        Some(bytes) => {
            let f = vfs.open(&aside, OpenMode::CreateTruncate).map_err(|e| StorageError::io("creating", &aside, e))?;
            f.write_at(bytes, 0).map_err(|e| StorageError::io("writing", &aside, e))?;
            f.sync_data().map_err(|e| StorageError::io("syncing", &aside, e))?;
        }
        None => vfs.rename(path, &aside).map_err(|e| StorageError::io("renaming", path, e))?,
    }
    vfs.sync_dir(wal_dir).map_err(|e| StorageError::io("syncing directory", wal_dir, e))
}

impl Scan {
    fn accept(&mut self, seq: u64, payload: &[u8], hash: ChainHash, path: &std::path::Path, offset: usize) -> Result<()> {
        let corrupt = |rule: &'static str, detail: String| StorageError::WalCorruption { segment: path.to_path_buf(), offset: offset as u64, seq, rule, detail };
        if seq == self.checkpoint_seq {
            if hash != self.checkpoint_hash {
                return Err(corrupt("W6", "the frame at the checkpoint seq does not carry the meta's chain hash".into()));
            }
            self.anchored = true;
        }
        if seq > self.checkpoint_seq {
            if !self.anchored {
                // The first retained frame past the checkpoint must follow it directly.
                if seq != self.checkpoint_seq + 1 {
                    return Err(corrupt("W7", format!("frames {}..{seq} are missing after the checkpoint", self.checkpoint_seq + 1)));
                }
                let (_, prev) = self.at.unwrap_or((0, [0; 32]));
                if prev != self.checkpoint_hash {
                    return Err(corrupt("W6", "the first frame after the checkpoint does not chain to the meta's hash".into()));
                }
                self.anchored = true;
            }
            self.out.frames.push((seq, payload.to_vec(), hash));
        }
        self.at = Some((seq, hash));
        Ok(())
    }
}

/// W8: is there, anywhere from `from`, a crc-valid frame past `bad_seq` that was
/// written after the WAL had been synced through `bad_seq`? (Only the seq filter and
/// the crc are checked: the chain is broken here.)
fn synced_frame_after(bytes: &[u8], from: usize, bad_seq: u64, key: Option<&[u8]>) -> bool {
    let min_seq = bad_seq;
    let extra = if key.is_some() { super::frame::HMAC_LEN } else { 0 };
    (from..bytes.len().saturating_sub(FRAME_HEADER_LEN)).any(|at| {
        let b = &bytes[at..];
        let seq = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        if seq < min_seq || seq > min_seq + (1 << 32) {
            return false;
        }
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let total = FRAME_HEADER_LEN + n + extra;
        if n > super::frame::MAX_PAYLOAD || b.len() < total {
            return false;
        }
        let synced = u64::from_le_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]);
        let stored = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        synced >= bad_seq && stored == crc32c::crc32c_append(crc32c::crc32c(&b[..4]), &b[8..total])
    })
}
