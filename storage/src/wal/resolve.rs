//! How recovery judges what its scan of the WAL found. The scan ([`super::recover`])
//! stops at the first thing that is not a good frame and describes it as a
//! [`Finding`]; [`resolve`] maps each finding to an [`Action`] row for row as
//! FORMAT.md's recovery table does, in the table's order; the byte tests below
//! tell a torn write from damage (rules S4, W8, W10).
//!
//! Invariants:
//! 1. `resolve` is the only place where a finding becomes an action. `recover`
//!    executes actions; `verify` only reports them.
//! 2. A bad frame or header is called torn only when the crash model can produce
//!    its bytes: a write since the last sync kept, dropped or torn at 512-byte
//!    sectors over space that was zero-filled before it (W9), or file growth lost.
//!    Anything else is damage, which Strict refuses; the one exception is a
//!    complete damaged *final* frame that no later frame vouches for, which is cut
//!    and reported as unvouched (W10).
//! 3. Every test here is linear in the segment's length: a crafted segment cannot
//!    make recovery quadratic.
//!
//! Deliberately absent: no test here writes, and none looks past the segment it
//! is given (older segments were synced whole by rotation: any bad frame in them
//! is damage, decided by the caller).
#![forbid(unsafe_code)]

use aedb_pager::Key;
use aedb_pager::format::{read_u32, read_u64};
use std::path::PathBuf;

use aedb_pager::mutation::{Mutation, active};

use super::frame::{FRAME_HEADER_LEN, HMAC_LEN, MAX_PAYLOAD};
use crate::error::StorageError;
use crate::options::RecoveryMode;

/// Torn writes keep or drop whole sectors of this size (or larger, which keeps
/// the test below valid: a lost 4 KiB page is eight lost sectors).
const SECTOR: usize = 512;

/// Why the scan stopped. `index` is the segment's position among the segments read.
#[derive(Debug)]
pub(super) enum Finding {
    /// W8/W10: the newest segment's first bad frame shows a write the crash did not
    /// keep, and no later frame vouches that it was synced.
    TornTail { index: usize, offset: u64, cut: u64 },
    /// W10: the newest segment's final frame is complete and bad, nothing but zeros
    /// follows it, and no later frame vouches for it. It may have been an
    /// acknowledged Durable commit; nothing proves it was synced.
    UnvouchedTail { index: usize, offset: u64, cut: u64 },
    /// W12: a large commit's frame above the checkpoint, last in the WAL (only
    /// zeros after it in the newest segment): the crash came before its metas,
    /// so it was never acknowledged and no meta reaches its pages.
    UnfinishedLargeCommit { index: usize, offset: u64, cut: u64 },
    /// S4: the newest segment's header is bad, it is the segment expected next, and
    /// nothing but zeros follows the header: a crash while creating it.
    TornCreation { index: usize, len: u64 },
    /// A bad frame that is damage (W8 vouched, W10, or in an older segment).
    Damage {
        index: usize,
        offset: u64,
        error: StorageError,
    },
    /// A header breaking S1–S3 that is not a torn creation (S4), or a segment that
    /// does not continue the chain (W4 between segments).
    BadSegment { index: usize, error: StorageError },
    /// Refused in every mode: keyed flag ≠ key given, first seq ≠ name or 0, W6,
    /// W7, a seq with no successor.
    Fatal(StorageError),
    /// W11: the database has been checkpointed, yet the WAL does not reach its
    /// checkpoint seq (`wal/` or its segments are missing).
    Missing {
        wal_dir: PathBuf,
        checkpoint_seq: u64,
        reached: Option<u64>,
    },
}

/// What recovery does about a finding.
#[derive(Debug)]
pub(super) enum Action {
    /// Cut segment `index` at `offset` (`cut` bytes); `unvouched` goes in the report.
    Truncate {
        index: usize,
        offset: u64,
        cut: u64,
        unvouched: bool,
    },
    /// Delete segment `index` (a torn creation: it holds no frame).
    Delete { index: usize, len: u64 },
    /// Open fails with this error.
    Refuse(StorageError),
    /// Permissive: stop here and keep what is dropped beside the WAL: segment
    /// `index` from `offset` (the whole segment when `None`) and every later one.
    SetAside {
        index: usize,
        offset: Option<u64>,
        why: String,
    },
    /// Permissive: open, and say what is missing in the report.
    Report(String),
}

/// FORMAT.md's recovery table, row for row.
pub(super) fn resolve(finding: Finding, mode: RecoveryMode) -> Action {
    use RecoveryMode::{Permissive, Strict};
    match (finding, mode) {
        (Finding::TornTail { index, offset, cut }, _) => Action::Truncate {
            index,
            offset,
            cut,
            unvouched: false,
        },
        (Finding::UnvouchedTail { index, offset, cut }, _) => Action::Truncate {
            index,
            offset,
            cut,
            unvouched: true,
        },
        (Finding::UnfinishedLargeCommit { index, offset, cut }, _) => Action::Truncate {
            index,
            offset,
            cut,
            unvouched: false,
        },
        (Finding::TornCreation { index, len }, _) => Action::Delete { index, len },
        (Finding::Damage { error, .. }, Strict) => Action::Refuse(error),
        (
            Finding::Damage {
                index,
                offset,
                error,
            },
            Permissive,
        ) => Action::SetAside {
            index,
            offset: Some(offset),
            why: format!("{error}; this frame and everything after it set aside"),
        },
        (Finding::BadSegment { error, .. }, Strict) => Action::Refuse(error),
        (Finding::BadSegment { index, error }, Permissive) => Action::SetAside {
            index,
            offset: None,
            why: format!("{error}; this and later segments set aside"),
        },
        (Finding::Fatal(error), _) => Action::Refuse(error),
        (
            Finding::Missing {
                wal_dir,
                checkpoint_seq,
                reached,
            },
            Strict,
        ) => Action::Refuse(StorageError::WalMissing {
            wal_dir,
            checkpoint_seq,
            detail: missing_detail(reached),
        }),
        (
            Finding::Missing {
                wal_dir,
                checkpoint_seq,
                reached,
            },
            Permissive,
        ) => Action::Report(format!(
            "{}: the WAL does not reach checkpoint seq {checkpoint_seq} ({}); \
             opened at the checkpoint, commits after it may be lost",
            wal_dir.display(),
            missing_detail(reached)
        )),
    }
}

fn missing_detail(reached: Option<u64>) -> String {
    match reached {
        None => "no WAL segment at all (rule W11)".into(),
        Some(seq) => format!("its chain ends at seq {seq} (rule W11)"),
    }
}

/// Whether every byte is zero.
pub(super) fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

/// How a bad frame in a segment is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tail {
    Torn,
    Unvouched,
    Damage,
}

/// Judges the first bad frame of a segment, at `at`, where seq `s` was expected
/// (W8, W10). `newest`: the segment is the last one read (older segments were
/// synced whole by rotation, so a bad frame there is always damage).
pub(super) fn judge_bad_frame(
    bytes: &[u8],
    at: usize,
    s: u64,
    key: Option<&Key>,
    newest: bool,
) -> Tail {
    if !newest {
        return Tail::Damage;
    }
    let after = scan_after(bytes, at + 1, s, key);
    if after.vouched {
        // W8: a frame written after a sync covering `s` survived, so `s` was durable.
        return Tail::Damage;
    }
    if active(Mutation::TruncateDamageBeforeValidFrames) {
        return Tail::Torn;
    }
    let end = claimed_end(bytes, at, key);
    // A crc-valid frame inside the claimed extent means the length field is wrong;
    // a crash never leaves that (frames do not overlap and a lost piece reads as
    // zeros, so a torn length field is 0).
    let valid_inside = after.first_valid.is_some_and(|v| v < end);
    if !valid_inside && lost_write(bytes, at, end) {
        return Tail::Torn;
    }
    // Every piece of the frame was written and it is still bad: damage at rest.
    // Only a final one (zeros after it, no crc-valid frame anywhere after it) may be
    // cut, because nothing proves it was synced; anything after it proves it was
    // not the last write, so it had a successor and cutting would lose that too.
    let rest = bytes.get(end..).unwrap_or(&[]);
    if after.first_valid.is_none() && all_zero(rest) {
        Tail::Unvouched
    } else {
        Tail::Damage
    }
}

/// Where the frame at `at` claims to end (saturating: a huge length claims past
/// the end of the file).
fn claimed_end(bytes: &[u8], at: usize, key: Option<&Key>) -> usize {
    let Some(len) = bytes.get(at..at + 4) else {
        return usize::MAX;
    };
    let n = read_u32(len, 0) as usize;
    let extra = if key.is_some() { HMAC_LEN } else { 0 };
    at.saturating_add(FRAME_HEADER_LEN)
        .saturating_add(n)
        .saturating_add(extra)
}

/// W10: do the bytes of the frame claimed at `[at, end)` show a write the crash
/// did not keep? Either the file ends inside it (its growth was lost), or one of
/// its pieces (its intersection with a 512-byte sector of the file) is all zeros:
/// a dropped piece leaves the zeros W9 wrote ahead of it. A lost first piece
/// zeroes the length too, so `end` is then the minimal frame, inside that piece.
fn lost_write(bytes: &[u8], at: usize, end: usize) -> bool {
    if end > bytes.len() {
        return true;
    }
    let mut piece = at;
    while piece < end {
        let piece_end = ((piece / SECTOR + 1) * SECTOR).min(end);
        if all_zero(&bytes[piece..piece_end]) {
            return true;
        }
        piece = piece_end;
    }
    false
}

/// What follows a bad frame.
#[derive(Debug, Default, PartialEq, Eq)]
struct After {
    /// Offset of the first crc-valid frame with a seq in `s..=s + 2³²`.
    first_valid: Option<usize>,
    /// Some such frame records synced upto ≥ `s` (W8).
    vouched: bool,
}

/// Each candidate costs the crc over the bytes it claims; past this many times
/// the segment's length (only a crafted segment of overlapping candidates gets
/// there) the rest counts as vouched: damage, never a silent cut.
const CRC_BUDGET_FACTOR: usize = 8;

/// Looks, at every offset from `from`, for crc-valid frames with a seq in
/// `s..=s + 2³²` (seq bytes are not chained here: the chain broke at the bad
/// frame). A candidate must also fit the segment and record synced upto < its seq,
/// as every frame written does, before its crc is computed. Linear: the crc work
/// is capped at `CRC_BUDGET_FACTOR` × the segment length (invariant 3).
fn scan_after(bytes: &[u8], from: usize, s: u64, key: Option<&Key>) -> After {
    let extra = if key.is_some() { HMAC_LEN } else { 0 };
    // An upper bound of the range, not a seq: saturating is the intended meaning.
    let max_seq = s.saturating_add(1 << 32);
    let mut budget = bytes.len().saturating_mul(CRC_BUDGET_FACTOR);
    let mut out = After::default();
    let last = bytes.len().saturating_sub(FRAME_HEADER_LEN);
    let mut at = from;
    while at < last {
        let b = &bytes[at..];
        at += 1;
        let seq = read_u64(b, 8);
        if seq < s || seq > max_seq {
            continue;
        }
        let synced = read_u64(b, 16);
        let n = read_u32(b, 0) as usize;
        let total = FRAME_HEADER_LEN + n + extra;
        if synced >= seq || n > MAX_PAYLOAD || b.len() < total {
            continue;
        }
        if total > budget {
            out.vouched = true;
            return out;
        }
        budget -= total;
        let stored = read_u32(b, 4);
        if stored != crc32c::crc32c_append(crc32c::crc32c(&b[..4]), &b[8..total]) {
            continue;
        }
        out.first_valid.get_or_insert(at - 1);
        if synced >= s {
            out.vouched = true;
            return out;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::frame::{GENESIS, encode_frame};

    /// Frames 1..=n with synced upto 0 (one unsynced group) from offset 64, then
    /// zeros to 8 KiB: a newest segment as the writer leaves it.
    fn segment(n: u64, payload: usize) -> (Vec<u8>, Vec<usize>) {
        let mut b = vec![0u8; 64];
        let mut prev = GENESIS;
        let mut at = Vec::new();
        for seq in 1..=n {
            let (f, h) = encode_frame(seq, 0, &prev, &vec![0xa5; payload], None);
            at.push(b.len());
            b.extend_from_slice(&f);
            prev = h;
        }
        b.resize(8192, 0);
        (b, at)
    }

    #[test]
    fn a_dropped_or_torn_write_is_torn() {
        let (b, at) = segment(3, 700);
        // Frame 2 dropped whole, frame 3 kept (unsynced writes persist out of order).
        let mut dropped = b.clone();
        dropped[at[1]..at[2]].fill(0);
        assert_eq!(judge_bad_frame(&dropped, at[1], 2, None, true), Tail::Torn);
        // Frame 2's second sector piece lost.
        let mut torn = b.clone();
        let piece = (at[1] / SECTOR + 1) * SECTOR;
        torn[piece..(piece + SECTOR).min(at[2])].fill(0);
        assert_eq!(judge_bad_frame(&torn, at[1], 2, None, true), Tail::Torn);
        // Cut short by lost growth.
        assert_eq!(
            judge_bad_frame(&b[..at[2] + 100], at[2], 3, None, true),
            Tail::Torn
        );
    }

    #[test]
    fn a_flipped_bit_before_valid_frames_is_damage_and_a_final_one_unvouched() {
        let (b, at) = segment(3, 700);
        for (frame, want) in [(0, Tail::Damage), (1, Tail::Damage), (2, Tail::Unvouched)] {
            let mut bad = b.clone();
            bad[at[frame] + 300] ^= 0x10;
            assert_eq!(
                judge_bad_frame(&bad, at[frame], frame as u64 + 1, None, true),
                want,
                "frame {frame}"
            );
            assert_eq!(
                judge_bad_frame(&bad, at[frame], frame as u64 + 1, None, false),
                Tail::Damage
            );
        }
        // A length flipped short leaves non-zero bytes after the claimed frame.
        let mut short = b.clone();
        short[at[2]] ^= 0x04;
        assert_eq!(judge_bad_frame(&short, at[2], 3, None, true), Tail::Damage);
        // A length flipped long swallows the next frame: damage, not a lost piece.
        let mut long = b.clone();
        long[at[1] + 2] ^= 0x01;
        assert_eq!(judge_bad_frame(&long, at[1], 2, None, true), Tail::Damage);
    }

    #[test]
    fn the_scan_after_a_bad_frame_is_linear_on_crafted_input() {
        // A candidate every 24 bytes, each claiming the rest of the segment: without
        // the budget that is ~N²/48 bytes of crc (minutes at 1 MiB).
        let len = 1 << 20;
        let mut b = vec![0u8; len];
        for at in (0..len - 2 * FRAME_HEADER_LEN).step_by(24) {
            b[at..at + 4].copy_from_slice(&((len - at - FRAME_HEADER_LEN) as u32).to_le_bytes());
            b[at + 8] = 2;
        }
        let t = std::time::Instant::now();
        let after = scan_after(&b, 1, 2, None);
        assert!(after.vouched, "an exhausted budget counts as vouched");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }
}
