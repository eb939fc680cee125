//! Reading the WAL back at open: verify the chain from the newest meta's checkpoint,
//! collect the frames to replay, and act on the first thing that is not a good
//! frame as FORMAT.md's recovery table says.
//!
//! Rules (FORMAT.md): S1–S3 segment header; S4 a bad newest header is a torn
//! creation only when nothing but zeros follows it; W1 frame crc; W2 length limit;
//! W3 consecutive seqs; W4 each frame chains to the previous frame's hash (and the
//! first frame of a segment to its header); W5 keyed HMAC; W6 the frame at the
//! meta's checkpoint seq has the meta's chain hash; W7 no gap between the meta's
//! checkpoint seq and the first retained frame after it; W8 a bad frame is damage
//! when a valid frame after it records that the WAL had been synced past it; W9
//! zeros from a frame boundary to the end of a segment are its clean end; W10 an
//! unvouched bad frame is a torn tail only when its bytes show a lost write, and a
//! complete bad final frame is cut and reported as unvouched; W11 a checkpointed
//! database's WAL reaches its checkpoint seq; W12 a large commit's frame above
//! the checkpoint is the unfinished last commit (cut), or damage if anything
//! follows it.
//!
//! Shape: `Scan` reads segments oldest first and stops at the first
//! `Finding`; `resolve` (in `resolve.rs`, the table) turns it into an
//! `Action`; only [`recover`] executes actions, [`verify`] reports them.
#![forbid(unsafe_code)]

use aedb_pager::Key;
use std::path::{Path, PathBuf};

use aedb_pager::mutation::{Mutation, active};
use aedb_pager::vfs::{OpenMode, Vfs};

use super::frame::{ChainHash, FrameError, SEGMENT_HEADER_LEN, SegmentHeader, decode_frame};
use super::list_segments;
use super::resolve::{Action, Finding, Tail, all_zero, judge_bad_frame, resolve};
use crate::effects::is_large_commit;
use crate::error::{Result, StorageError};
use crate::options::RecoveryMode;

/// What the WAL held beyond the checkpoint.
#[derive(Debug, Default)]
pub struct WalRecovery {
    /// Frames after the checkpoint, in order: (seq, payload, hash).
    pub frames: Vec<(u64, Vec<u8>, ChainHash)>,
    /// The last good frame's seq, or the checkpoint seq when the WAL ends at
    /// or before it; the next commit is `head_seq + 1`.
    pub head_seq: u64,
    /// Chain hash after `head_seq` (the meta's chain hash when the head is
    /// the checkpoint): the next frame chains to it.
    pub head_hash: ChainHash,
    /// Segments kept (oldest first).
    pub segments: Vec<(u64, PathBuf)>,
    /// Torn tail cut off: (segment, offset, bytes dropped).
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// The cut began with a complete frame that failed its checks and that no
    /// later frame vouches for (W10): it may have been an acknowledged Durable
    /// commit damaged at rest, and nothing proves it was ever synced.
    pub unvouched_tail_truncated: bool,
    /// Permissive mode: what was dropped and why.
    pub dropped: Vec<String>,
    /// The highest seq the WAL's chain reached (`None`: no segment was read).
    pub reached: Option<u64>,
    /// Permissive mode: the WAL did not reach the checkpoint seq (W11).
    pub wal_missing: Option<String>,
}

/// Reads `wal_dir` against the meta's (checkpoint seq, chain hash) and repairs a
/// torn tail. A WAL that does not reach the checkpoint is accepted: use this for a
/// database that may never have had a segment (see [`recover_anchored`]).
pub fn recover(
    vfs: &dyn Vfs,
    wal_dir: &Path,
    key: Option<&Key>,
    checkpoint_seq: u64,
    checkpoint_hash: ChainHash,
    mode: RecoveryMode,
) -> Result<WalRecovery> {
    scan_wal(
        vfs,
        wal_dir,
        key,
        (checkpoint_seq, checkpoint_hash),
        mode,
        Act::Repair,
        Reach::Optional,
    )
}

/// [`recover`] for a database the engine has checkpointed (meta generation ≥ 3):
/// every checkpoint leaves a segment reaching its seq, so a WAL that does not is
/// missing (W11): `WalMissing` in strict mode, reported in permissive mode.
pub fn recover_anchored(
    vfs: &dyn Vfs,
    wal_dir: &Path,
    key: Option<&Key>,
    checkpoint_seq: u64,
    checkpoint_hash: ChainHash,
    mode: RecoveryMode,
) -> Result<WalRecovery> {
    scan_wal(
        vfs,
        wal_dir,
        key,
        (checkpoint_seq, checkpoint_hash),
        mode,
        Act::Repair,
        Reach::Required,
    )
}

/// Like [`recover`] but never writes: a torn tail is reported, not cut (for
/// `aedb wal verify`).
pub fn verify(
    vfs: &dyn Vfs,
    wal_dir: &Path,
    key: Option<&Key>,
    checkpoint_seq: u64,
    checkpoint_hash: ChainHash,
) -> Result<WalRecovery> {
    scan_wal(
        vfs,
        wal_dir,
        key,
        (checkpoint_seq, checkpoint_hash),
        RecoveryMode::Strict,
        Act::ReportOnly,
        Reach::Optional,
    )
}

/// What a scan may do with what it finds: `recover` repairs (truncates, sets
/// aside), `verify` only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Repair,
    ReportOnly,
}

/// Whether the WAL must reach the checkpoint seq (FORMAT W11): required once the
/// engine has checkpointed the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Required,
    Optional,
}

fn scan_wal(
    vfs: &dyn Vfs,
    wal_dir: &Path,
    key: Option<&Key>,
    checkpoint: (u64, ChainHash),
    mode: RecoveryMode,
    act: Act,
    reach: Reach,
) -> Result<WalRecovery> {
    let (checkpoint_seq, checkpoint_hash) = checkpoint;
    let mut segments = list_segments(vfs, wal_dir)?;
    let Some(after_checkpoint) = checkpoint_seq.checked_add(1) else {
        return Err(corrupt(
            wal_dir,
            0,
            checkpoint_seq,
            "W3",
            "the meta's checkpoint seq has no successor".into(),
        ));
    };
    // Segments wholly at or below the checkpoint are not needed to replay; a crash
    // while deleting them may leave any subset behind, so they are skipped, not
    // chained (they are deleted by the next checkpoint).
    let start = segments
        .iter()
        .rposition(|(first, _)| *first <= after_checkpoint)
        .unwrap_or(0);
    let stale: Vec<(u64, PathBuf)> = segments.drain(..start).collect();
    // Even at checkpoint seq 0 the first frame must chain from the meta's hash
    // (genesis) and be seq 1 (W6, W7).
    let mut scan = Scan {
        checkpoint_seq,
        checkpoint_hash,
        out: WalRecovery::default(),
        at: None,
        anchored: false,
    };
    let mut stop = None;
    for (index, (first_seq, path)) in segments.iter().enumerate() {
        let bytes = read_segment(vfs, path)?;
        if let Some(finding) = scan.segment(
            index,
            *first_seq,
            path,
            &bytes,
            index + 1 == segments.len(),
            key,
        ) {
            stop = Some(finding);
            break;
        }
    }
    let at_seq = scan.at.map(|(seq, _)| seq);
    scan.out.reached = scan.out.reached.max(at_seq);
    let ctx = Ctx {
        vfs,
        wal_dir,
        segments: &segments,
        repair: act == Act::Repair,
    };
    if let Some(finding) = stop {
        ctx.execute(resolve(finding, mode), &mut scan.out)?;
    }
    if reach == Reach::Required && scan.out.reached.is_none_or(|seq| seq < checkpoint_seq) {
        let missing = Finding::Missing {
            wal_dir: wal_dir.to_path_buf(),
            checkpoint_seq,
            reached: scan.out.reached,
        };
        ctx.execute(resolve(missing, mode), &mut scan.out)?;
    }
    // A WAL that ends at or before the checkpoint needs no anchor: every frame it
    // could hold is in the page file already (W11 decided above whether that is
    // acceptable).
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

fn read_segment(vfs: &dyn Vfs, path: &Path) -> Result<Vec<u8>> {
    let file = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| StorageError::io("opening", path, e))?;
    let len = file
        .len()
        .map_err(|e| StorageError::io("measuring", path, e))?;
    let len = usize::try_from(len)
        .map_err(|_| corrupt(path, 0, 0, "W2", format!("a segment of {len} bytes")))?;
    let mut bytes = vec![0u8; len];
    file.read_at(&mut bytes, 0)
        .map_err(|e| StorageError::io("reading", path, e))?;
    Ok(bytes)
}

fn corrupt(
    segment: &Path,
    offset: u64,
    seq: u64,
    rule: &'static str,
    detail: String,
) -> StorageError {
    StorageError::WalCorruption {
        segment: segment.to_path_buf(),
        offset,
        seq,
        rule,
        detail,
    }
}

struct Scan {
    checkpoint_seq: u64,
    checkpoint_hash: ChainHash,
    out: WalRecovery,
    /// The chain as verified so far: last seq and hash (None before the first frame).
    at: Option<(u64, ChainHash)>,
    anchored: bool,
}

impl Scan {
    /// Reads one segment, accepting its good frames; returns what stopped it, if
    /// anything did. `newest`: the last segment listed.
    fn segment(
        &mut self,
        index: usize,
        first_seq: u64,
        path: &Path,
        bytes: &[u8],
        newest: bool,
        key: Option<&Key>,
    ) -> Option<Finding> {
        let header = match SegmentHeader::decode(bytes) {
            Ok(h) => h,
            Err((rule, detail)) => {
                return Some(self.bad_header(index, first_seq, path, bytes, newest, rule, detail));
            }
        };
        if header.keyed != key.is_some() {
            let detail = if header.keyed {
                "a keyed segment opened without the key"
            } else {
                "an unkeyed segment opened with a key"
            };
            return Some(Finding::Fatal(corrupt(
                path,
                12,
                first_seq,
                "S3",
                detail.into(),
            )));
        }
        if header.first_seq != first_seq || first_seq == 0 {
            return Some(Finding::Fatal(corrupt(
                path,
                16,
                first_seq,
                "S1",
                format!(
                    "header first seq {} in a segment named {first_seq}",
                    header.first_seq
                ),
            )));
        }
        match self.at {
            None => {
                // W7: the first segment read must not start past the checkpoint.
                if first_seq > self.checkpoint_seq.saturating_add(1) {
                    let detail = format!(
                        "frames {}..{first_seq} are missing after the checkpoint",
                        self.checkpoint_seq.saturating_add(1)
                    );
                    return Some(Finding::Fatal(corrupt(path, 16, first_seq, "W7", detail)));
                }
                self.at = Some((first_seq - 1, header.prev_hash));
            }
            Some((seq, hash)) => {
                if seq.checked_add(1) != Some(first_seq) || hash != header.prev_hash {
                    let error = corrupt(
                        path,
                        16,
                        first_seq,
                        "W4",
                        format!("segment does not continue the chain after seq {seq}"),
                    );
                    return Some(Finding::BadSegment { index, error });
                }
            }
        }
        self.out.segments.push((first_seq, path.to_path_buf()));
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < bytes.len() {
            let (prev_seq, prev_hash) = self.at.unwrap_or((0, [0; 32]));
            let Some(s) = prev_seq.checked_add(1) else {
                return Some(Finding::Fatal(corrupt(
                    path,
                    offset as u64,
                    prev_seq,
                    "W3",
                    "a frame after seq u64::MAX".into(),
                )));
            };
            let (rule, detail) = match decode_frame(&bytes[offset..], &prev_hash, key) {
                Ok(f)
                    if f.seq == s && f.seq > self.checkpoint_seq && is_large_commit(f.payload) =>
                {
                    return Some(
                        self.large_above_checkpoint(index, path, bytes, offset, f.len, s, newest),
                    );
                }
                Ok(f) if f.seq == s => {
                    if let Err(e) = self.accept(f.seq, f.payload, f.hash, path, offset) {
                        return Some(Finding::Fatal(e));
                    }
                    offset += f.len;
                    continue;
                }
                // W9: the zero-filled rest of the segment is its clean end.
                _ if all_zero(&bytes[offset..]) => break,
                Ok(f) => ("W3", format!("seq {} after seq {prev_seq}", f.seq)),
                Err(FrameError::Truncated) => ("W8", "a frame cut short".to_string()),
                Err(FrameError::Bad(rule, d)) => (rule, d),
            };
            let cut = (bytes.len() - offset) as u64;
            let at = offset as u64;
            return Some(match judge_bad_frame(bytes, offset, s, key, newest) {
                Tail::Torn => Finding::TornTail {
                    index,
                    offset: at,
                    cut,
                },
                Tail::Unvouched => Finding::UnvouchedTail {
                    index,
                    offset: at,
                    cut,
                },
                Tail::Damage => Finding::Damage {
                    index,
                    offset: at,
                    error: corrupt(path, at, s, rule, detail),
                },
            });
        }
        None
    }

    /// W12: a large commit's frame above the checkpoint. Its metas never became
    /// durable, and its writer held the lock until they would have, so it is
    /// the last frame: cut it (it was never acknowledged). Anything after it
    /// is damage.
    #[allow(clippy::too_many_arguments)]
    fn large_above_checkpoint(
        &self,
        index: usize,
        path: &Path,
        bytes: &[u8],
        offset: usize,
        len: usize,
        seq: u64,
        newest: bool,
    ) -> Finding {
        let at = offset as u64;
        if newest && all_zero(&bytes[offset + len..]) {
            return Finding::UnfinishedLargeCommit {
                index,
                offset: at,
                cut: (bytes.len() - offset) as u64,
            };
        }
        let detail = "a large commit above the checkpoint is followed by more WAL: \
                      no frame is appended until its metas are durable"
            .to_string();
        Finding::Damage {
            index,
            offset: at,
            error: corrupt(path, at, seq, "W12", detail),
        }
    }

    /// S4: a bad header is a torn creation only on the newest segment, when it is
    /// the one expected next, and nothing but zeros follows the header (frames are
    /// appended only after the header and the directory entry were synced, so a
    /// frame after a bad header proves damage).
    #[allow(clippy::too_many_arguments)]
    fn bad_header(
        &mut self,
        index: usize,
        first_seq: u64,
        path: &Path,
        bytes: &[u8],
        newest: bool,
        rule: &'static str,
        detail: String,
    ) -> Finding {
        let known = self.at.map_or(self.checkpoint_seq, |(s, _)| s);
        let expected = known.checked_add(1) == Some(first_seq);
        let empty = bytes.get(SEGMENT_HEADER_LEN..).is_none_or(all_zero);
        if newest && expected && (empty || active(Mutation::TornHeaderWithFrames)) {
            // Its name was chosen after the chain reached `known` (W11).
            self.out.reached = Some(known);
            return Finding::TornCreation {
                index,
                len: bytes.len() as u64,
            };
        }
        let detail = if newest && expected {
            format!(
                "{detail}; bytes follow the header, so this is damage, \
                 not a crash while creating the segment (S4)"
            )
        } else {
            detail
        };
        Finding::BadSegment {
            index,
            error: corrupt(path, 0, first_seq, rule, detail),
        }
    }

    fn accept(
        &mut self,
        seq: u64,
        payload: &[u8],
        hash: ChainHash,
        path: &Path,
        offset: usize,
    ) -> Result<()> {
        let corrupt =
            |rule: &'static str, detail: String| corrupt(path, offset as u64, seq, rule, detail);
        if seq == self.checkpoint_seq {
            if hash != self.checkpoint_hash {
                return Err(corrupt(
                    "W6",
                    "the frame at the checkpoint seq does not carry the meta's chain hash".into(),
                ));
            }
            self.anchored = true;
        }
        if seq > self.checkpoint_seq {
            if !self.anchored {
                // The first retained frame past the checkpoint must follow it directly.
                if self.checkpoint_seq.checked_add(1) != Some(seq) {
                    return Err(corrupt(
                        "W7",
                        format!(
                            "frames {}..{seq} are missing after the checkpoint",
                            self.checkpoint_seq.saturating_add(1)
                        ),
                    ));
                }
                let (_, prev) = self.at.unwrap_or((0, [0; 32]));
                if prev != self.checkpoint_hash {
                    return Err(corrupt(
                        "W6",
                        "the first frame after the checkpoint does not chain to the meta's hash"
                            .into(),
                    ));
                }
                self.anchored = true;
            }
            self.out.frames.push((seq, payload.to_vec(), hash));
        }
        self.at = Some((seq, hash));
        Ok(())
    }
}

/// Where actions run.
struct Ctx<'a> {
    vfs: &'a dyn Vfs,
    wal_dir: &'a Path,
    segments: &'a [(u64, PathBuf)],
    /// False for `verify`: report every action, write nothing.
    repair: bool,
}

impl Ctx<'_> {
    fn path(&self, index: usize) -> PathBuf {
        self.segments
            .get(index)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| self.wal_dir.to_path_buf())
    }

    fn execute(&self, action: Action, out: &mut WalRecovery) -> Result<()> {
        match action {
            Action::Refuse(e) => Err(e),
            Action::Truncate {
                index,
                offset,
                cut,
                unvouched,
            } => {
                let path = self.path(index);
                if self.repair {
                    // Cut so the next open reads a clean end (recovery never appends
                    // to a segment it read).
                    let file = self
                        .vfs
                        .open(&path, OpenMode::ReadWrite)
                        .map_err(|e| StorageError::io("opening", &path, e))?;
                    file.set_len(offset)
                        .map_err(|e| StorageError::io("truncating", &path, e))?;
                    file.sync_data()
                        .map_err(|e| StorageError::io("syncing", &path, e))?;
                }
                out.truncated = Some((path, offset, cut));
                out.unvouched_tail_truncated = unvouched;
                Ok(())
            }
            Action::Delete { index, len } => {
                let path = self.path(index);
                if self.repair {
                    self.vfs
                        .remove_file(&path)
                        .map_err(|e| StorageError::io("deleting", &path, e))?;
                    self.vfs
                        .sync_dir(self.wal_dir)
                        .map_err(|e| StorageError::io("syncing directory", self.wal_dir, e))?;
                }
                out.truncated = Some((path, 0, len));
                Ok(())
            }
            Action::SetAside { index, offset, why } => {
                out.dropped.push(why);
                if !self.repair {
                    return Ok(());
                }
                let mut later = index;
                if let Some(offset) = offset {
                    // Keep the dropped bytes for forensics, then cut them so the
                    // next append continues a clean chain.
                    let path = self.path(index);
                    let file = self
                        .vfs
                        .open(&path, OpenMode::ReadWrite)
                        .map_err(|e| StorageError::io("opening", &path, e))?;
                    let len = file
                        .len()
                        .map_err(|e| StorageError::io("measuring", &path, e))?;
                    let mut tail = vec![0u8; len.saturating_sub(offset) as usize];
                    file.read_at(&mut tail, offset)
                        .map_err(|e| StorageError::io("reading", &path, e))?;
                    self.set_aside(&path, Some(&tail))?;
                    file.set_len(offset)
                        .map_err(|e| StorageError::io("truncating", &path, e))?;
                    file.sync_data()
                        .map_err(|e| StorageError::io("syncing", &path, e))?;
                    later = index + 1;
                }
                // Every segment past the stop point is renamed to `.wal.dropped`, so
                // no later open meets it again and no new segment collides.
                for (_, path) in self.segments.iter().skip(later) {
                    self.set_aside(path, None)?;
                }
                Ok(())
            }
            Action::Report(text) => {
                out.wal_missing = Some(text);
                Ok(())
            }
        }
    }

    /// Permissive recovery's quarantine: `tail` (if given) is copied to
    /// `<segment>.dropped`; otherwise the whole segment is renamed to it.
    fn set_aside(&self, path: &Path, tail: Option<&[u8]>) -> Result<()> {
        let mut aside = path.as_os_str().to_owned();
        aside.push(".dropped");
        let aside = PathBuf::from(aside);
        match tail {
            Some(bytes) => {
                let f = self
                    .vfs
                    .open(&aside, OpenMode::CreateTruncate)
                    .map_err(|e| StorageError::io("creating", &aside, e))?;
                f.write_at(bytes, 0)
                    .map_err(|e| StorageError::io("writing", &aside, e))?;
                f.sync_data()
                    .map_err(|e| StorageError::io("syncing", &aside, e))?;
            }
            None => self
                .vfs
                .rename(path, &aside)
                .map_err(|e| StorageError::io("renaming", path, e))?,
        }
        self.vfs
            .sync_dir(self.wal_dir)
            .map_err(|e| StorageError::io("syncing directory", self.wal_dir, e))
    }
}
