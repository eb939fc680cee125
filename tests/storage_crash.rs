//! RELIABILITY G1 for the storage engine: seeded workloads (puts, deletes, tree
//! create/drop, overflow values, checkpoints, WAL rotation, Visible and Durable
//! commits, 4 KiB and 64 KiB pages) crashed at every persistence call, each crash
//! tried with three images. After recovery: the database opens, every tree passes
//! the checker, page accounting is exact, and the state equals the model after some
//! commit s with D <= s <= V (every commit all-or-nothing).

mod common;

use aedb::pager::sim::{FaultPlan, ImageMode, SimFs, test_seed};
use common::*;

fn matrix(seed: u64, page_size: u32, commits: u64, points: &mut u64) {
    let clean = SimFs::new(seed);
    let out = run(&clean, seed, page_size, commits);
    assert!(out.error.is_none(), "seed {seed}: clean run failed: {:?}", out.error);
    let calls = clean.calls();
    for crash_at in 0..calls {
        *points += 1;
        let fs = SimFs::new(seed);
        fs.set_plan(FaultPlan { crash_at: Some(crash_at), ..FaultPlan::default() });
        let out = run(&fs, seed, page_size, commits);
        assert!(fs.crashed(), "seed {seed}: no crash at call {crash_at}");
        let images = [ImageMode::LoseAll, ImageMode::KeepAll, ImageMode::Random(seed ^ (crash_at << 8))];
        for (i, mode) in images.into_iter().enumerate() {
            let image = fs.crash_image(mode);
            let ctx = format!("seed {seed}, page size {page_size}, crash at call {crash_at}, image {i} ({mode:?})");
            let db = open(&image, page_size).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got = read_model(&db).unwrap_or_else(|e| panic!("{ctx}: recovery check failed: {e}"));
            let seq = db.visible_seq();
            let candidates: Vec<&(u64, Model)> = out.states.iter().chain(out.in_flight.iter()).filter(|(s, _)| *s >= out.durable).collect();
            let ok = candidates.iter().any(|(s, m)| *s == seq && normalize(m) == got);
            assert!(
                ok,
                "{ctx}: recovered seq {seq} does not match the model (durable {}, committed up to {:?}, in flight {:?})",
                out.durable,
                out.states.last().map(|(s, _)| *s),
                out.in_flight.as_ref().map(|(s, _)| *s)
            );
            drop(db);
            // The recovered database takes new commits, and they survive a reopen.
            let more = run(&image, seed.wrapping_add(7), page_size, 3);
            assert!(more.error.is_none(), "{ctx}: commits after recovery failed: {:?}", more.error);
            let db = open(&image, page_size).unwrap_or_else(|e| panic!("{ctx}: second reopen failed: {e}"));
            read_model(&db).unwrap_or_else(|e| panic!("{ctx}: check after further commits failed: {e}"));
            assert!(image.violations().is_empty(), "{ctx}: {:?}", image.violations());
        }
        assert!(fs.violations().is_empty(), "seed {seed}: {:?}", fs.violations());
    }
}

/// Runs one half of the workloads (the two halves run on the two CI cores).
/// `AEDB_CRASH_WORKLOADS` sets the total (default 68; the soak tier uses more).
fn half(which: u64) {
    let base = test_seed("storage crash matrix", 0x5707_0001);
    let workloads: u64 = std::env::var("AEDB_CRASH_WORKLOADS").ok().and_then(|s| s.parse().ok()).unwrap_or(68);
    let started = std::time::Instant::now();
    let mut points = 0;
    for i in (which..workloads).step_by(2) {
        let page_size = if i % 8 == 2 || i % 8 == 5 { 65536 } else { 4096 };
        matrix(base.wrapping_add(i), page_size, 25, &mut points);
    }
    println!("half {which}: {points} crash points, {} recoveries in {:.1?}", points * 3, started.elapsed());
}

#[test]
fn every_crash_point_recovers_a_committed_state_even_half() {
    half(0);
}

#[test]
fn every_crash_point_recovers_a_committed_state_odd_half() {
    half(1);
}
