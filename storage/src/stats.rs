//! Engine counters for operational metrics: atomics, updated where the work
//! happens (commit, WAL append, sync, durable wait, checkpoint) and read
//! without a lock, so reading them costs a commit nothing.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The live counters (one per engine).
#[derive(Debug)]
pub(crate) struct Stats {
    started: Instant,
    pub(crate) commits: AtomicU64,
    pub(crate) wal_appends: AtomicU64,
    pub(crate) wal_append_bytes: AtomicU64,
    pub(crate) wal_append_nanos: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) wal_sync_nanos: AtomicU64,
    pub(crate) durable_waits: AtomicU64,
    pub(crate) durable_wait_nanos: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) large_commits: AtomicU64,
    pub(crate) spilled_pages: AtomicU64,
    pub(crate) coalesced_batches: AtomicU64,
    pub(crate) coalesced_commits: AtomicU64,
    pub(crate) checkpoint_nanos: AtomicU64,
    pub(crate) last_checkpoint_nanos: AtomicU64,
    pub(crate) pages_written: AtomicU64,
    pub(crate) wal_bytes_since_checkpoint: AtomicU64,
    pub(crate) pages_since_checkpoint: AtomicU64,
    /// Nanoseconds after `started` at which the latest commit was published.
    pub(crate) last_publish_nanos: AtomicU64,
    pub(crate) open_nanos: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            commits: AtomicU64::new(0),
            wal_appends: AtomicU64::new(0),
            wal_append_bytes: AtomicU64::new(0),
            wal_append_nanos: AtomicU64::new(0),
            wal_syncs: AtomicU64::new(0),
            wal_sync_nanos: AtomicU64::new(0),
            durable_waits: AtomicU64::new(0),
            durable_wait_nanos: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            large_commits: AtomicU64::new(0),
            spilled_pages: AtomicU64::new(0),
            coalesced_batches: AtomicU64::new(0),
            coalesced_commits: AtomicU64::new(0),
            checkpoint_nanos: AtomicU64::new(0),
            last_checkpoint_nanos: AtomicU64::new(0),
            pages_written: AtomicU64::new(0),
            wal_bytes_since_checkpoint: AtomicU64::new(0),
            pages_since_checkpoint: AtomicU64::new(0),
            last_publish_nanos: AtomicU64::new(0),
            open_nanos: AtomicU64::new(0),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one timed operation: `count` += 1, `total` += its time.
    pub(crate) fn timed(count: &AtomicU64, total: &AtomicU64, since: Instant) {
        count.fetch_add(1, Ordering::Relaxed);
        total.fetch_add(nanos(since.elapsed()), Ordering::Relaxed);
    }

    pub(crate) fn published(&self) {
        let at = nanos(self.started.elapsed());
        self.last_publish_nanos.store(at, Ordering::Relaxed);
    }

    pub(crate) fn checkpointed(&self, since: Instant) {
        let took = nanos(since.elapsed());
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.checkpoint_nanos.fetch_add(took, Ordering::Relaxed);
        self.last_checkpoint_nanos.store(took, Ordering::Relaxed);
    }

    /// A checkpoint took its cut: what comes after it counts toward the next.
    pub(crate) fn checkpoint_cut(&self) {
        self.wal_bytes_since_checkpoint.store(0, Ordering::Relaxed);
        self.pages_since_checkpoint.store(0, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> EngineStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let publish = get(&self.last_publish_nanos);
        EngineStats {
            commits: get(&self.commits),
            wal_appends: get(&self.wal_appends),
            wal_append_bytes: get(&self.wal_append_bytes),
            wal_append_nanos: get(&self.wal_append_nanos),
            wal_syncs: get(&self.wal_syncs),
            wal_sync_nanos: get(&self.wal_sync_nanos),
            durable_waits: get(&self.durable_waits),
            durable_wait_nanos: get(&self.durable_wait_nanos),
            checkpoints: get(&self.checkpoints),
            large_commits: get(&self.large_commits),
            spilled_pages: get(&self.spilled_pages),
            coalesced_batches: get(&self.coalesced_batches),
            coalesced_commits: get(&self.coalesced_commits),
            checkpoint_nanos: get(&self.checkpoint_nanos),
            last_checkpoint_nanos: get(&self.last_checkpoint_nanos),
            pages_written: get(&self.pages_written),
            wal_bytes_since_checkpoint: get(&self.wal_bytes_since_checkpoint),
            pages_since_checkpoint: get(&self.pages_since_checkpoint),
            nanos_since_last_commit: nanos(self.started.elapsed()).saturating_sub(publish),
            open_nanos: get(&self.open_nanos),
            page_count: 0,
            free_pages: 0,
            pending_pages: 0,
            page_size: 0,
            oldest_reader_seq: None,
            readers: 0,
            queued_submissions: 0,
            staged_pages: 0,
            pages_flushed: 0,
        }
    }
}

/// The engine's counters at one moment (`Database::stats`). Totals count
/// since open; `*_nanos` fields are summed durations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Commits published, large ones included (replay at open not counted).
    pub commits: u64,
    /// WAL frames appended by commits (a large commit's frame not counted).
    pub wal_appends: u64,
    /// Payload bytes of those frames (commit-time trailer included, frame
    /// headers and HMACs not).
    pub wal_append_bytes: u64,
    /// Time spent appending those frames; commit syncs are in `wal_sync_nanos`,
    /// but a rotation's sync of the full segment falls in here.
    pub wal_append_nanos: u64,
    /// WAL `fdatasync`s (each may cover many commits: group commit).
    pub wal_syncs: u64,
    /// Time spent in those syncs.
    pub wal_sync_nanos: u64,
    /// `Durable` commits' waits for a covering sync.
    pub durable_waits: u64,
    /// Time `Durable` commits spent waiting after publishing.
    pub durable_wait_nanos: u64,
    /// Checkpoints completed (a large commit's metas not counted).
    pub checkpoints: u64,
    /// Commits made durable by their own two metas (engine invariant 14).
    pub large_commits: u64,
    /// Pages write transactions spilled to the page file before commit
    /// (`spill_dirty_bytes`).
    pub spilled_pages: u64,
    /// Engine commits that held closures `Database::submit` coalesced.
    pub coalesced_batches: u64,
    /// Closures those commits held (each one a caller's commit):
    /// `coalesced_commits / coalesced_batches` callers shared each commit.
    pub coalesced_commits: u64,
    /// Time those checkpoints took, from the cut to the deletion of the
    /// segments they freed.
    pub checkpoint_nanos: u64,
    /// How long the most recent checkpoint took; 0 before the first.
    pub last_checkpoint_nanos: u64,
    /// Tree pages commits produced (staged, or spilled and written), large
    /// commits included.
    pub pages_written: u64,
    /// WAL bytes and pages written since the last checkpoint (what the next
    /// open would replay, and what the next checkpoint syncs).
    pub wal_bytes_since_checkpoint: u64,
    /// Pages ordinary commits wrote since the last checkpoint; times the page
    /// size, what `checkpoint_dirty_bytes` is compared with.
    pub pages_since_checkpoint: u64,
    /// How long the latest snapshot has been the latest.
    pub nanos_since_last_commit: u64,
    /// How long the open took (recovery included).
    pub open_nanos: u64,
    /// The page file's high-water mark, in pages, and how many of those are free.
    pub page_count: u64,
    /// Free pages below `page_count`, the `pending_pages` ones included.
    pub free_pages: u64,
    /// Of the free pages, those retired but held for readers (or the
    /// two-meta rule): what old snapshots pin.
    pub pending_pages: u64,
    /// Bytes per page of this database.
    pub page_size: u32,
    /// The oldest snapshot registered (by a reader, or retained for `AtSeq`
    /// reads), and how many registrations there are.
    pub oldest_reader_seq: Option<u64>,
    /// Registrations: one per open read transaction and one per snapshot
    /// retained for `AtSeq` reads; 0 when `oldest_reader_seq` is `None`.
    pub readers: u64,
    /// Closures `Database::submit` queued that no batch has taken yet: the
    /// write backlog at this moment.
    pub queued_submissions: u64,
    /// Committed pages held in memory, not yet written (pager invariant 10:
    /// a commit stages its pages; the next checkpoint writes them).
    pub staged_pages: u64,
    /// Staged pages checkpoints wrote since open. `pages_written` counts
    /// every page commits produced; the difference (less `staged_pages`) is
    /// the versions freed before a checkpoint, never written.
    pub pages_flushed: u64,
}
