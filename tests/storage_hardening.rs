//! Findings of the 2026-11-29 reliability review on the engine's own API, one test
//! each, named after the finding:
//! - F4: an `AtSeq` reader registers while its snapshot is still retained, so the
//!   snapshot's pages cannot be handed out before it is protected;
//! - F10: a read transaction checks tree names like a write transaction, so a
//!   caller's name never reaches the directory's internal keys;
//! - F14: dropping a damaged tree is refused (it used to free every page id the
//!   checker listed, even ones that failed their owner check, and to ignore damage);
//! - F16: a write transaction is refused the moment its effects or its copied
//!   pages cross the configured bound, not after encoding gigabytes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aedb::pager::sim::{SimFs, test_seed};
use aedb::storage::{Consistency, Database, Finality, StorageError, StorageOptions};
use common::{dir, open, options};

#[test]
fn f10_read_side_tree_names_are_checked() {
    let fs = SimFs::new(test_seed("F10", 0xF10));
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    txn.open_tree("t")
        .unwrap_or_else(|e| panic!("{e}"))
        .insert(b"k", b"v")
        .unwrap_or_else(|e| panic!("{e}"));
    txn.commit(Finality::Visible)
        .unwrap_or_else(|e| panic!("{e}"));
    let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
    // "\0next" is the directory's id counter: a caller naming it got a Corruption
    // error (rule C1), an integrity alarm raised by input.
    for name in ["\0next", "", "\0"] {
        match read.open_tree(name) {
            Err(StorageError::InvalidTreeName(_)) => {}
            Err(e) => panic!("open_tree({name:?}) gave {e}, not InvalidTreeName"),
            Ok(_) => panic!("open_tree({name:?}) opened something"),
        }
        match read.tree_handle(name) {
            Err(StorageError::InvalidTreeName(_)) => {}
            Err(e) => panic!("tree_handle({name:?}) gave {e}, not InvalidTreeName"),
            Ok(_) => panic!("tree_handle({name:?}) resolved something"),
        }
    }
}

#[test]
fn f14_dropping_a_damaged_tree_is_refused() {
    let seed = test_seed("F14", 0xF14);
    let fs = SimFs::new(seed);
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    for name in ["a", "b"] {
        let mut t = txn.open_tree(name).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..2000u32 {
            t.insert(&i.to_be_bytes(), &[1; 64])
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    txn.commit(Finality::Durable)
        .unwrap_or_else(|e| panic!("{e}"));
    db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
    let root = db
        .tree_roots()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|(name, _, _)| name == "a")
        .and_then(|(_, _, root)| root)
        .unwrap_or_else(|| panic!("tree a has a root"));
    drop(db);
    // One bit in the middle of tree a's root page.
    fs.flip_bit(&dir().join("data.aedb"), root.page.0 * 4096 + 2000, 3);
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("reopen: {e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    match txn.delete_tree("a") {
        Err(e) if e.is_corruption() => println!("F14: drop of a damaged tree refused: {e}"),
        Err(e) => panic!("dropping a damaged tree gave {e}, not a corruption error"),
        Ok(dropped) => panic!(
            "dropping a damaged tree succeeded ({dropped}): its pages would be freed unverified"
        ),
    }
    txn.abort();
    // The healthy tree is untouched and can still be dropped.
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    assert!(txn.delete_tree("b").unwrap_or_else(|e| panic!("{e}")));
    txn.commit(Finality::Durable)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn bounded(effects: usize, dirty: u64) -> StorageOptions {
    StorageOptions {
        // A transaction that keeps its effects (as the facade's do) is refused
        // at the bound; with large commits on it would turn large first. The
        // same for copied pages: spilling would keep them under the bound.
        large_commit_bytes: None,
        spill_dirty_bytes: u64::MAX,
        max_txn_effect_bytes: effects,
        max_txn_dirty_bytes: dirty,
        ..options(4096)
    }
}

#[test]
fn f16_a_transaction_is_refused_when_its_effects_cross_the_bound() {
    let fs = SimFs::new(test_seed("F16 effects", 0xF16));
    let db = Database::open_with(Arc::new(fs.clone()), &dir(), bounded(100_000, u64::MAX))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    let mut t = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
    let mut accepted = 0u32;
    let err = loop {
        match t.insert(&accepted.to_be_bytes(), &[5; 1000]) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "100 KB of effects were never refused");
    };
    match err {
        StorageError::TransactionTooLarge {
            what: "effects",
            bytes,
            limit: 100_000,
        } => assert!(bytes > 100_000),
        e => panic!("crossing the effect bound gave {e}"),
    }
    // Refused before the edit: the tree holds exactly the accepted entries, and
    // the limit was crossed by the next entry, not long after.
    assert_eq!(t.len().unwrap_or_else(|e| panic!("{e}")) as u32, accepted);
    assert!(
        (97..=100).contains(&accepted),
        "{accepted} entries of ~1 KB fit in 100 KB"
    );
    drop(t);
    match txn.commit(Finality::Visible) {
        Err(StorageError::TransactionTooLarge { .. }) => {}
        other => panic!("a refused transaction committed: {other:?}"),
    }
    println!("F16 effects: refused at entry {accepted} of 1 KB (bound 100 KB)");
}

#[test]
fn f16_a_transaction_is_refused_when_its_copied_pages_cross_the_bound() {
    let fs = SimFs::new(test_seed("F16 dirty", 0xF17));
    let db = Database::open_with(Arc::new(fs.clone()), &dir(), bounded(usize::MAX, 64 * 4096))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    let mut t = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
    let mut accepted = 0u32;
    let err = loop {
        match t.insert(&accepted.to_be_bytes(), &[5; 500]) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(
            accepted < 10_000,
            "64 pages of dirty memory were never refused"
        );
    };
    match err {
        StorageError::TransactionTooLarge {
            what: "copied pages",
            bytes,
            limit,
        } => assert!(bytes > limit),
        e => panic!("crossing the dirty-page bound gave {e}"),
    }
    drop(t);
    assert!(matches!(
        txn.commit(Finality::Visible),
        Err(StorageError::TransactionTooLarge { .. })
    ));
    // Nothing of it reached the database.
    let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
    assert!(read.open_tree("t").is_err());
    println!("F16 dirty pages: refused at entry {accepted} of 500 B (bound 64 pages)");
}

/// F4 is a race between an `AtSeq` reader and the commit that retires its
/// snapshot; its fix is structural (registration under the retention lock). This
/// stress test reads retained snapshots while commits rewrite every page; any
/// reuse of a page a registered reader still sees shows up as a wrong value or a
/// corruption error.
#[test]
fn f4_at_seq_readers_never_see_reused_pages() {
    let fs = SimFs::new(test_seed("F4", 0xF4));
    let opts = StorageOptions {
        snapshot_retention_count: 1,
        ..options(4096)
    };
    let db =
        Database::open_with(Arc::new(fs.clone()), &dir(), opts).unwrap_or_else(|e| panic!("{e}"));
    let write = |db: &Database, round: u32| {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        let mut t = txn.open_tree("t").unwrap_or_else(|e| panic!("{e}"));
        for i in 0..300u32 {
            t.insert(&i.to_be_bytes(), &round.to_be_bytes().repeat(8))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(t);
        txn.commit(Finality::Visible)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    write(&db, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let db = db.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let seq = db.visible_seq().saturating_sub(1);
                let Ok(read) = db.begin_read_at(Consistency::AtSeq(seq)) else {
                    continue;
                };
                let tree = read
                    .open_tree("t")
                    .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
                let mut first: Option<Vec<u8>> = None;
                for entry in tree.iter().unwrap_or_else(|e| panic!("seq {seq}: {e}")) {
                    let (_, v) = entry.unwrap_or_else(|e| {
                        panic!("seq {seq}: a page was reused under a reader: {e}")
                    });
                    let first = first.get_or_insert_with(|| v.to_vec());
                    assert_eq!(
                        &v[..],
                        &first[..],
                        "seq {seq}: values of two commits in one snapshot"
                    );
                }
                reads += 1;
            }
            reads
        })
    };
    let started = Instant::now();
    let mut round = 1;
    while started.elapsed() < Duration::from_secs(2) {
        write(&db, round);
        round += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader
        .join()
        .unwrap_or_else(|_| panic!("the reader failed (seed above)"));
    println!(
        "F4: {reads} AtSeq reads of the previous snapshot across {round} rewriting commits, all consistent"
    );
}
