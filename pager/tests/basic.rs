//! The pager's contract on real files: round trips, growth while views are alive,
//! page sizes, keys, misuse refusals and the reuse rules.

use aedb_pager::vfs::RealFs;
use aedb_pager::{
    Expect, Key, MetaUpdate, PAGE_HEADER_LEN, PageId, PageKind, Pager, PagerError, PagerOptions,
};

const KIND: PageKind = PageKind(9);

fn ok<T>(r: aedb_pager::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn write(pager: &Pager, tag: u8) -> PageId {
    let id = ok(pager.allocate());
    let mut buf = pager.page_buffer();
    buf[PAGE_HEADER_LEN..].fill(tag);
    ok(pager.write_page(id, KIND, u64::from(tag), &mut buf));
    id
}

#[test]
fn pages_survive_reopen_and_growth_keeps_old_views_valid() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, report) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    assert!(report.created);
    let first = write(&pager, 1);
    ok(pager.commit(MetaUpdate {
        checkpoint_seq: 1,
        root: Some(first),
        ..Default::default()
    }));
    let old_view = ok(pager.view());
    let old_page = ok(old_view.page(first));
    // Grow the file well past the first mapping.
    let ids: Vec<PageId> = (0..300)
        .map(|i| write(&pager, (i % 250) as u8 + 2))
        .collect();
    ok(pager.commit(MetaUpdate {
        checkpoint_seq: 2,
        root: Some(ids[0]),
        ..Default::default()
    }));
    let new_view = ok(pager.view());
    for (i, id) in ids.iter().enumerate() {
        let page = ok(new_view.page(*id));
        assert!(page.payload().iter().all(|&b| b == (i % 250) as u8 + 2));
    }
    // The old view and the slice borrowed from it are still valid.
    assert!(old_page.payload().iter().all(|&b| b == 1));
    drop(pager);
    let (pager, report) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    assert_eq!(report.meta.checkpoint_seq, 2);
    assert!(report.ignored.is_none());
    let view = ok(pager.view());
    let page = ok(view.page_expect(
        ids[299],
        Expect {
            kind: Some(KIND),
            owner: Some(((299 % 250) + 2) as u64),
            ..Default::default()
        },
    ));
    assert_eq!(page.generation(), report.meta.generation);
}

#[test]
fn page_size_is_fixed_at_create() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let opts = |ps| PagerOptions {
        page_size: ps,
        ..PagerOptions::default()
    };
    assert!(matches!(
        Pager::open(&RealFs, tmp.path(), opts(Some(5000))),
        Err(PagerError::InvalidPageSize(5000))
    ));
    assert!(matches!(
        Pager::open(&RealFs, tmp.path(), opts(Some(128 * 1024))),
        Err(PagerError::InvalidPageSize(_))
    ));
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), opts(Some(16384))));
    let id = write(&pager, 7);
    ok(pager.commit(MetaUpdate {
        root: Some(id),
        ..Default::default()
    }));
    drop(pager);
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), opts(None)));
    assert_eq!(pager.page_size(), 16384);
    drop(pager);
    match Pager::open(&RealFs, tmp.path(), opts(Some(4096))) {
        Err(PagerError::PageSizeMismatch {
            requested: 4096,
            found: 16384,
            ..
        }) => {}
        other => panic!("expected a page size mismatch, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_keyed_file_needs_its_key() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let keyed = |k: &[u8]| {
        let mut k = k.to_vec();
        k.resize(16, b'.');
        PagerOptions {
            key: Some(Key::new(k).unwrap_or_else(|e| panic!("{e}"))),
            ..PagerOptions::default()
        }
    };
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), keyed(b"right key")));
    let id = write(&pager, 3);
    ok(pager.commit(MetaUpdate {
        root: Some(id),
        ..Default::default()
    }));
    drop(pager);
    assert!(matches!(
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()),
        Err(PagerError::KeyRequired { .. })
    ));
    assert!(matches!(
        Pager::open(&RealFs, tmp.path(), keyed(b"wrong key")),
        Err(PagerError::WrongKey { .. })
    ));
    let (pager, report) = ok(Pager::open(&RealFs, tmp.path(), keyed(b"right key")));
    assert!(report.meta.keyed && report.ignored.is_none());
    drop(pager);

    let plain = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    drop(ok(Pager::open(
        &RealFs,
        plain.path(),
        PagerOptions::default(),
    )));
    assert!(matches!(
        Pager::open(&RealFs, plain.path(), keyed(b"k")),
        Err(PagerError::NotKeyed { .. })
    ));
}

#[test]
fn writes_to_reachable_or_unallocated_pages_are_refused() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    let id = write(&pager, 1);
    ok(pager.commit(MetaUpdate {
        root: Some(id),
        ..Default::default()
    }));
    let mut buf = pager.page_buffer();
    // `id` is reachable from the durable meta now.
    assert!(matches!(
        pager.write_page(id, KIND, 0, &mut buf),
        Err(PagerError::Misuse(_))
    ));
    // Never allocated.
    assert!(matches!(
        pager.write_page(PageId(1000), KIND, 0, &mut buf),
        Err(PagerError::Misuse(_))
    ));
    // Meta pages are not pages.
    assert!(matches!(
        ok(pager.view()).page(PageId(0)),
        Err(PagerError::Misuse(_))
    ));
    // Double retire.
    ok(pager.retire(id, 1));
    assert!(matches!(pager.retire(id, 1), Err(PagerError::Misuse(_))));
    // A committed root must be allocated.
    assert!(matches!(
        pager.commit(MetaUpdate {
            root: Some(id),
            ..Default::default()
        }),
        Err(PagerError::Misuse(_))
    ));
    // Past the end of the file: corruption, not a crash.
    let err = ok(pager.view())
        .page(PageId(1 << 40))
        .err()
        .unwrap_or_else(|| unreachable!());
    assert!(err.as_corruption().is_some(), "{err}");
}

#[test]
fn retired_pages_wait_for_readers_and_two_metas() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    pager.release_readers_below(0); // a reader at epoch 0 is live
    let a = write(&pager, 1);
    ok(pager.commit(MetaUpdate {
        root: Some(a),
        ..Default::default()
    }));
    let b = write(&pager, 2);
    ok(pager.retire(a, 5)); // retired at epoch 5 by the commit building now
    ok(pager.commit(MetaUpdate {
        root: Some(b),
        ..Default::default()
    }));
    for _ in 0..3 {
        let c = write(&pager, 3);
        assert_ne!(c, a, "reused while a reader may see it");
        ok(pager.retire(c, 6));
        ok(pager.commit(MetaUpdate {
            root: Some(b),
            ..Default::default()
        }));
    }
    pager.release_readers_below(6);
    let d = ok(pager.allocate());
    assert_eq!(
        d, a,
        "free, unreachable from both metas and past every reader: reused first"
    );
}

#[test]
fn read_only_open_of_a_missing_database_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("absent");
    let ro = PagerOptions {
        read_only: true,
        ..PagerOptions::default()
    };
    assert!(matches!(
        Pager::open(&RealFs, &dir, ro),
        Err(PagerError::NotFound { .. })
    ));
    assert!(!dir.exists());
    let no_create = PagerOptions {
        create: false,
        ..PagerOptions::default()
    };
    assert!(matches!(
        Pager::open(&RealFs, &dir, no_create),
        Err(PagerError::NotFound { .. })
    ));
    assert!(!dir.exists());
}

#[test]
fn a_page_past_the_end_of_the_file_is_an_error_even_inside_the_mapped_reserve() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    let id = write(&pager, 1);
    ok(pager.commit(MetaUpdate {
        root: Some(id),
        ..Default::default()
    }));
    let view = ok(pager.view());
    // The mapping reserves address space past the end; touching it would SIGBUS.
    for past in [id.0 + 1, id.0 + 100, 1000] {
        let err = view
            .page(PageId(past))
            .err()
            .unwrap_or_else(|| panic!("page {past} past the end was served"));
        assert!(
            err.as_corruption().is_some_and(|d| d.rule == "P7"),
            "page {past}: {err}"
        );
    }
}

/// F23: `{:?}` of the options or the pager must not print the HMAC key (the pager
/// is reachable from the public API, and Debug output ends up in logs).
#[test]
fn f23_pager_debug_redacts_key() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = b"secret-key-0123456789".to_vec();
    let options = PagerOptions {
        key: Some(Key::new(key.clone()).unwrap_or_else(|e| panic!("{e}"))),
        ..PagerOptions::default()
    };
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), options.clone()));
    // Short keys are refused where they are made (F23).
    assert!(matches!(
        Key::new(b"short".to_vec()),
        Err(PagerError::InvalidKey(_))
    ));
    let leaks = |text: &str| {
        let decimal = format!("{:?}", key);
        let ascii = String::from_utf8_lossy(&key).into_owned();
        text.contains(&decimal[1..decimal.len() - 1]) || text.contains(&ascii)
    };
    for text in [
        format!("{options:?}"),
        format!("{options:#?}"),
        format!("{pager:?}"),
    ] {
        assert!(!leaks(&text), "the key leaks: {text}");
        assert!(text.contains("redacted"), "{text}");
    }
}

/// F13: a mapped page is verified once per process by default, so damage that
/// appears while the file is open (another program writes it, the kernel re-reads
/// bad media) goes unseen until the next open. `verify_every_read` closes that.
#[test]
fn f13_verify_every_read_catches_damage_that_appears_while_open() {
    use std::os::unix::fs::FileExt;
    for verify_every_read in [false, true] {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let options = PagerOptions {
            verify_every_read,
            ..PagerOptions::default()
        };
        let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), options));
        let id = write(&pager, 9);
        ok(pager.commit(MetaUpdate {
            checkpoint_seq: 1,
            root: Some(id),
            ..Default::default()
        }));
        let view = ok(pager.view());
        assert!(view.page(id).is_ok(), "first read verifies");
        // Someone else writes one byte of that page behind the pager's back.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path().join("data.aedb"))
            .unwrap_or_else(|e| panic!("{e}"));
        let offset = id.0 * u64::from(pager.page_size()) + 100;
        file.write_all_at(&[0x55], offset)
            .unwrap_or_else(|e| panic!("{e}"));
        let again = view.page(id);
        if verify_every_read {
            assert!(
                matches!(again, Err(PagerError::Corruption(_))),
                "damage after the first read: {:?}",
                again.map(|p| p.bytes()[100])
            );
        } else {
            // The documented limit: the verified bit is trusted.
            assert_eq!(again.map(|p| p.bytes()[100]).ok(), Some(0x55));
        }
    }
}

/// Pager invariant 9: free pages at the end of the file are given back. The
/// meta that frees them records the shorter count at once; the file is cut
/// once neither durable meta needs the length; a reopen reads it as it was.
#[test]
fn a_free_tail_is_truncated_once_no_durable_meta_needs_it() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    let file_len = || {
        std::fs::metadata(tmp.path().join(aedb_pager::DATA_FILE_NAME))
            .unwrap_or_else(|e| panic!("{e}"))
            .len()
    };
    let root = write(&pager, 1);
    let tail: Vec<PageId> = (0..200)
        .map(|i| write(&pager, (i % 200) as u8 + 2))
        .collect();
    ok(pager.commit(MetaUpdate {
        root: Some(root),
        ..Default::default()
    }));
    let long = file_len();
    let page = u64::from(pager.page_size());
    assert!(long >= 200 * page, "{long}");
    for id in &tail {
        ok(pager.retire(*id, 1));
    }
    pager.release_readers_below(u64::MAX);
    // Retired from a durable state: free after two more metas; then the count
    // drops, and the file follows one meta later (the older meta still
    // counted the tail).
    let mut lens = Vec::new();
    for seq in 0..6 {
        ok(pager.commit(MetaUpdate {
            checkpoint_seq: seq,
            root: Some(root),
            ..Default::default()
        }));
        lens.push((pager.meta().page_count, file_len()));
    }
    let (count, len) = *lens.last().unwrap_or_else(|| unreachable!());
    assert!(count < 10, "the meta still counts the freed tail: {lens:?}");
    assert!(
        len <= 10 * page,
        "the file was not cut: {lens:?} (was {long})"
    );
    assert!(
        pager.account([root]).is_empty(),
        "{:?}",
        pager.account([root])
    );
    // Pages allocated after the cut grow the file again and read back.
    let again = write(&pager, 77);
    ok(pager.commit(MetaUpdate {
        checkpoint_seq: 9,
        root: Some(again),
        ..Default::default()
    }));
    drop(pager);
    let (pager, _) = ok(Pager::open(&RealFs, tmp.path(), PagerOptions::default()));
    let view = ok(pager.view());
    assert!(ok(view.page(again)).payload().iter().all(|&b| b == 77));
    assert!(
        pager.account([root, again]).is_empty(),
        "{:?}",
        pager.account([root, again])
    );
}
