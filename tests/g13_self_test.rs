//! RELIABILITY G13: the harness has teeth. Each planted bug must make the crash
//! matrix (G1), the sync-failure loop (G8) or the WAL-damage tests (G4) fail. Run with
//! `cargo test --features mutation-testing --test g13_self_test -- --ignored --nocapture`.
#![cfg(feature = "mutation-testing")]

mod common;
// The WAL-damage regression tests, called directly with a bug planted.
#[path = "storage_wal_damage.rs"]
mod wal_damage;

use aedb::pager::mutation::{Mutation, plant};

fn fails(f: impl FnOnce() + std::panic::UnwindSafe) -> bool {
    std::panic::catch_unwind(f).is_err()
}

#[test]
#[ignore = "self-test of the harness: plants bugs one at a time"]
fn every_planted_bug_is_caught() {
    std::panic::set_hook(Box::new(|_| {})); // the expected failures are noise
    let bugs = [
        Mutation::SkipSyncBeforeMeta,
        Mutation::SkipDirSyncAfterSegmentCreate,
        Mutation::AcceptBadCrc,
        Mutation::ReuseBeforeCheckpoint,
        Mutation::RetryFailedSync,
        Mutation::TornHeaderWithFrames,
        Mutation::TruncateDamageBeforeValidFrames,
        Mutation::AnswerDurableBeforeSync,
    ];
    let mut missed = Vec::new();
    for bug in bugs {
        plant(Some(bug));
        let g1 = fails(|| {
            let mut points = 0;
            for seed in 0..6u64 {
                common::matrix(
                    0x613 + seed,
                    if seed == 5 { 65536 } else { 4096 },
                    25,
                    &mut points,
                );
            }
        });
        let g8 = !g1
            && fails(|| {
                common::sync_failure_matrix(0x618, 12);
            });
        let g4 = !g1
            && !g8
            && fails(|| {
                wal_damage::f1_segment_header_flip_is_refused();
                wal_damage::f5_damaged_frame_before_valid_frames_is_refused();
                wal_damage::f5_damaged_final_unvouched_frame_is_cut_and_reported();
            });
        plant(None);
        let by = if g1 {
            "G1 crash matrix"
        } else if g8 {
            "G8 sync-failure loop"
        } else if g4 {
            "G4 WAL damage tests"
        } else {
            "NOTHING"
        };
        println!("{bug:?}: caught by {by}");
        if !g1 && !g8 && !g4 {
            missed.push(bug);
        }
    }
    let _ = std::panic::take_hook();
    assert!(missed.is_empty(), "planted bugs not caught: {missed:?}");
}
