//! Harnesses shared by the cargo-fuzz targets and the corpus replay run by plain
//! `cargo test` (RELIABILITY G12: F1 `recovery`, F3 `wal_decode`, F4 `open_image`).
//! Not part of the stable API. None may panic or hang on any input.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use aedb_pager::sim::{FaultPlan, ImageMode, SimFs};
use aedb_pager::vfs::{OpenMode, Vfs};

use crate::wal::frame::{GENESIS, decode_frame};
use crate::wal::{recover, segment_name};
use crate::{Database, DurabilityMode, Finality, RecoveryMode, StorageOptions};

fn options(page_size: u32, recovery: RecoveryMode) -> StorageOptions {
    StorageOptions {
        page_size: Some(page_size),
        durability: DurabilityMode::Full,
        recovery,
        wal_segment_bytes: 2048,
        checkpoint_wal_bytes: u64::MAX,
        checkpoint_dirty_bytes: u64::MAX,
        checkpoint_interval_ms: None,
        ..StorageOptions::default()
    }
}

fn write_file(fs: &SimFs, path: &Path, bytes: &[u8]) -> bool {
    let Some(parent) = path.parent() else {
        return false;
    };
    if aedb_pager::vfs::create_dir_durable(fs, parent).is_err() {
        return false;
    }
    let Ok(f) = fs.open(path, OpenMode::CreateTruncate) else {
        return false;
    };
    f.write_at(bytes, 0).is_ok() && f.sync_data().is_ok() && fs.sync_dir(parent).is_ok()
}

/// Reads every tree and runs the whole-database check (results ignored: the point
/// is that nothing panics).
fn exercise(db: &Database) {
    if let Ok(read) = db.begin_read() {
        for name in read.list_trees().unwrap_or_default() {
            if let Ok(tree) = read.open_tree(&name) {
                if let Ok(it) = tree.iter() {
                    let _ = it.take(10_000).count();
                }
            }
        }
    }
    let _ = db.check();
}

/// F3: `data[0]` picks keyed or not; the rest is a WAL segment. Recovery runs in both
/// modes against a genesis checkpoint, and each frame is decoded on its own.
pub fn wal_decode(data: &[u8]) {
    let Some((&flags, segment)) = data.split_first() else {
        return;
    };
    // HMAC pads keys with zeros to its block size, so this 16-byte key makes the
    // same tags as the 8-byte "fuzz-key" the committed corpora were built with.
    let fuzz_key = aedb_pager::Key::new(b"fuzz-key\0\0\0\0\0\0\0\0".to_vec()).ok();
    let key = if flags & 1 == 1 {
        fuzz_key.as_ref()
    } else {
        None
    };
    let _ = decode_frame(segment, &GENESIS, key);
    let fs = SimFs::new(0);
    let wal = Path::new("/db/wal");
    if !write_file(
        &fs,
        &wal.join(segment_name(1 + u64::from(flags >> 4))),
        segment,
    ) {
        return;
    }
    for mode in [RecoveryMode::Strict, RecoveryMode::Permissive] {
        let _ = recover::verify(&fs, wal, key, 0, GENESIS);
        let _ = recover::recover(&fs, wal, key, 0, GENESIS, mode);
    }
}

/// F4: `data` = u32 length ‖ page-file image ‖ WAL segment image. Opens the directory
/// (strict, then permissive), reads and checks it, and commits to it.
pub fn open_image(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let split =
        (u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize).min(data.len() - 4);
    let (page_file, segment) = data[4..].split_at(split);
    let fs = SimFs::new(0);
    let dir = Path::new("/db");
    if !write_file(&fs, &dir.join(aedb_pager::DATA_FILE_NAME), page_file)
        || !write_file(&fs, &dir.join("wal").join(segment_name(1)), segment)
    {
        return;
    }
    for mode in [RecoveryMode::Strict, RecoveryMode::Permissive] {
        let Ok(db) = Database::open_with(Arc::new(fs.clone()), dir, options(4096, mode)) else {
            continue;
        };
        exercise(&db);
        if let Ok(mut txn) = db.begin_write() {
            if let Ok(mut t) = txn.open_tree("fuzz") {
                let _ = t.insert(b"k", b"v");
            }
            let _ = txn.commit(Finality::Durable);
        }
        exercise(&db);
    }
}

/// F1: the input chooses the operations, the crash point, the surviving image and
/// damage to the files; then the database is reopened, read and checked.
/// Layout: 2 bytes crash point, 1 byte image mode, 1 byte page size choice, then
/// op bytes up to a 0xFF separator, then (file choice, offset u16, xor byte) triples.
pub fn recovery(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let crash_at = u64::from(u16::from_le_bytes([data[0], data[1]]));
    let mode = match data[2] % 3 {
        0 => ImageMode::LoseAll,
        1 => ImageMode::KeepAll,
        _ => ImageMode::Random(u64::from(data[2])),
    };
    let page_size = if data[3] & 1 == 0 { 4096 } else { 65536 };
    let rest = &data[4..];
    let (ops, damage) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let fs = SimFs::new(u64::from(data[2]));
    fs.set_plan(FaultPlan {
        crash_at: Some(crash_at),
        ..FaultPlan::default()
    });
    if let Ok(db) = Database::open_with(
        Arc::new(fs.clone()),
        Path::new("/db"),
        options(page_size, RecoveryMode::Strict),
    ) {
        let mut txn = db.begin_write().ok();
        for (i, &op) in ops.iter().take(200).enumerate() {
            let Some(t) = txn.as_mut() else { break };
            let tree = ["a", "b", "c"][usize::from(op % 3)];
            let key = [op >> 2 & 7];
            let ok = match op >> 5 {
                0..=2 => t
                    .open_tree(tree)
                    .and_then(|mut tr| tr.insert(&key, &vec![op; usize::from(op) * (i % 7) * 7]))
                    .is_ok(),
                3 => t.open_tree(tree).and_then(|mut tr| tr.remove(&key)).is_ok(),
                4 => t.delete_tree(tree).is_ok(),
                5 | 6 => {
                    let finality = if op & 1 == 0 {
                        Finality::Visible
                    } else {
                        Finality::Durable
                    };
                    let committed = txn
                        .take()
                        .map(|t| t.commit(finality).is_ok())
                        .unwrap_or(false);
                    txn = if committed {
                        db.begin_write().ok()
                    } else {
                        None
                    };
                    committed
                }
                _ => {
                    drop(txn.take());
                    let ok = db.checkpoint_now().is_ok();
                    txn = if ok { db.begin_write().ok() } else { None };
                    ok
                }
            };
            if !ok {
                break;
            }
        }
    }
    let image = fs.crash_image(mode);
    for chunk in damage.chunks_exact(4).take(16) {
        let files = image.list_dir(Path::new("/db/wal")).unwrap_or_default();
        let target = if chunk[0] % 2 == 0 || files.is_empty() {
            Path::new("/db").join(aedb_pager::DATA_FILE_NAME)
        } else {
            files[usize::from(chunk[0]) % files.len()].clone()
        };
        image.flip_bit(
            &target,
            u64::from(u16::from_le_bytes([chunk[1], chunk[2]])),
            chunk[3],
        );
    }
    for recovery in [RecoveryMode::Strict, RecoveryMode::Permissive] {
        if let Ok(db) = Database::open_with(
            Arc::new(image.clone()),
            Path::new("/db"),
            options(page_size, recovery),
        ) {
            exercise(&db);
        }
    }
}
