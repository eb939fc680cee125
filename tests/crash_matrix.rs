//! RELIABILITY G1 for the storage engine, the README's `--test crash_matrix`:
//! seeded workloads (puts, deletes, tree create/drop, overflow values, large
//! commits, blocking and fuzzy checkpoints, compaction, WAL rotation, Visible and
//! Durable commits, 4 KiB and 64 KiB pages) crashed at every persistence call,
//! each crash tried with three images. `AEDB_CRASH_WORKLOADS` sets the size (68
//! at CI size; the soak tier uses 2,000). After recovery: the database opens, every tree passes
//! the checker, page accounting is exact, and the state equals the model after some
//! commit s with D <= s <= V (every commit all-or-nothing).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use aedb::pager::sim::test_seed;
use common::*;

/// Runs one half of the workloads (the two halves run on the two CI cores).
/// `AEDB_CRASH_WORKLOADS` sets the total (default 68; the soak tier uses more).
fn half(which: u64) {
    let base = test_seed("storage crash matrix", 0x5707_0001);
    let workloads: u64 = std::env::var("AEDB_CRASH_WORKLOADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(68);
    let started = std::time::Instant::now();
    let mut points = 0;
    for i in (which..workloads).step_by(2) {
        let page_size = if i % 8 == 2 || i % 8 == 5 {
            65536
        } else {
            4096
        };
        matrix(base.wrapping_add(i), page_size, 25, &mut points);
    }
    println!(
        "half {which}: {points} crash points, {} recoveries in {:.1?}",
        points * 3,
        started.elapsed()
    );
    // The halves run in parallel; whichever finishes second prints the total.
    let total = TOTAL.fetch_add(points, Ordering::SeqCst) + points;
    if HALVES_DONE.fetch_add(1, Ordering::SeqCst) == 1 {
        let spilled = SPILLED_PAGES.load(Ordering::Relaxed);
        println!(
            "{total} crash points, {} recoveries (both halves); {spilled} pages spilled",
            total * 3
        );
        assert!(spilled > 0 || workloads < 68, "no workload spilled a page");
        assert!(
            total >= 10_000 || workloads < 68,
            "only {total} crash points"
        );
    }
}

static TOTAL: AtomicU64 = AtomicU64::new(0);
static HALVES_DONE: AtomicU64 = AtomicU64::new(0);

#[test]
fn every_crash_point_recovers_a_committed_state_even_half() {
    half(0);
}

#[test]
fn every_crash_point_recovers_a_committed_state_odd_half() {
    half(1);
}
