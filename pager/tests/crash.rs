//! The pager's part of RELIABILITY G1: random sequences of (write pages, meta
//! commit) with a crash injected at every persistence call, each crash tried with
//! all unsynced state lost, all kept, and a seeded random keep/drop/tear. After
//! reopening, the state must be exactly the last commit that returned Ok, or the
//! one in flight when the crash hit, every page it reaches must verify, and page
//! accounting must be exact. The sim's G3 oracle is on throughout.

mod common;

use aedb_pager::sim::{FaultPlan, ImageMode, SimFs, test_seed};
use common::*;

struct Tally {
    crash_points: u64,
    recoveries: u64,
}

fn crash_matrix(seed: u64, page_size: u32, commits: u64, tally: &mut Tally) {
    // A clean run counts the persistence calls.
    let clean = SimFs::new(seed);
    register_reachability(&clean);
    let out = run_workload(&clean, seed, page_size, commits);
    assert!(
        out.error.is_none(),
        "seed {seed}: clean run failed: {:?}",
        out.error
    );
    let calls = clean.calls();
    for crash_at in 0..calls {
        tally.crash_points += 1;
        let fs = SimFs::new(seed);
        register_reachability(&fs);
        fs.set_plan(FaultPlan {
            crash_at: Some(crash_at),
            ..FaultPlan::default()
        });
        let out = run_workload(&fs, seed, page_size, commits);
        assert!(
            fs.crashed(),
            "seed {seed}: crash at call {crash_at} never happened"
        );
        drop(out.pager);
        let last = out.committed.last().cloned().unwrap_or_default();
        for (i, mode) in [
            ImageMode::LoseAll,
            ImageMode::KeepAll,
            ImageMode::Random(seed ^ crash_at.wrapping_mul(0x9e37_79b9)),
        ]
        .into_iter()
        .enumerate()
        {
            tally.recoveries += 1;
            let image = fs.crash_image(mode);
            let ctx = format!(
                "seed {seed}, page size {page_size}, crash at call {crash_at}, image {i} ({mode:?})"
            );
            let pager =
                open(&image, page_size).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got =
                read_state(&pager).unwrap_or_else(|e| panic!("{ctx}: recovery check failed: {e}"));
            let ok = got == last || out.in_flight.as_ref().is_some_and(|f| *f == got);
            assert!(
                ok,
                "{ctx}: recovered seq {} but last committed is seq {} (in flight: {:?})",
                got.seq,
                last.seq,
                out.in_flight.as_ref().map(|s| s.seq)
            );
            // The recovered database keeps working: one more commit, then re-check.
            drop(pager);
            let more = run_workload(&image, seed.wrapping_add(1), page_size, 2);
            assert!(
                more.error.is_none(),
                "{ctx}: commit after recovery failed: {:?}",
                more.error
            );
            let pager = more.pager.unwrap_or_else(|| unreachable!());
            read_state(&pager)
                .unwrap_or_else(|e| panic!("{ctx}: check after further commits failed: {e}"));
            assert!(
                image.violations().is_empty(),
                "{ctx}: {:?}",
                image.violations()
            );
        }
        assert!(
            fs.violations().is_empty(),
            "seed {seed}: {:?}",
            fs.violations()
        );
    }
}

#[test]
fn every_crash_point_recovers_to_a_committed_state() {
    let base = test_seed("pager crash matrix", 0x5eed_0001);
    let mut tally = Tally {
        crash_points: 0,
        recoveries: 0,
    };
    let started = std::time::Instant::now();
    for i in 0..12u64 {
        let page_size = if i % 3 == 2 { 65536 } else { 4096 };
        let commits = if page_size == 65536 { 10 } else { 24 };
        crash_matrix(base.wrapping_add(i), page_size, commits, &mut tally);
    }
    println!(
        "{} crash points, {} recoveries in {:.1?} ({:.0} recoveries/s; unsynced directory \
         entries lost at each crash)",
        tally.crash_points,
        tally.recoveries,
        started.elapsed(),
        tally.recoveries as f64 / started.elapsed().as_secs_f64()
    );
    assert!(
        tally.crash_points >= 1000,
        "only {} crash points",
        tally.crash_points
    );
}

/// F3: a database created in a directory that did not exist yet. `create_dir_all`
/// made the directories, but nothing synced their entries in their parents, so a
/// power loss right after a Durable commit could take the whole directory, commit
/// included. The sim now loses unsynced directory entries; the open syncs them.
#[test]
fn f3_new_database_directory_survives_crash() {
    let fs = SimFs::new(test_seed("f3 new directory", 3));
    let dir = std::path::Path::new("/srv/data/db");
    let options = aedb_pager::PagerOptions::default();
    let (pager, report) =
        aedb_pager::Pager::open(&fs, dir, options.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.created);
    let id = pager.allocate().unwrap_or_else(|e| panic!("{e}"));
    let mut buf = pager.page_buffer();
    buf[aedb_pager::PAGE_HEADER_LEN..].fill(0xd5);
    pager
        .write_page(id, aedb_pager::PageKind(9), 1, &mut buf)
        .unwrap_or_else(|e| panic!("{e}"));
    let update = aedb_pager::MetaUpdate {
        checkpoint_seq: 7,
        root: Some(id),
        ..Default::default()
    };
    pager.commit(update).unwrap_or_else(|e| panic!("{e}"));
    drop(pager);
    // Power loss now: every unsynced directory entry is gone.
    let image = fs.crash_image(ImageMode::LoseAll);
    let reopen = aedb_pager::PagerOptions {
        create: false,
        ..options
    };
    let (pager, report) = aedb_pager::Pager::open(&image, dir, reopen)
        .unwrap_or_else(|e| panic!("the Durable commit's database is gone after the crash: {e}"));
    assert_eq!(report.meta.checkpoint_seq, 7);
    assert_eq!(pager.meta().root, Some(id.0));
}
