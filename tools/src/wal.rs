//! `aedb wal verify` and `aedb wal dump`: the redo log as it is on disk. Both take
//! the directory's LOCK in shared mode (refused while a writer has it open) and never
//! write.

use std::io::Write;
use std::path::Path;

use aedb::storage::effects::{Effect, decode};
use aedb::storage::wal::frame::{ChainHash, FrameError, SEGMENT_HEADER_LEN, SegmentHeader, decode_frame};
use aedb::storage::wal::{list_segments, recover};
use aedb_pager::inspect::inspect;
use aedb_pager::vfs::{OpenMode, RealFs, Vfs};

use crate::pages::{Verdict, parse_hex, show_bytes};

fn hex(h: &ChainHash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The (seq, chain hash) of both valid metas, oldest first.
fn checkpoints(dir: &Path, key: Option<&[u8]>) -> Result<Vec<(u64, ChainHash)>, Box<dyn std::error::Error>> {
    let ins = inspect(&RealFs, dir, key)?;
    let mut metas: Vec<(u64, ChainHash)> = ins.metas.slots.iter().filter_map(|s| s.result.as_ref().ok()).map(|m| (m.checkpoint_seq, m.wal_chain_hash)).collect();
    metas.sort();
    if metas.is_empty() {
        return Err("no valid meta page: run `aedb pages dump` for details".into());
    }
    Ok(metas)
}

/// Verifies the chain from the older checkpoint to the head.
pub fn verify(dir: &Path, key_hex: Option<&str>, out: &mut dyn Write) -> Result<Verdict, Box<dyn std::error::Error>> {
    let key = key_hex.map(parse_hex).transpose()?;
    let lock = RealFs.lock(&dir.join(aedb_pager::LOCK_FILE_NAME), aedb_pager::vfs::LockMode::Shared);
    if matches!(lock, Ok(None)) {
        return Err(format!("database directory {} is already open (LOCK is held by a writer)", dir.display()).into());
    }
    let metas = checkpoints(dir, key.as_deref())?;
    let (seq, hash) = metas[0];
    writeln!(out, "verifying from the older checkpoint: seq {seq}, chain hash {}", hex(&hash))?;
    match recover::verify(&RealFs, &dir.join("wal"), key.as_deref(), seq, hash) {
        Ok(rec) => {
            writeln!(out, "segments: {}", rec.segments.len())?;
            writeln!(out, "frames after the checkpoint: {}", rec.frames.len())?;
            if let Some((path, at, bytes)) = &rec.truncated {
                writeln!(out, "torn tail: {} at offset {at} ({bytes} bytes; recovery will cut it)", path.display())?;
                if rec.unvouched_tail_truncated {
                    let note = "its first frame is complete and damaged (FORMAT W10): \
                                it may have been durable";
                    writeln!(out, "  unvouched: {note}")?;
                }
            }
            writeln!(out, "head: seq {} chain hash {}", rec.head_seq, hex(&rec.head_hash))?;
            if let Some((newest_seq, newest_hash)) = metas.last().filter(|m| m.0 != seq) {
                let ok = rec.head_seq >= *newest_seq;
                writeln!(out, "newest checkpoint: seq {newest_seq} hash {} ({})", hex(newest_hash), if ok { "covered" } else { "NOT covered" })?;
            }
            writeln!(out, "chain: ok")?;
            Ok(Verdict::Clean)
        }
        Err(e) => {
            writeln!(out, "chain: BROKEN: {e}")?;
            Ok(Verdict::Damaged)
        }
    }
}

fn describe(e: &Effect) -> String {
    match e {
        Effect::CreateTree { name } => format!("create tree {}", show_bytes(name)),
        Effect::DropTree { name } => format!("drop tree {}", show_bytes(name)),
        Effect::Put { tree, key, value } => format!("put {} {} = {}", show_bytes(tree), show_bytes(key), show_bytes(value)),
        Effect::Delete { tree, key } => format!("delete {} {}", show_bytes(tree), show_bytes(key)),
    }
}

/// Prints every segment header and frame with its effects.
pub fn dump(dir: &Path, key_hex: Option<&str>, out: &mut dyn Write) -> Result<Verdict, Box<dyn std::error::Error>> {
    let key = key_hex.map(parse_hex).transpose()?;
    let lock = RealFs.lock(&dir.join(aedb_pager::LOCK_FILE_NAME), aedb_pager::vfs::LockMode::Shared);
    if matches!(lock, Ok(None)) {
        return Err(format!("database directory {} is already open (LOCK is held by a writer)", dir.display()).into());
    }
    let mut verdict = Verdict::Clean;
    for (first, path) in list_segments(&RealFs, &dir.join("wal"))? {
        let file = RealFs.open(&path, OpenMode::ReadOnly)?;
        let mut bytes = vec![0u8; file.len()? as usize];
        file.read_at(&mut bytes, 0)?;
        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            Err((rule, detail)) => {
                writeln!(out, "segment {} (first seq {first}): INVALID header: rule {rule}: {detail}", path.display())?;
                verdict = Verdict::Damaged;
                continue;
            }
        };
        writeln!(out, "segment {}: first seq {}, {} bytes, {}, chain before {}", path.display(), header.first_seq, bytes.len(), if header.keyed { "keyed" } else { "unkeyed" }, hex(&header.prev_hash))?;
        let mut prev = header.prev_hash;
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < bytes.len() {
            if bytes[offset..].iter().all(|b| *b == 0) {
                writeln!(out, "  @{offset}: {} zero-filled bytes (preallocated, FORMAT W9)", bytes.len() - offset)?;
                break;
            }
            match decode_frame(&bytes[offset..], &prev, key.as_deref()) {
                Ok(f) => {
                    let effects = decode(f.payload);
                    writeln!(out, "  @{offset}: seq {} ({} bytes, synced upto {}), hash {}", f.seq, f.len, f.synced_upto, &hex(&f.hash)[..16])?;
                    match effects {
                        Ok(list) => {
                            for e in &list {
                                writeln!(out, "      {}", describe(e))?;
                            }
                        }
                        Err(e) => writeln!(out, "      UNDECODABLE payload: {e}")?,
                    }
                    prev = f.hash;
                    offset += f.len;
                }
                Err(FrameError::Truncated) => {
                    writeln!(out, "  @{offset}: {} bytes of a cut-short frame (torn tail)", bytes.len() - offset)?;
                    break;
                }
                Err(FrameError::Bad(rule, detail)) => {
                    writeln!(out, "  @{offset}: BAD frame: rule {rule}: {detail}")?;
                    verdict = Verdict::Damaged;
                    break;
                }
            }
        }
    }
    Ok(verdict)
}
