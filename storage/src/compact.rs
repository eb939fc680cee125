//! Compaction (`Database::compact`, redb's `compact`): moves live pages off the
//! end of the page file so the checkpoints that follow can cut it (pager
//! invariant 9). Online: each round is one write transaction (commits wait for
//! it, readers do not), and nothing logical changes.
//!
//! First every tree is rebuilt at full fill (one commit per tree:
//! `bulk_load` from its entries into the lowest free ids, the old pages retired
//! as a drop retires them), since deletes leave pages partly empty and moving
//! them would keep them so. Then relocation rounds. A round: two checkpoints (pages freed before are reusable once no reader
//! and no durable meta can reach them), then, with L live pages, every page at
//! or above `L + slack` is copied with the path above it into the lowest free
//! ids (`WriteTxn::relocate_above`) in a commit that logs no effect (its replay
//! applies nothing and reads the same). Below `L + slack` there are at least
//! `slack` more free ids than high pages, so the copies land below it. Rounds
//! repeat until no page is high, or the file stops shrinking (a long-lived
//! reader can pin what a round freed).
#![forbid(unsafe_code)]

use crate::database::Database;
use crate::error::Result;
use crate::snapshot::Finality;

/// At most this many rounds.
const MAX_ROUNDS: u32 = 64;

/// Pages one round may hold copied in memory.
const ROUND_PAGES: usize = 16_384;

/// What [`Database::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// Trees rebuilt at full fill (one commit each).
    pub trees_rebuilt: u32,
    /// Relocation commits made.
    pub rounds: u32,
    /// The page file's length before and after.
    pub bytes_before: u64,
    /// The page file's length in bytes after the final checkpoints cut its free
    /// tail.
    pub bytes_after: u64,
    /// Every live page now sits below the target (false when a reader or the
    /// round limit stopped it early).
    pub complete: bool,
}

impl Database {
    /// Moves live pages to the front of the page file and cuts the free tail
    /// (ending with the checkpoints that cut it). Retained snapshots but the newest
    /// are let go first (they would pin every page moved): `AtSeq` reads of
    /// older seqs are unavailable afterwards. Open read transactions keep
    /// their pages; what they pin stays until they end.
    pub fn compact(&self) -> Result<CompactReport> {
        let engine = &self.engine;
        let bytes_before = engine.pager.file_len();
        let mut report = CompactReport {
            trees_rebuilt: 0,
            rounds: 0,
            bytes_before,
            bytes_after: bytes_before,
            complete: false,
        };
        let names = self.begin_read()?.list_trees()?;
        for name in names {
            // What the previous rebuild freed is reusable by this one.
            self.free_what_moved()?;
            let mut txn = self.begin_write()?;
            if txn.rebuild_tree(&name)? {
                txn.commit(Finality::Visible)?;
                report.trees_rebuilt += 1;
            } else {
                txn.abort();
            }
        }
        let mut last_count = u64::MAX;
        let mut stalled = 0;
        while report.rounds < MAX_ROUNDS {
            self.free_what_moved()?;
            let count = engine.pager.page_count();
            let live = count.saturating_sub(engine.pager.ready_page_count());
            // Room for the copies of the low pages above a high one (branches:
            // far fewer than live / 16 at any page size) and the free list.
            let target = live + live / 16 + 8;
            if target >= count {
                report.complete = true;
                break;
            }
            // A round that left the high-water mark where it was (readers
            // pinning what moved) is allowed once; twice in a row ends it.
            stalled = if count >= last_count { stalled + 1 } else { 0 };
            if stalled >= 2 {
                break;
            }
            last_count = count;
            let mut txn = self.begin_write()?;
            txn.relocate_above(target, ROUND_PAGES)?;
            txn.commit(Finality::Visible)?;
            report.rounds += 1;
        }
        engine.readers.release_retained();
        // The tail the last round freed: free after two metas, cut at the next.
        for _ in 0..3 {
            self.checkpoint_now()?;
        }
        report.bytes_after = engine.pager.file_len();
        tracing::info!(
            trees = report.trees_rebuilt,
            rounds = report.rounds,
            before = report.bytes_before,
            after = report.bytes_after,
            complete = report.complete,
            "aedb compaction"
        );
        Ok(report)
    }

    /// Makes the pages the last compaction commit retired reusable: retained
    /// snapshots let go, then two checkpoints (the two-meta rule).
    fn free_what_moved(&self) -> Result<()> {
        self.engine.readers.release_retained();
        self.checkpoint_now()?;
        self.checkpoint_now()
    }
}
