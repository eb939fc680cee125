//! Regression tests for the WAL findings of the 2026-11-29 reliability review.
//!
//! - F1: one bit flip in the newest segment's header made recovery take the segment
//!   for a torn creation and unlink it, with every Durable commit in it; strict open
//!   succeeded. Now a bad header is torn only when nothing but zeros follows it
//!   (FORMAT S4).
//! - F5: a damaged frame of the last synced group (whose frames record a synced
//!   upto below their own seq) was cut as a torn tail with every frame after it.
//!   Now a bad frame is torn only when its bytes show a lost write; a complete bad
//!   frame followed by crc-valid frames is damage, and a complete bad final frame
//!   is cut and reported as unvouched (FORMAT W10).
//! - F15: a missing `wal/` silently rolled an existing database back to its last
//!   checkpoint. Now strict open refuses and permissive open reports it (W11).
//!
//! These tests use only the API that existed before the fix (the new report fields
//! are read through `Debug`), so they compile on the commit before it and fail
//! there, which is how each was checked to have teeth. The last test does the same
//! on real files written by a child process that exits without shutting down.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use aedb::pager::sim::{ImageMode, SimFs, test_seed};
use aedb::pager::vfs::Vfs;
use aedb::storage::wal::frame::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use aedb::storage::wal::recover;
use aedb::storage::{
    CommitResult, Database, Finality, RecoveryMode, RecoveryReport, StorageError, StorageOptions,
};
use common::*;

/// Whether the report flags a cut tail as unvouched. Read through `Debug` so this
/// file compiles before the field existed (and fails there, as it must).
fn unvouched(report: &RecoveryReport) -> bool {
    format!("{report:?}").contains("unvouched_tail_truncated: true")
}

/// Whether a permissive report says the WAL is missing (`wal_missing`), as above.
fn reports_missing_wal(report: &RecoveryReport) -> bool {
    format!("{report:?}").contains("wal_missing: Some")
}

fn sim_options(mode: RecoveryMode) -> StorageOptions {
    let mut o = options(4096);
    o.wal_segment_bytes = 16 << 10; // small zero-filled chunks keep each image cheap
    o.checkpoint_on_close = false; // leave the frames past the checkpoint
    o.recovery = mode;
    o
}

fn reopen(fs: &SimFs, mode: RecoveryMode) -> Result<Database, StorageError> {
    Database::open_with(Arc::new(fs.clone()), &dir(), sim_options(mode))
}

/// One commit putting key `i` (value: 40 bytes of `i | 0x80`, never zero).
fn put(db: &Database, i: u8, finality: Finality) -> CommitResult {
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    txn.open_tree("t")
        .unwrap_or_else(|e| panic!("{e}"))
        .insert(&[i], &[i | 0x80; 40])
        .unwrap_or_else(|e| panic!("{e}"));
    txn.commit(finality).unwrap_or_else(|e| panic!("{e}"))
}

/// The newest segment and its frames (offset, length), read up to its zero-filled
/// end (FORMAT W9).
fn newest_segment(fs: &SimFs) -> (PathBuf, Vec<(u64, usize)>) {
    let mut segs = fs
        .list_dir(&dir().join("wal"))
        .unwrap_or_else(|e| panic!("{e}"));
    segs.retain(|p| p.extension().is_some_and(|x| x == "wal"));
    segs.sort();
    let path = segs.last().cloned().unwrap_or_else(|| panic!("no segment"));
    let bytes = fs.contents(&path).unwrap_or_else(|| panic!("no contents"));
    (path, frames_of(&bytes))
}

fn frames_of(bytes: &[u8]) -> Vec<(u64, usize)> {
    let mut frames = Vec::new();
    let mut off = SEGMENT_HEADER_LEN;
    while off + FRAME_HEADER_LEN <= bytes.len() && bytes[off..].iter().any(|b| *b != 0) {
        let n = u32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]])
            as usize;
        frames.push((off as u64, FRAME_HEADER_LEN + n));
        off += FRAME_HEADER_LEN + n;
    }
    frames
}

/// Opens `image` strictly: `Ok(true)` for exactly `want` at `want_seq`, `Ok(false)`
/// for a clean corruption error; panics on anything else (a lost Durable commit).
fn exact_or_refused(image: &SimFs, want: &Model, want_seq: u64, ctx: &str) -> bool {
    match reopen(image, RecoveryMode::Strict) {
        Ok(db) => {
            let got = read_model(&db).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(
                (db.visible_seq(), &got),
                (want_seq, want),
                "{ctx}: opened without an error but lost acknowledged commits: {:?}",
                db.recovery_report()
            );
            true
        }
        Err(e) if e.is_corruption() => false,
        Err(e) => panic!("{ctx}: not a corruption error: {e}"),
    }
}

fn model_of(keys: impl IntoIterator<Item = u8>) -> Model {
    let t: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .into_iter()
        .map(|i| (vec![i], vec![i | 0x80; 40]))
        .collect();
    let mut m = Model::new();
    m.insert("t".into(), t);
    m
}

#[test]
pub fn f1_segment_header_flip_is_refused() {
    let fs = SimFs::new(test_seed("F1 segment header flips", 0xf1));
    let db = reopen(&fs, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{e}"));
    let mut checkpoint = put(&db, 0, Finality::Durable);
    for i in 1..3 {
        checkpoint = put(&db, i, Finality::Durable);
    }
    // A checkpoint starts a new segment, so the newest is not the first.
    db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
    let mut last = 0;
    for i in 3..7 {
        last = put(&db, i, Finality::Durable).seq;
    }
    drop(db); // no checkpoint on close: frames 4..=7 live only in the newest segment
    let (path, frames) = newest_segment(&fs);
    assert_eq!(
        frames.len(),
        4,
        "the newest segment holds the four commits after the checkpoint"
    );
    let want = model_of(0..7);
    let (mut refused, mut exact) = (0, 0);
    for bit in 0..SEGMENT_HEADER_LEN as u64 * 8 {
        let image = fs.crash_image(ImageMode::KeepAll);
        image.flip_bit(&path, bit / 8, (bit % 8) as u8);
        if exact_or_refused(&image, &want, last, &format!("header bit {bit}")) {
            exact += 1;
        } else {
            refused += 1;
            // `aedb wal verify` runs this scan: it must say the chain is broken.
            let verified = recover::verify(
                &image,
                &dir().join("wal"),
                None,
                checkpoint.seq,
                checkpoint.chain_hash,
            );
            assert!(
                verified.is_err(),
                "bit {bit}: verify passed a damaged header: {:?}",
                verified.map(|r| r.truncated)
            );
            // Permissive keeps the segment beside the WAL and says so; never unlinks.
            let db = reopen(&image, RecoveryMode::Permissive)
                .unwrap_or_else(|e| panic!("bit {bit}: permissive: {e}"));
            assert!(
                !db.recovery_report().dropped.is_empty(),
                "bit {bit}: permissive must report the segment"
            );
            let mut aside = path.as_os_str().to_owned();
            aside.push(".dropped");
            assert!(
                image.contents(Path::new(&aside)).is_some(),
                "bit {bit}: the damaged segment was not kept"
            );
        }
    }
    println!(
        "F1: {} header bits flipped: {refused} refused, {exact} opened exact",
        refused + exact
    );
    assert_eq!(refused + exact, 512);
}

#[test]
pub fn f5_damaged_frame_before_valid_frames_is_refused() {
    let fs = SimFs::new(test_seed("F5 last synced group", 0xf5));
    let db = reopen(&fs, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{e}"));
    put(&db, 0, Finality::Durable);
    // One group: three frames appended, then one sync covers them. Each records
    // synced upto 1, below its own seq, so no later frame vouches for any of them.
    put(&db, 1, Finality::Visible);
    put(&db, 2, Finality::Visible);
    let last = put(&db, 3, Finality::Durable).seq;
    drop(db);
    let (path, frames) = newest_segment(&fs);
    assert_eq!(frames.len(), 4);
    let want = model_of(0..4);
    let (mut refused, mut exact) = (0, 0);
    // Every bit of the group's first two frames: crc-valid frames follow each.
    for &(offset, len) in &frames[1..3] {
        for bit in 0..len as u64 * 8 {
            let image = fs.crash_image(ImageMode::KeepAll);
            image.flip_bit(&path, offset + bit / 8, (bit % 8) as u8);
            let ctx = format!("frame at {offset} bit {bit}");
            if exact_or_refused(&image, &want, last, &ctx) {
                exact += 1;
                continue;
            }
            refused += 1;
            let db = reopen(&image, RecoveryMode::Permissive)
                .unwrap_or_else(|e| panic!("{ctx}: permissive: {e}"));
            assert!(
                !db.recovery_report().dropped.is_empty(),
                "{ctx}: permissive must report what it dropped"
            );
        }
    }
    println!(
        "F5: {} bits flipped in frames followed by valid ones: \
         {refused} refused, {exact} opened exact",
        refused + exact
    );
    assert!(refused > 0);
}

#[test]
pub fn f5_damaged_final_unvouched_frame_is_cut_and_reported() {
    let fs = SimFs::new(test_seed("F5 final frame", 0xf6));
    let db = reopen(&fs, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..2 {
        put(&db, i, Finality::Durable);
    }
    // The final frame spans several 512-byte sectors, so a crash can tear it.
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    txn.open_tree("t")
        .unwrap_or_else(|e| panic!("{e}"))
        .insert(&[2], &[0x77; 1000])
        .unwrap_or_else(|e| panic!("{e}"));
    txn.commit(Finality::Durable)
        .unwrap_or_else(|e| panic!("{e}"));
    drop(db);
    let (path, frames) = newest_segment(&fs);
    let (offset, len) = frames[2];
    assert!(len > 1024);
    // Damage at rest: a payload bit of the final frame. Nothing vouches for it, so
    // it is cut, and the report must say the cut frame may have been durable.
    let image = fs.crash_image(ImageMode::KeepAll);
    image.flip_bit(&path, offset + len as u64 - 3, 5);
    let db = reopen(&image, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{e}"));
    let report = db.recovery_report();
    assert_eq!(db.visible_seq(), 2);
    assert!(
        report
            .truncated
            .as_ref()
            .is_some_and(|(_, at, _)| *at == offset),
        "{report:?}"
    );
    assert!(
        unvouched(report),
        "a cut complete frame must be reported as unvouched: {report:?}"
    );
    assert_eq!(
        read_model(&db).unwrap_or_else(|e| panic!("{e}")),
        model_of(0..2)
    );
    drop(db);
    // A torn write (its last sector piece lost to the crash) is an ordinary torn
    // tail: cut, and not flagged.
    let image = fs.crash_image(ImageMode::KeepAll);
    let end = offset + len as u64;
    let piece = (end - 1) / 512 * 512;
    assert!(piece > offset);
    image.overwrite(&path, piece, &vec![0; (end - piece) as usize]);
    let db = reopen(&image, RecoveryMode::Strict).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(db.visible_seq(), 2);
    assert!(
        db.recovery_report().truncated.is_some() && !unvouched(db.recovery_report()),
        "{:?}",
        db.recovery_report()
    );
}

#[test]
fn f15_missing_wal_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let opts = |mode| StorageOptions {
        checkpoint_on_close: false,
        recovery: mode,
        ..StorageOptions::default()
    };
    let db =
        Database::open(tmp.path(), opts(RecoveryMode::Strict)).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..3 {
        put(&db, i, Finality::Durable);
    }
    drop(db);
    let wal = tmp.path().join("wal");
    let copy = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_dir(tmp.path(), copy.path());
    // The whole directory gone.
    std::fs::remove_dir_all(&wal).unwrap_or_else(|e| panic!("{e}"));
    match Database::open(tmp.path(), opts(RecoveryMode::Strict)) {
        Err(e) => assert!(e.is_corruption() && e.to_string().contains("wal"), "{e}"),
        Ok(db) => panic!(
            "strict open rolled back to the checkpoint silently: seq {}",
            db.visible_seq()
        ),
    }
    let db = Database::open(tmp.path(), opts(RecoveryMode::Permissive))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        reports_missing_wal(db.recovery_report()),
        "{:?}",
        db.recovery_report()
    );
    drop(db);
    // The directory kept, every segment gone.
    for entry in std::fs::read_dir(copy.path().join("wal")).unwrap_or_else(|e| panic!("{e}")) {
        std::fs::remove_file(entry.unwrap_or_else(|e| panic!("{e}")).path())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        Database::open(copy.path(), opts(RecoveryMode::Strict)).is_err(),
        "no segment at all must be refused"
    );
    // A database that was never used has nothing to miss.
    let fresh = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    drop(
        Database::open(fresh.path(), opts(RecoveryMode::Strict)).unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(Database::open(fresh.path(), opts(RecoveryMode::Strict)).is_ok());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap_or_else(|e| panic!("{e}")).is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

const CHILD_ENV: &str = "AEDB_TEST_WAL_DAMAGE_CHILD_DIR";

fn real_options(mode: RecoveryMode) -> StorageOptions {
    StorageOptions {
        wal_segment_bytes: 16 << 10,
        checkpoint_wal_bytes: u64::MAX,
        checkpoint_dirty_bytes: u64::MAX,
        checkpoint_interval_ms: None,
        checkpoint_on_close: false,
        recovery: mode,
        ..StorageOptions::default()
    }
}

/// Rows the child commits: key `seq` (big endian) → 40 + seq bytes of `seq`.
fn row(seq: u64) -> Vec<u8> {
    vec![(seq % 200) as u8 + 1; 40 + seq as usize]
}

/// The child: 10 durable commits, a checkpoint, 7 more, then a group of three
/// (two Visible, one Durable); prints each durable ack and exits without shutdown.
#[test]
#[ignore = "helper: runs only as the child of the real-file damage test"]
fn wal_damage_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db =
        Database::open(&dir, real_options(RecoveryMode::Strict)).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..20u64 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        let seq = txn.seq();
        txn.open_tree("rows")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(&seq.to_be_bytes(), &row(seq))
            .unwrap_or_else(|e| panic!("{e}"));
        let finality = if i == 17 || i == 18 {
            Finality::Visible
        } else {
            Finality::Durable
        };
        let r = txn.commit(finality).unwrap_or_else(|e| panic!("{e}"));
        if finality == Finality::Durable {
            println!("ACK {}", r.seq);
        }
        if i == 9 {
            db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // Exit without dropping: no shutdown, the frames stay past the checkpoint.
    std::process::exit(0);
}

/// Real files: flip every bit of the newest segment's header and a seeded sample of
/// its frame bits, each in its own copy of the directory; each copy must open
/// strictly to exactly the acknowledged rows or give a clean corruption error. The
/// only allowed loss is the final frame when damaged, and then the report says the
/// cut frame was unvouched.
#[test]
fn wal_damage_on_real_files_never_loses_an_acknowledged_commit() {
    let seed = test_seed("WAL damage on real files", 0x5eed_f1f5);
    let started = std::time::Instant::now();
    let base = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    // `output` waits for the child: it has exited (without shutdown) before any copy.
    let out = Command::new(&exe)
        .args([
            "--exact",
            "wal_damage_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, base.path())
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "the child failed: {:?}", out.status);
    let lines = BufReader::new(&out.stdout[..]).lines();
    let acked: Vec<u64> = lines
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("ACK ").and_then(|s| s.trim().parse().ok()))
        .collect();
    let last = *acked
        .last()
        .unwrap_or_else(|| panic!("the child acknowledged nothing"));
    assert_eq!(last, 20, "acks: {acked:?}");
    let mut segs: Vec<PathBuf> = std::fs::read_dir(base.path().join("wal"))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
        .collect();
    segs.sort();
    let newest = segs.last().cloned().unwrap_or_else(|| panic!("no segment"));
    let name = newest
        .file_name()
        .unwrap_or_else(|| unreachable!())
        .to_owned();
    assert!(
        segs.len() >= 2,
        "the checkpoint left the newest segment after the first: {segs:?}"
    );
    let bytes = std::fs::read(&newest).unwrap_or_else(|e| panic!("{e}"));
    let frames = frames_of(&bytes);
    assert_eq!(frames.len(), 10, "frames 11..=20 in the newest segment");
    let (final_at, _) = frames[frames.len() - 1];
    let frames_end = frames.iter().map(|(o, l)| o + *l as u64).max().unwrap_or(0);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut bits: Vec<u64> = (0..SEGMENT_HEADER_LEN as u64 * 8).collect();
    bits.extend((0..256).map(|_| rng.u64(SEGMENT_HEADER_LEN as u64 * 8..frames_end * 8)));
    // Copies on tmpfs when there is one: each open syncs several times.
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let (mut exact, mut refused, mut cut) = (0, 0, 0);
    for (n, &bit) in bits.iter().enumerate() {
        let copy = scratch.path().join(format!("c{n}"));
        copy_dir(base.path(), &copy);
        let seg = copy.join("wal").join(&name);
        let mut b = std::fs::read(&seg).unwrap_or_else(|e| panic!("{e}"));
        b[(bit / 8) as usize] ^= 1 << (bit % 8);
        std::fs::write(&seg, &b).unwrap_or_else(|e| panic!("{e}"));
        let ctx = format!("seed {seed}, segment byte {} bit {}", bit / 8, bit % 8);
        match Database::open(&copy, real_options(RecoveryMode::Strict)) {
            Err(e) if e.is_corruption() => refused += 1,
            Err(e) => panic!("{ctx}: not a clean corruption error: {e}"),
            Ok(db) => {
                let seq = db.visible_seq();
                let report = db.recovery_report().clone();
                if seq == last {
                    exact += 1;
                } else {
                    // Only the final frame may go, and only with the report saying so.
                    let cut_final = report
                        .truncated
                        .as_ref()
                        .is_some_and(|(_, at, _)| *at == final_at);
                    assert!(
                        seq == last - 1 && cut_final && unvouched(&report),
                        "{ctx}: opened at seq {seq}, acknowledged {last}: {report:?}"
                    );
                    cut += 1;
                }
                let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
                let tree = read
                    .open_tree("rows")
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                for s in 1..=seq {
                    let v = tree
                        .get(&s.to_be_bytes())
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(v.as_deref(), Some(&row(s)[..]), "{ctx}: row {s}");
                }
                assert!(
                    tree.get(&(seq + 1).to_be_bytes())
                        .unwrap_or_else(|e| panic!("{e}"))
                        .is_none(),
                    "{ctx}"
                );
                drop(read);
                check_all(&db).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            }
        }
        std::fs::remove_dir_all(&copy).unwrap_or_else(|e| panic!("{e}"));
    }
    println!(
        "real files: {} copies ({} header bits, 256 sampled frame bits): {exact} exact, \
         {refused} refused, {cut} last commit cut and reported; {:.1?}",
        bits.len(),
        SEGMENT_HEADER_LEN * 8,
        started.elapsed()
    );
    assert!(refused > 0 && exact + refused + cut == bits.len());
}
