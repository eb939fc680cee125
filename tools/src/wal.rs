//! `aedb wal verify` and `aedb wal dump`: the redo log as it is on disk. Both take
//! the directory's LOCK in shared mode (refused while a writer has it open) and never
//! write.

use std::io::Write;
use std::path::Path;

use aedb::storage::effects::{Effect, decode};
use aedb::storage::wal::frame::{
    ChainHash, FrameError, SEGMENT_HEADER_LEN, SegmentHeader, decode_frame,
};
use aedb::storage::wal::{list_segments, recover};
use aedb_pager::Key;
use aedb_pager::inspect::{Inspector, open_inspector};
use aedb_pager::vfs::{LockMode, OpenMode, Vfs, lock_dir};

use crate::pages::{Verdict, show_bytes};

fn hex(h: &ChainHash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The (seq, chain hash) of both valid metas, oldest first. Reads the two meta
/// pages and nothing else (review F20).
fn checkpoints(ins: &Inspector) -> Result<Vec<(u64, ChainHash)>, Box<dyn std::error::Error>> {
    let mut metas: Vec<(u64, ChainHash)> = ins
        .metas
        .slots
        .iter()
        .filter_map(|s| s.result.as_ref().ok())
        .map(|m| (m.checkpoint_seq, m.wal_chain_hash))
        .collect();
    metas.sort();
    if metas.is_empty() {
        return Err("no valid meta page: run `aedb pages dump` for details".into());
    }
    Ok(metas)
}

/// Verifies the chain from the older checkpoint to the head.
/// The inspector holds the directory's shared lock until the chain is checked.
pub fn verify(
    vfs: &dyn Vfs,
    dir: &Path,
    key: Option<&Key>,
    out: &mut dyn Write,
) -> Result<Verdict, Box<dyn std::error::Error>> {
    let ins = open_inspector(vfs, dir, key)?;
    let metas = checkpoints(&ins)?;
    let (seq, hash) = metas[0];
    writeln!(
        out,
        "verifying from the older checkpoint: seq {seq}, chain hash {}",
        hex(&hash)
    )?;
    match recover::verify(vfs, &dir.join("wal"), key, seq, hash) {
        Ok(rec) => {
            writeln!(out, "segments: {}", rec.segments.len())?;
            writeln!(out, "frames after the checkpoint: {}", rec.frames.len())?;
            if let Some((path, at, bytes)) = &rec.truncated {
                writeln!(
                    out,
                    "torn tail: {} at offset {at} ({bytes} bytes; recovery will cut it)",
                    path.display()
                )?;
                if rec.unvouched_tail_truncated {
                    let note = "its first frame is complete and damaged (FORMAT W10): \
                                it may have been durable";
                    writeln!(out, "  unvouched: {note}")?;
                }
            }
            writeln!(
                out,
                "head: seq {} chain hash {}",
                rec.head_seq,
                hex(&rec.head_hash)
            )?;
            if let Some((newest_seq, newest_hash)) = metas.last().filter(|m| m.0 != seq) {
                let ok = rec.head_seq >= *newest_seq;
                writeln!(
                    out,
                    "newest checkpoint: seq {newest_seq} hash {} ({})",
                    hex(newest_hash),
                    if ok { "covered" } else { "NOT covered" }
                )?;
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
        Effect::Put { tree, key, value } => format!(
            "put {} {} = {}",
            show_bytes(tree),
            show_bytes(key),
            show_bytes(value)
        ),
        Effect::Delete { tree, key } => format!("delete {} {}", show_bytes(tree), show_bytes(key)),
        Effect::LargeCommit { root: Some(r) } => format!(
            "large commit: pages in the metas at this seq, root directory page {} generation {}",
            r.page, r.generation
        ),
        Effect::LargeCommit { root: None } => {
            "large commit: pages in the metas at this seq, no trees".to_string()
        }
    }
}

/// Prints every segment header and frame with its effects.
pub fn dump(
    vfs: &dyn Vfs,
    dir: &Path,
    key: Option<&Key>,
    out: &mut dyn Write,
) -> Result<Verdict, Box<dyn std::error::Error>> {
    let _lock = lock_dir(vfs, dir, LockMode::Shared)?;
    let mut verdict = Verdict::Clean;
    for (first, path) in list_segments(vfs, &dir.join("wal"))? {
        let file = vfs.open(&path, OpenMode::ReadOnly)?;
        let mut bytes = vec![0u8; file.len()? as usize];
        file.read_at(&mut bytes, 0)?;
        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            Err((rule, detail)) => {
                writeln!(
                    out,
                    "segment {} (first seq {first}): INVALID header: rule {rule}: {detail}",
                    path.display()
                )?;
                verdict = Verdict::Damaged;
                continue;
            }
        };
        writeln!(
            out,
            "segment {}: first seq {}, {} bytes, {}, chain before {}",
            path.display(),
            header.first_seq,
            bytes.len(),
            if header.keyed { "keyed" } else { "unkeyed" },
            hex(&header.prev_hash)
        )?;
        let mut prev = header.prev_hash;
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < bytes.len() {
            if bytes[offset..].iter().all(|b| *b == 0) {
                writeln!(
                    out,
                    "  @{offset}: {} zero-filled bytes (preallocated, FORMAT W9)",
                    bytes.len() - offset
                )?;
                break;
            }
            match decode_frame(&bytes[offset..], &prev, key) {
                Ok(f) => {
                    let effects = decode(f.payload);
                    writeln!(
                        out,
                        "  @{offset}: seq {} ({} bytes, synced upto {}), hash {}",
                        f.seq,
                        f.len,
                        f.synced_upto,
                        &hex(&f.hash)[..16]
                    )?;
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
                    writeln!(
                        out,
                        "  @{offset}: {} bytes of a cut-short frame (torn tail)",
                        bytes.len() - offset
                    )?;
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use aedb::storage::{Database, Finality, StorageOptions};
    use aedb_pager::vfs::{LockGuard, RealFs, VfsFile};

    use super::*;

    /// RealFs, counting the bytes read from the page file.
    #[derive(Debug, Default)]
    struct CountingFs {
        data_bytes_read: Arc<AtomicU64>,
    }

    #[derive(Debug)]
    struct CountingFile {
        inner: Arc<dyn VfsFile>,
        count: Option<Arc<AtomicU64>>,
    }

    impl VfsFile for CountingFile {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
            if let Some(c) = &self.count {
                c.fetch_add(buf.len() as u64, Ordering::Relaxed);
            }
            self.inner.read_at(buf, offset)
        }
        fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
            self.inner.write_at(buf, offset)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.inner.sync_data()
        }
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.inner.set_len(len)
        }
    }

    impl Vfs for CountingFs {
        fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
            RealFs.create_dir_all(dir)
        }
        fn exists(&self, path: &Path) -> std::io::Result<bool> {
            RealFs.exists(path)
        }
        fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn VfsFile>> {
            let is_data = path
                .file_name()
                .is_some_and(|n| n == aedb_pager::DATA_FILE_NAME);
            let count = is_data.then(|| self.data_bytes_read.clone());
            Ok(Arc::new(CountingFile {
                inner: RealFs.open(path, mode)?,
                count,
            }))
        }
        fn lock(&self, path: &Path, mode: LockMode) -> std::io::Result<Option<Box<dyn LockGuard>>> {
            RealFs.lock(path, mode)
        }
        fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
            RealFs.sync_dir(dir)
        }
        fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
            RealFs.rename(from, to)
        }
        fn remove_file(&self, path: &Path) -> std::io::Result<()> {
            RealFs.remove_file(path)
        }
        fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
            RealFs.list_dir(dir)
        }
    }

    /// F20: `wal verify` needs the two metas only. On a database of ~2,000 pages it
    /// reads two pages of the page file, not the whole file (which it used to copy
    /// into memory, page by page).
    #[test]
    fn f20_wal_verify_reads_only_the_metas() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        {
            let db = Database::open(tmp.path(), StorageOptions::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
            let mut tree = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
            for i in 0..2000u32 {
                tree.insert(&i.to_be_bytes(), &[7u8; 3000])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            drop(tree);
            txn.commit(Finality::Durable)
                .unwrap_or_else(|e| panic!("{e}"));
            db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
        }
        let file_len =
            std::fs::metadata(tmp.path().join(aedb_pager::DATA_FILE_NAME)).map_or(0, |m| m.len());
        let fs = CountingFs::default();
        let mut out = Vec::new();
        let verdict = verify(&fs, tmp.path(), None, &mut out).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        assert!(matches!(verdict, Verdict::Clean), "{text}");
        let read = fs.data_bytes_read.load(Ordering::Relaxed);
        println!("f20: wal verify read {read} of {file_len} bytes of the page file");
        assert!(
            file_len > 1 << 20,
            "the database is too small to show anything: {file_len} bytes"
        );
        assert!(
            read <= 2 * 65536,
            "wal verify read {read} bytes of a {file_len}-byte page file"
        );
    }
}
