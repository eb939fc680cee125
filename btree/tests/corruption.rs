//! Damaged tree pages: G4 for branch, leaf and overflow pages (every single-bit
//! flip is detected on read or by the checker, never served), and crc-valid garbage
//! (resealed random damage, arbitrary pages) that the decoders must reject without
//! panicking (G12-F2 corpus replay included).

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use aedb_btree::fuzzing::page_decode;
use aedb_btree::node::{BRANCH, LEAF, OVERFLOW};
use aedb_btree::pager::format::page::{header_unchecked, seal};
use aedb_btree::pager::sim::{SimFs, test_seed};
use aedb_btree::pager::{DATA_FILE_NAME, MetaUpdate, PageId, Pager, PagerOptions};
use aedb_btree::{Tree, TreeConfig, TreeRoot, bulk_load, check};
use common::{OWNER, value};

const PS: u32 = 4096;

/// A two-level tree with overflow values on a simulated file.
fn build(seed: u64) -> (SimFs, TreeRoot, BTreeMap<Vec<u8>, Vec<u8>>) {
    let fs = SimFs::new(seed);
    let (pager, _) = Pager::open(&fs, Path::new("/db"), PagerOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let model: BTreeMap<Vec<u8>, Vec<u8>> = (0..400u32)
        .map(|i| {
            (
                format!("key{i:05}").into_bytes(),
                value(if i % 50 == 7 { 9000 } else { 40 }, i as u8),
            )
        })
        .collect();
    let root = bulk_load(&pager, OWNER, TreeConfig::default(), model.iter())
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| unreachable!());
    pager
        .commit(MetaUpdate {
            root: Some(root.page),
            ..MetaUpdate::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    (fs, root, model)
}

fn open(fs: &SimFs) -> Pager {
    Pager::open(fs, Path::new("/db"), PagerOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// Reads everything; Ok only if every entry matches the model.
fn read_all(
    pager: &Pager,
    root: TreeRoot,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<(), String> {
    let view = pager.view().map_err(|e| e.to_string())?;
    let tree = Tree::new(&view, Some(root), OWNER);
    let mut n = 0;
    for entry in tree.iter().map_err(|e| e.to_string())? {
        let (k, v) = entry.map_err(|e| e.to_string())?;
        if model.get(k.as_ref()).map(Vec::as_slice) != Some(v.as_ref()) {
            return Err(format!("WRONG DATA served for key {k:?}"));
        }
        n += 1;
    }
    if n != model.len() {
        return Err(format!(
            "WRONG DATA: {n} entries instead of {}",
            model.len()
        ));
    }
    Ok(())
}

#[test]
fn every_bit_flip_of_branch_leaf_and_overflow_pages_is_detected() {
    let seed = test_seed("tree page bit flips", 61);
    let (fs, root, model) = build(seed);
    let pager = open(&fs);
    let view = pager.view().unwrap_or_else(|e| panic!("{e}"));
    let report = check(&view, Some(root), OWNER);
    assert!(report.is_ok() && report.depth == 2, "{report:?}");
    let kind_of = |id: PageId| {
        view.page(id)
            .map(|p| p.kind())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let pick = |kind| {
        report
            .pages
            .iter()
            .copied()
            .find(|id| kind_of(*id) == kind)
            .unwrap_or_else(|| panic!("no page of kind {kind:?}"))
    };
    let targets = [
        ("branch", pick(BRANCH)),
        ("leaf", pick(LEAF)),
        ("overflow", pick(OVERFLOW)),
    ];
    drop(view);
    let path = Path::new("/db").join(DATA_FILE_NAME);
    for (name, id) in targets {
        for bit in 0..u64::from(PS) * 8 {
            let byte = id.0 * u64::from(PS) + bit / 8;
            fs.flip_bit(&path, byte, (bit % 8) as u8);
            // The simulated file is read without a mapping, so every read verifies.
            let read = read_all(&pager, root, &model);
            assert!(
                read.as_ref().is_err_and(|e| !e.contains("WRONG DATA")),
                "{name} page {} bit {bit}: {read:?}",
                id.0
            );
            let view = pager.view().unwrap_or_else(|e| panic!("{e}"));
            let report = check(&view, Some(root), OWNER);
            assert!(
                report
                    .problems
                    .iter()
                    .any(|p| p.contains(&format!("page {}", id.0))),
                "{name} page {} bit {bit}: checker missed it",
                id.0
            );
            fs.flip_bit(&path, byte, (bit % 8) as u8);
        }
        println!("{name} page {}: {} bit flips detected", id.0, PS * 8);
    }
    read_all(&pager, root, &model).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn resealed_random_damage_is_rejected_without_panics() {
    let seed = test_seed("resealed tree page damage", 62);
    let (fs, root, model) = build(seed);
    let pager = open(&fs);
    let pages = check(
        &pager.view().unwrap_or_else(|e| panic!("{e}")),
        Some(root),
        OWNER,
    )
    .pages;
    let path = Path::new("/db").join(DATA_FILE_NAME);
    let pristine = fs.contents(&path).unwrap_or_else(|| unreachable!());
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut caught, mut harmless, mut changed) = (0, 0, 0);
    for _ in 0..3000 {
        let id = pages[rng.usize(0..pages.len())];
        let start = (id.0 * u64::from(PS)) as usize;
        let mut page = pristine[start..start + PS as usize].to_vec();
        for _ in 0..rng.usize(1..6) {
            let at = rng.usize(aedb_btree::pager::PAGE_HEADER_LEN..PS as usize);
            page[at] = match rng.u8(0..3) {
                0 => rng.u8(..),
                1 => 0xff,
                _ => 0,
            };
        }
        let (_, h) = header_unchecked(&page);
        seal(&mut page, id, h.kind, h.generation, h.owner);
        fs.overwrite(&path, start as u64, &page);
        // A resealed page carries a valid checksum, so changed value bytes are, to
        // any reader, the page's contents; what must hold is that structural damage
        // is an error and nothing panics or loops.
        match read_all(&pager, root, &model) {
            Ok(()) => harmless += 1,
            Err(e) if e.contains("WRONG DATA") => changed += 1,
            Err(_) => caught += 1,
        }
        let _ = check(
            &pager.view().unwrap_or_else(|e| panic!("{e}")),
            Some(root),
            OWNER,
        );
        let view = pager.view().unwrap_or_else(|e| panic!("{e}"));
        let tree = Tree::new(&view, Some(root), OWNER);
        let _ = tree.get(b"key00123");
        let _ = tree.count_range(
            Bound::Included(&b"key001"[..]),
            Bound::Excluded(&b"key003"[..]),
        );
        let _ = tree.nth(200);
        fs.overwrite(&path, start as u64, &pristine[start..start + PS as usize]);
    }
    println!(
        "3000 resealed damages: {caught} rejected as corrupt, {changed} read as changed contents, {harmless} in unused bytes"
    );
}

#[test]
fn arbitrary_pages_never_panic_the_decoders() {
    let seed = test_seed("page_decode mutations", 63);
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..3000 {
        let mut data = vec![0u8; rng.usize(1..300)];
        rng.fill(&mut data);
        // Plausible headers make the decoders go deeper.
        if data.len() > 12 && rng.bool() {
            data[1..3].copy_from_slice(&(rng.u16(0..8)).to_le_bytes());
            data[3..5].copy_from_slice(&[0, 0]);
            data[5..9].copy_from_slice(&(rng.u32(30..4097)).to_le_bytes());
            data[9..13].copy_from_slice(&[0; 4]);
        }
        page_decode(&data);
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/page_decode");
    let mut n = 0;
    for entry in std::fs::read_dir(&corpus).unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
    {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        page_decode(&std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")));
        n += 1;
    }
    println!("{n} page_decode corpus inputs replayed");
    assert!(n > 0);
}
