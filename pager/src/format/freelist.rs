//! Free-list pages: the persisted set of free page ids, as runs.
//!
//! ```text
//! 0         24          32        36        40
//! +---------+-----------+---------+---------+--------------------------------+
//! | header  | next page | n runs  | zero    | n x run (start u64, retired    |
//! | kind 1  | (0 = end) |  u32    |  u32    |   generation u64, length u32)  |
//! +---------+-----------+---------+---------+--------------------------------+
//! ```
//!
//! A run says pages `start..start+length` are free and were retired by the meta
//! commit of `retired generation` (0: never reachable from any durable meta).

use crate::format::page::PAGE_HEADER_LEN;
use crate::format::{Fault, read_u32, read_u64, write_u32, write_u64};

/// Offset of the next free-list page id (u64; 0 ends the chain).
pub const NEXT_AT: usize = PAGE_HEADER_LEN;
/// Offset of the number of runs on this page (u32).
pub const COUNT_AT: usize = NEXT_AT + 8;
/// Offset of a reserved u32 that must be zero (rule F2).
pub const RESERVED_AT: usize = COUNT_AT + 4;
/// Offset of the first run; runs follow back to back.
pub const RUNS_AT: usize = RESERVED_AT + 4;
/// Bytes per encoded run: start u64, retired generation u64, length u32.
pub const RUN_LEN: usize = 8 + 8 + 4;

/// A run of free pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeRun {
    /// First page id of the run (2 or more, rule F3).
    pub start: u64,
    /// Number of pages in the run; never 0 on disk (rule F3).
    pub len: u32,
    /// Generation of the meta commit that freed the run (0: no durable meta
    /// ever reached it); decides when its pages may be reused.
    pub retired_generation: u64,
}

/// How many runs fit in one free-list page.
pub fn runs_per_page(page_size: u32) -> usize {
    (page_size as usize - RUNS_AT) / RUN_LEN
}

/// Writes `runs` (at most [`runs_per_page`]) and the `next` link into a page buffer
/// whose header the pager seals afterwards.
pub fn encode(page: &mut [u8], next: u64, runs: &[FreeRun]) {
    write_u64(page, NEXT_AT, next);
    write_u32(page, COUNT_AT, runs.len() as u32);
    write_u32(page, RESERVED_AT, 0);
    let mut at = RUNS_AT;
    for run in runs {
        write_u64(page, at, run.start);
        write_u64(page, at + 8, run.retired_generation);
        write_u32(page, at + 16, run.len);
        at += RUN_LEN;
    }
    page[at..].fill(0);
}

/// Decodes one free-list page whose header already verified. Checks rule F2 (count
/// fits, reserved zero); range checks against the meta are the caller's (F3).
pub fn decode(page: &[u8]) -> Result<(u64, Vec<FreeRun>), Fault> {
    let count = read_u32(page, COUNT_AT) as usize;
    let max = (page.len() - RUNS_AT) / RUN_LEN;
    if count > max {
        return Err(Fault::new(
            "F2",
            COUNT_AT,
            format!("at most {max} runs"),
            count.to_string(),
        ));
    }
    if read_u32(page, RESERVED_AT) != 0 {
        let found = read_u32(page, RESERVED_AT).to_string();
        return Err(Fault::new("F2", RESERVED_AT, "zero", found));
    }
    let runs = (0..count)
        .map(|i| {
            let at = RUNS_AT + i * RUN_LEN;
            FreeRun {
                start: read_u64(page, at),
                retired_generation: read_u64(page, at + 8),
                len: read_u32(page, at + 16),
            }
        })
        .collect();
    Ok((read_u64(page, NEXT_AT), runs))
}
