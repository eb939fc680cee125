//! Engine fault tests: G4 for WAL frames and segment headers (every bit flip
//! detected: mid-log strict corruption or permissive stop-and-report, tail
//! truncated and reported or refused; a header with frames after it is never a torn
//! creation), G5 (a
//! damaged newest meta falls back only with the WAL rebuilding everything), G8 (a
//! failed sync poisons; reopen re-syncs), G9 (ENOSPC anywhere leaves an openable
//! database).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aedb::pager::sim::{FaultPlan, ImageMode, SimFs, test_seed};
use aedb::pager::vfs::Vfs;
use aedb::storage::wal::frame::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use aedb::storage::{Database, Finality, RecoveryMode, StorageError};
use common::*;

/// Five durable commits in one segment, no checkpoint; returns the segment path and
/// the frame offsets.
fn five_commits(fs: &SimFs) -> (PathBuf, Vec<(u64, usize)>) {
    let mut opts = options(4096);
    opts.wal_segment_bytes = 1 << 20;
    opts.checkpoint_on_close = false; // keep the frames past the checkpoint
    let db =
        Database::open_with(Arc::new(fs.clone()), &dir(), opts).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..5u8 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        txn.open_tree("t")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(&[i], &[i; 30])
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit(Finality::Durable)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    drop(db);
    let segs = fs
        .list_dir(&dir().join("wal"))
        .unwrap_or_else(|e| panic!("{e}"));
    let path = segs.last().cloned().unwrap_or_else(|| unreachable!());
    let bytes = fs.contents(&path).unwrap_or_else(|| unreachable!());
    let mut frames = Vec::new();
    let mut off = SEGMENT_HEADER_LEN;
    // Frames run up to the zero-filled end of the segment (FORMAT W9).
    while off + FRAME_HEADER_LEN <= bytes.len() && bytes[off..].iter().any(|b| *b != 0) {
        let n = u32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]])
            as usize;
        let len = FRAME_HEADER_LEN + n;
        frames.push((off as u64, len));
        off += len;
    }
    (path, frames)
}

fn reopen(fs: &SimFs, mode: RecoveryMode) -> Result<Database, StorageError> {
    let mut opts = options(4096);
    opts.recovery = mode;
    Database::open_with(Arc::new(fs.clone()), &dir(), opts)
}

/// Every bit of a segment header of a segment holding frames: a damaged header is
/// never taken for a torn creation when frames follow it (FORMAT S4). Strict:
/// `WalCorruption` at offset 0 naming the segment; permissive: the segment is set
/// aside (renamed, never unlinked) and reported. Returns the bits flipped.
fn flip_every_header_bit(fs: &SimFs, path: &Path, first_seq: u64, permissive_seq: u64) -> u64 {
    let mut flipped = 0;
    for bit in 0..SEGMENT_HEADER_LEN as u64 * 8 {
        let image = fs.crash_image(ImageMode::KeepAll);
        image.flip_bit(path, bit / 8, (bit % 8) as u8);
        let ctx = format!("{} header bit {bit}", path.display());
        match reopen(&image, RecoveryMode::Strict) {
            Err(StorageError::WalCorruption {
                seq,
                offset,
                segment,
                ..
            }) => {
                assert_eq!(
                    (seq, offset, segment.as_path()),
                    (first_seq, 0, path),
                    "{ctx}"
                )
            }
            other => panic!(
                "{ctx}: strict open gave {:?}",
                other.map(|db| db.visible_seq())
            ),
        }
        let db = reopen(&image, RecoveryMode::Permissive)
            .unwrap_or_else(|e| panic!("{ctx}: permissive: {e}"));
        assert_eq!(
            db.visible_seq(),
            permissive_seq,
            "{ctx}: permissive stops before the segment"
        );
        let report = db.recovery_report();
        assert!(
            !report.dropped.is_empty(),
            "{ctx}: permissive must report what it set aside"
        );
        let mut aside = path.as_os_str().to_owned();
        aside.push(".dropped");
        assert!(
            image.contents(Path::new(&aside)).is_some(),
            "{ctx}: the segment was not kept"
        );
        flipped += 1;
    }
    flipped
}

#[test]
fn every_bit_flip_of_a_wal_frame_is_detected() {
    let fs = SimFs::new(test_seed("WAL frame bit flips", 71));
    let (path, frames) = five_commits(&fs);
    assert_eq!(frames.len(), 5, "one segment with five frames");
    let header = flip_every_header_bit(&fs, &path, 1, 0);
    // An older segment's header (rotation after every frame): its frames were
    // synced whole before the next segment was created.
    let small = SimFs::new(fs.seed());
    let mut opts = options(4096);
    opts.wal_segment_bytes = 65; // one frame per segment
    opts.checkpoint_on_close = false;
    let db = Database::open_with(Arc::new(small.clone()), &dir(), opts)
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..3u8 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        let mut tree = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
        tree.insert(&[i], &[i; 30])
            .unwrap_or_else(|e| panic!("{e}"));
        drop(tree);
        txn.commit(Finality::Durable)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    drop(db);
    let older = dir().join("wal").join(aedb::storage::wal::segment_name(2));
    let older_header = flip_every_header_bit(&small, &older, 2, 1);
    let (mut mid, mut tail, mut tail_refused, mut unvouched) = (0, 0, 0, 0);
    for (index, &(offset, len)) in frames.iter().enumerate() {
        let last = index + 1 == frames.len();
        if index != 1 && !last {
            continue; // one mid-log frame and the tail frame
        }
        for bit in 0..len as u64 * 8 {
            let image = fs.crash_image(ImageMode::KeepAll);
            image.flip_bit(&path, offset + bit / 8, (bit % 8) as u8);
            let ctx = format!("frame {} bit {bit}", index + 1);
            if last {
                // The final frame: nothing vouches that it was synced. Cut and
                // reported, or (a length flipped short leaves bytes after the
                // claimed frame: damage, W10) refused like a mid-log frame.
                match reopen(&image, RecoveryMode::Strict) {
                    Ok(db) => {
                        let report = db.recovery_report();
                        let cut = report
                            .truncated
                            .as_ref()
                            .is_some_and(|(_, at, _)| *at == offset);
                        assert!(cut, "{ctx}: tail not truncated: {report:?}");
                        assert_eq!(db.visible_seq(), 4, "{ctx}");
                        // Through Debug so this file also runs on the commit before
                        // the field existed (where its header flips fail, as they must).
                        let flag = format!("{report:?}").contains("unvouched_tail_truncated: true");
                        unvouched += u64::from(flag);
                        tail += 1;
                    }
                    Err(StorageError::WalCorruption {
                        seq, offset: at, ..
                    }) => {
                        assert_eq!((seq, at), (5, offset), "{ctx}");
                        let db = reopen(&image, RecoveryMode::Permissive)
                            .unwrap_or_else(|e| panic!("{ctx}: permissive: {e}"));
                        assert_eq!(db.visible_seq(), 4, "{ctx}");
                        assert!(!db.recovery_report().dropped.is_empty(), "{ctx}");
                        tail_refused += 1;
                    }
                    Err(e) => panic!("{ctx}: {e}"),
                }
            } else {
                match reopen(&image, RecoveryMode::Strict) {
                    Err(StorageError::WalCorruption {
                        seq, offset: at, ..
                    }) => assert_eq!((seq, at), (2, offset), "{ctx}"),
                    other => panic!(
                        "{ctx}: strict open gave {:?}",
                        other.map(|db| db.visible_seq())
                    ),
                }
                let db = reopen(&image, RecoveryMode::Permissive)
                    .unwrap_or_else(|e| panic!("{ctx}: permissive: {e}"));
                assert_eq!(
                    db.visible_seq(),
                    1,
                    "{ctx}: permissive stops before the bad frame"
                );
                assert!(
                    !db.recovery_report().dropped.is_empty(),
                    "{ctx}: permissive must report what it dropped"
                );
                mid += 1;
            }
        }
    }
    println!(
        "{header} header flips of a newest segment with frames and {older_header} of an older \
         segment refused (strict) and set aside (permissive); {mid} mid-log flips refused \
         (strict) and reported (permissive); tail: {tail} flips truncated and reported \
         ({unvouched} flagged unvouched), {tail_refused} refused"
    );
    assert_eq!((header, older_header), (512, 512));
    assert!(unvouched > 0 && tail_refused > 0);
}

#[test]
fn a_damaged_newest_meta_falls_back_only_with_the_wal() {
    let seed = test_seed("damaged newest meta", 72);
    let fs = SimFs::new(seed);
    let out = run(&fs, seed, 4096, 20);
    assert!(out.error.is_none(), "{:?}", out.error);
    let last = normalize(
        &out.states
            .last()
            .map(|(_, m)| m.clone())
            .unwrap_or_default(),
    );
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let head = db.visible_seq();
    let slot = db.pager().meta().generation % 2; // generations alternate slots
    drop(db);
    let meta_path = dir().join(aedb::pager::DATA_FILE_NAME);
    for byte in [0u64, 20, 100, 143] {
        let image = fs.crash_image(ImageMode::KeepAll);
        // The current meta is the slot with the higher generation; damage it.
        let current = if slot == 0 { 1 } else { 0 };
        let _ = current;
        for s in 0..2u64 {
            let probe = image.crash_image(ImageMode::KeepAll);
            probe.flip_bit(&meta_path, s * 4096 + byte, 3);
            let db = open(&probe, 4096).unwrap_or_else(|e| panic!("slot {s} byte {byte}: {e}"));
            assert!(
                db.recovery_report().ignored_meta.is_some(),
                "slot {s} byte {byte}: damage not reported"
            );
            assert_eq!(
                db.visible_seq(),
                head,
                "slot {s} byte {byte}: a commit vanished"
            );
            assert_eq!(
                read_model(&db).unwrap_or_else(|e| panic!("{e}")),
                last,
                "slot {s} byte {byte}"
            );
        }
    }
}

#[test]
fn a_failed_sync_poisons_and_reopen_recovers() {
    let seed = test_seed("engine sync failure", 73);
    let failed = sync_failure_matrix(seed, 12);
    println!("{failed} injected I/O errors stopped the workload; every image recovered");
    assert!(failed > 10);
}

#[test]
fn out_of_space_anywhere_leaves_an_openable_database() {
    let seed = test_seed("engine ENOSPC", 74);
    let clean = SimFs::new(seed);
    let out = run(&clean, seed, 4096, 12);
    assert!(out.error.is_none());
    let calls = clean.calls();
    let mut hits = 0;
    for k in 0..calls {
        for forever in [false, true] {
            let fs = SimFs::new(seed);
            fs.set_plan(FaultPlan {
                enospc_at: Some(k),
                enospc_forever: forever,
                ..FaultPlan::default()
            });
            let out = run(&fs, seed, 4096, 12);
            if out.error.is_none() {
                continue;
            }
            hits += 1;
            for mode in [ImageMode::LoseAll, ImageMode::KeepAll] {
                let image = fs.crash_image(mode);
                let db = open(&image, 4096)
                    .unwrap_or_else(|e| panic!("k {k} forever {forever} {mode:?}: {e}"));
                let got = read_model(&db).unwrap_or_else(|e| panic!("k {k}: {e}"));
                let seq = db.visible_seq();
                assert!(
                    out.admits(seq, &got),
                    "k {k} forever {forever} {mode:?}: recovered seq {seq}, durable {}",
                    out.durable
                );
                drop(db);
                let more = run(&image, seed + 1, 4096, 3);
                assert!(
                    more.error.is_none(),
                    "k {k}: commits after reopen failed: {:?}",
                    more.error
                );
            }
        }
    }
    println!("{hits} ENOSPC injections, all reopened at a committed state");
    assert!(hits > 0);
}

#[test]
fn reopen_after_a_failed_sync_makes_what_it_read_durable_before_acknowledging() {
    let seed = test_seed("reopen after failed sync", 75);
    let clean = SimFs::new(seed);
    run(&clean, seed, 4096, 10);
    let mut cases = 0;
    for k in 0..clean.calls() {
        let fs = SimFs::new(seed);
        fs.set_plan(FaultPlan {
            eio_at: Some(k),
            ..FaultPlan::default()
        });
        let first = run(&fs, seed, 4096, 10);
        if !matches!(first.error, Some(StorageError::Poisoned(_))) {
            continue;
        }
        cases += 1;
        // Same machine, no crash: reopen sees the bytes the failed sync dropped.
        fs.set_plan(FaultPlan::default());
        let db = open(&fs, 4096).unwrap_or_else(|e| panic!("k {k}: {e}"));
        let seen = read_model(&db).unwrap_or_else(|e| panic!("k {k}: {e}"));
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("k {k}: {e}"));
        txn.open_tree("after")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(b"x", b"y")
            .unwrap_or_else(|e| panic!("{e}"));
        let ack = txn
            .commit(Finality::Durable)
            .unwrap_or_else(|e| panic!("k {k}: {e}"));
        drop(db);
        // Power loss: the acknowledged commit, and everything it was built on, stay.
        let image = fs.crash_image(ImageMode::LoseAll);
        let db = open(&image, 4096).unwrap_or_else(|e| panic!("k {k}: {e}"));
        assert!(
            db.visible_seq() >= ack.seq,
            "k {k}: acknowledged seq {} lost",
            ack.seq
        );
        let mut want = seen.clone();
        want.entry("after".into())
            .or_default()
            .insert(b"x".to_vec(), b"y".to_vec());
        assert_eq!(
            read_model(&db).unwrap_or_else(|e| panic!("{e}")),
            want,
            "k {k}: the acknowledged state changed"
        );
    }
    println!("{cases} failed syncs followed by a reopen and a durable commit");
    assert!(cases > 3);
}

#[test]
fn snapshots_at_a_retained_seq_and_at_the_checkpoint() {
    use aedb::storage::Consistency;
    let fs = SimFs::new(76);
    let mut opts = options(4096);
    opts.snapshot_retention_count = 3;
    let db =
        Database::open_with(Arc::new(fs.clone()), &dir(), opts).unwrap_or_else(|e| panic!("{e}"));
    let mut seqs = Vec::new();
    for i in 0..6u8 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        txn.open_tree("t")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(b"k", &[i])
            .unwrap_or_else(|e| panic!("{e}"));
        seqs.push(
            txn.commit(Finality::Visible)
                .unwrap_or_else(|e| panic!("{e}"))
                .seq,
        );
        if i == 1 {
            db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let value_at = |at: Consistency| -> Option<u8> {
        let read = db.begin_read_at(at).ok()?;
        let tree = read.open_tree("t").ok()?;
        tree.get(b"k").ok().flatten().map(|v| v[0])
    };
    // The last three commits are retained; older ones are a clear error.
    assert_eq!(value_at(Consistency::AtSeq(seqs[5])), Some(5));
    assert_eq!(value_at(Consistency::AtSeq(seqs[3])), Some(3));
    match db.begin_read_at(Consistency::AtSeq(seqs[0])) {
        Err(StorageError::SnapshotUnavailable { seq, .. }) => assert_eq!(seq, seqs[0]),
        other => panic!(
            "expected SnapshotUnavailable, got {:?}",
            other.map(|r| r.seq())
        ),
    }
    assert_eq!(value_at(Consistency::AtCheckpoint), Some(1));
    // Old snapshots keep reading their contents while churn reuses pages.
    let held = db
        .begin_read_at(Consistency::AtSeq(seqs[3]))
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..40u8 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        txn.open_tree("t")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(b"k", &[100 + i])
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit(Finality::Visible)
            .unwrap_or_else(|e| panic!("{e}"));
        if i % 5 == 0 {
            db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert_eq!(
        held.open_tree("t")
            .unwrap_or_else(|e| panic!("{e}"))
            .get(b"k")
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|v| v[0]),
        Some(3)
    );
    drop(held);
    read_model(&db).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn steady_churn_keeps_the_file_flat() {
    let fs = SimFs::new(77);
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let path = dir().join(aedb::pager::DATA_FILE_NAME);
    let mut sizes = Vec::new();
    for round in 0..30u32 {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut t = txn.open_tree("churn").unwrap_or_else(|e| panic!("{e}"));
            for i in 0..300u32 {
                if round % 2 == 0 {
                    t.insert(&i.to_be_bytes(), &[round as u8; 100])
                        .unwrap_or_else(|e| panic!("{e}"));
                } else {
                    t.remove(&i.to_be_bytes()).unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
        txn.commit(Finality::Durable)
            .unwrap_or_else(|e| panic!("{e}"));
        db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
        sizes.push(fs.contents(&path).map_or(0, |c| c.len()));
    }
    let early = sizes[9];
    let late = sizes[29];
    println!("page file after rounds 10 and 30: {early} and {late} bytes");
    assert!(
        late <= early + 8 * 4096,
        "the file keeps growing under steady churn: {sizes:?}"
    );
    read_model(&db).unwrap_or_else(|e| panic!("{e}"));
}
