//! RELIABILITY G4 for the pager's pages, and G5 at the pager level: every single-bit
//! flip of both meta pages, a data page, a root page and a free-list page is detected
//! and named, never a panic, never wrong bytes. A damaged newest meta falls back to
//! the older one, whose pages are still intact (the two-generation reuse rule).

mod common;

use aedb_pager::sim::{SimFs, test_seed};
use aedb_pager::vfs::RealFs;
use aedb_pager::{PageId, Pager, PagerError, PagerOptions};
use common::*;

const PS: u32 = 4096;

/// A small database with a free list: returns the fs, the last two states and the
/// current meta slot.
fn build(seed: u64) -> (SimFs, State, State) {
    let fs = SimFs::new(seed);
    register_reachability(&fs);
    let out = run_workload(&fs, seed, PS, 6);
    assert!(out.error.is_none(), "{:?}", out.error);
    let n = out.committed.len();
    let pager = out.pager.unwrap_or_else(|| unreachable!());
    assert!(
        !pager.free_list_pages().is_empty(),
        "workload should leave free pages"
    );
    drop(pager);
    (
        fs,
        out.committed[n - 2].clone(),
        out.committed[n - 1].clone(),
    )
}

fn corruption_page(e: &PagerError) -> Option<u64> {
    e.as_corruption().and_then(|d| d.page).map(|p| p.0)
}

#[test]
fn every_meta_bit_flip_is_detected_and_falls_back_safely() {
    let seed = test_seed("meta bit flips", 11);
    let (fs, previous, last) = build(seed);
    let path = data_path();
    let current_slot = Pager::open(&fs, &dir(), PagerOptions::default())
        .map(|(_, r)| r.slot)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut flips = 0u64;
    for slot in 0..2u64 {
        for bit in 0..u64::from(PS) * 8 {
            let byte = slot * u64::from(PS) + bit / 8;
            fs.flip_bit(&path, byte, (bit % 8) as u8);
            let (pager, report) =
                Pager::open(&fs, &dir(), PagerOptions::default()).unwrap_or_else(|e| {
                    panic!(
                        "slot {slot} bit {bit}: open failed although the other meta is intact: {e}"
                    )
                });
            let ignored = report
                .ignored
                .as_ref()
                .unwrap_or_else(|| panic!("slot {slot} bit {bit}: flip not detected"));
            assert_eq!(
                ignored.page,
                Some(PageId(slot)),
                "slot {slot} bit {bit}: wrong page named"
            );
            assert_ne!(report.slot, slot);
            let got = read_state(&pager).unwrap_or_else(|e| {
                panic!("slot {slot} bit {bit}: fallback state fails its check: {e}")
            });
            let want = if slot == current_slot {
                &previous
            } else {
                &last
            };
            assert_eq!(&got, want, "slot {slot} bit {bit}: wrong state");
            drop(pager);
            fs.flip_bit(&path, byte, (bit % 8) as u8);
            flips += 1;
        }
    }
    println!("{flips} meta bit flips detected");
    // Both metas damaged: a Corruption error, not a guess.
    fs.flip_bit(&path, 100, 0);
    fs.flip_bit(&path, u64::from(PS) + 100, 0);
    let err = Pager::open(&fs, &dir(), PagerOptions::default())
        .err()
        .unwrap_or_else(|| panic!("two bad metas opened"));
    assert!(err.as_corruption().is_some(), "{err}");
}

/// Flips every bit of page `id`, reopening each time; every read must fail naming it.
fn flip_every_bit_sim(fs: &SimFs, id: u64, at_open: bool) -> u64 {
    let path = data_path();
    let mut flips = 0;
    for bit in 0..u64::from(PS) * 8 {
        let byte = id * u64::from(PS) + bit / 8;
        fs.flip_bit(&path, byte, (bit % 8) as u8);
        let result = Pager::open(&fs.clone(), &dir(), PagerOptions::default());
        let err = match (result, at_open) {
            (Err(e), true) => e,
            (Ok((pager, _)), false) => {
                match pager.view().and_then(|v| v.page(PageId(id)).map(|_| ())) {
                    Err(e) => e,
                    Ok(()) => panic!("page {id} bit {bit}: flip not detected"),
                }
            }
            (Ok(_), true) => panic!("page {id} bit {bit}: open accepted a damaged free list"),
            (Err(e), false) => panic!("page {id} bit {bit}: open failed: {e}"),
        };
        assert_eq!(
            corruption_page(&err),
            Some(id),
            "page {id} bit {bit}: {err}"
        );
        fs.flip_bit(&path, byte, (bit % 8) as u8);
        flips += 1;
    }
    flips
}

#[test]
fn every_bit_flip_of_data_root_and_free_list_pages_is_detected() {
    let seed = test_seed("page bit flips", 12);
    let (fs, _, last) = build(seed);
    let (pager, _) =
        Pager::open(&fs, &dir(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let root = pager.meta().root.unwrap_or_else(|| unreachable!());
    let data = *last.live.keys().next().unwrap_or_else(|| unreachable!());
    let free_list = pager.free_list_pages()[0].0;
    drop(pager);
    let mut flips = 0;
    flips += flip_every_bit_sim(&fs, data, false);
    flips += flip_every_bit_sim(&fs, root, false);
    flips += flip_every_bit_sim(&fs, free_list, true);
    println!(
        "{flips} page bit flips detected (data page {data}, root page {root}, free-list page {free_list})"
    );
}

#[test]
fn every_bit_flip_is_detected_through_the_mmap_path() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path();
    let (pager, _) =
        Pager::open(&RealFs, dir, PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let id = pager.allocate().unwrap_or_else(|e| panic!("{e}"));
    let mut buf = pager.page_buffer();
    fill(5, &mut buf[aedb_pager::PAGE_HEADER_LEN..]);
    pager
        .write_page(id, DATA, OWNER, &mut buf)
        .unwrap_or_else(|e| panic!("{e}"));
    pager
        .commit(aedb_pager::MetaUpdate {
            root: Some(id),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    drop(pager);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(aedb_pager::DATA_FILE_NAME))
        .unwrap_or_else(|e| panic!("{e}"));
    let offset = id.0 * u64::from(PS);
    let mut flips = 0;
    for bit in 0..u64::from(PS) * 8 {
        let at = offset + bit / 8;
        let mut byte = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut byte, at)
            .unwrap_or_else(|e| panic!("{e}"));
        byte[0] ^= 1 << (bit % 8);
        std::os::unix::fs::FileExt::write_all_at(&file, &byte, at)
            .unwrap_or_else(|e| panic!("{e}"));
        let (pager, _) =
            Pager::open(&RealFs, dir, PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let view = pager.view().unwrap_or_else(|e| panic!("{e}"));
        let err = view
            .page(id)
            .err()
            .unwrap_or_else(|| panic!("bit {bit}: flip not detected through mmap"));
        assert_eq!(corruption_page(&err), Some(id.0), "bit {bit}: {err}");
        drop(pager);
        byte[0] ^= 1 << (bit % 8);
        std::os::unix::fs::FileExt::write_all_at(&file, &byte, at)
            .unwrap_or_else(|e| panic!("{e}"));
        flips += 1;
    }
    println!("{flips} bit flips detected through the mmap path");
}

#[test]
fn random_multi_byte_corruption_never_returns_wrong_data() {
    let seed = test_seed("random corruption", 13);
    let (fs, previous, last) = build(seed);
    let path = data_path();
    let pristine = fs.contents(&path).unwrap_or_else(|| unreachable!());
    let pages = pristine.len() as u64 / u64::from(PS);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut detected, mut harmless) = (0, 0);
    for _ in 0..10_000 {
        let page = rng.u64(0..pages);
        let len = rng.usize(1..64);
        let at = page * u64::from(PS) + rng.u64(0..u64::from(PS) - len as u64);
        let mut junk = vec![0u8; len];
        rng.fill(&mut junk);
        fs.overwrite(&path, at, &junk);
        match Pager::open(&fs, &dir(), PagerOptions::default()) {
            Err(e) => {
                assert!(
                    e.as_corruption().is_some(),
                    "corruption at {at}: non-corruption error {e}"
                );
                detected += 1;
            }
            Ok((pager, report)) => match read_state(&pager) {
                Err(_) => detected += 1,
                Ok(got) => {
                    assert!(
                        got == last || (got == previous && report.ignored.is_some()),
                        "corruption at {at}: wrong state returned"
                    );
                    if report.ignored.is_some() {
                        detected += 1;
                    } else {
                        harmless += 1;
                    }
                }
            },
        }
        fs.overwrite(&path, at, &pristine[at as usize..at as usize + len]);
    }
    println!("10000 random corruptions: {detected} detected, {harmless} hit unreferenced pages");
}
