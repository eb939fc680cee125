//! The reader registry: which snapshots are published, retained and read, so the
//! writer knows which retired pages no reader can still see.
//!
//! Invariants:
//! 1. **Registered before it can be released.** A reader's seq is counted in
//!    `readers` while the lock it found its snapshot under is still held: `readers`
//!    itself for the latest snapshot, `retained` for an `AtSeq` one, `at_checkpoint`
//!    for the checkpointed one. Once that lock is let go a commit may pop the
//!    snapshot and release its pages; a later registration would protect pages
//!    already handed out again (review F4).
//! 2. **Retained snapshots are readers.** Each published snapshot stays registered
//!    while it is inside the retention window (count and age), so `AtSeq` can reach
//!    it; the window therefore bounds the pages retained snapshots pin.
//! 3. **The checkpointed state is held by the pager's two-meta rule**, not by a
//!    registration (registering it would pin every page retired since); a reader
//!    that opens it registers like any reader.
//! 4. A page retired by commit s may be reused once every registered seq is ≥ s
//!    (`safe_below`), and the pager's own two-meta rule holds.
//!
//! Lock order: `retained` → `readers`; `at_checkpoint` → `readers`. `readers` is
//! the leaf; no lock of this registry is held while the engine takes another.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::error::{Result, StorageError};
use crate::snapshot::Snapshot;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Published snapshots and their readers (invariants above).
pub(crate) struct Readers {
    /// The newest published commit.
    latest: ArcSwap<Snapshot>,
    /// Registered readers: snapshot seq -> how many.
    readers: Mutex<BTreeMap<u64, usize>>,
    /// The last published snapshots (each registered as a reader), for `AtSeq`.
    retained: Mutex<VecDeque<(Arc<Snapshot>, Instant)>>,
    /// The state of the last durable checkpoint, for `AtCheckpoint`.
    at_checkpoint: Mutex<Arc<Snapshot>>,
    /// The retention window: count and age.
    keep: usize,
    keep_for: Duration,
}

impl Readers {
    pub(crate) fn new(
        latest: Snapshot,
        at_checkpoint: Arc<Snapshot>,
        keep: usize,
        keep_for: Duration,
    ) -> Readers {
        let latest = Arc::new(latest);
        let readers = Readers {
            latest: ArcSwap::from(latest.clone()),
            readers: Mutex::new(BTreeMap::new()),
            retained: Mutex::new(VecDeque::new()),
            at_checkpoint: Mutex::new(at_checkpoint),
            keep,
            keep_for,
        };
        // The state found at open is an `AtSeq` snapshot like any commit's:
        // retained until the window passes it, not dropped at the first commit.
        readers.retain(latest);
        readers
    }

    /// The newest published snapshot (not registered: for a quick look).
    pub(crate) fn latest(&self) -> Arc<Snapshot> {
        self.latest.load_full()
    }

    pub(crate) fn latest_seq(&self) -> u64 {
        self.latest.load().seq
    }

    /// Publishes a commit's snapshot to new readers (the caller then `retain`s it).
    pub(crate) fn publish(&self, snapshot: Arc<Snapshot>) {
        self.latest.store(snapshot);
    }

    /// Registers a reader of the latest snapshot (invariant 1).
    pub(crate) fn register_latest(&self) -> Arc<Snapshot> {
        let mut readers = lock(&self.readers);
        let snapshot = self.latest.load_full();
        *readers.entry(snapshot.seq).or_insert(0) += 1;
        snapshot
    }

    /// Registers a reader of the checkpointed state (invariants 1, 3).
    pub(crate) fn register_at_checkpoint(&self) -> Arc<Snapshot> {
        let at = lock(&self.at_checkpoint);
        *lock(&self.readers).entry(at.seq).or_insert(0) += 1;
        at.clone()
    }

    /// Registers a reader of the retained snapshot `seq` (invariant 1), or
    /// `SnapshotUnavailable` outside the window.
    pub(crate) fn register_at_seq(&self, seq: u64) -> Result<Arc<Snapshot>> {
        let retained = lock(&self.retained);
        let latest = self.latest.load_full();
        let snapshot = if latest.seq == seq {
            latest
        } else {
            let found = retained
                .iter()
                .find(|(s, _)| s.seq == seq)
                .map(|(s, _)| s.clone());
            let oldest = retained.front().map_or(latest.seq, |(s, _)| s.seq);
            found.ok_or(StorageError::SnapshotUnavailable {
                seq,
                oldest,
                newest: latest.seq,
            })?
        };
        *lock(&self.readers).entry(snapshot.seq).or_insert(0) += 1;
        drop(retained);
        Ok(snapshot)
    }

    /// Keeps `snapshot` for `AtSeq` reads and lets go of the ones past the window
    /// (invariant 2).
    pub(crate) fn retain(&self, snapshot: Arc<Snapshot>) {
        let mut retained = lock(&self.retained);
        *lock(&self.readers).entry(snapshot.seq).or_insert(0) += 1;
        retained.push_back((snapshot, Instant::now()));
        while retained.len() > self.keep
            || retained
                .front()
                .is_some_and(|(_, t)| t.elapsed() > self.keep_for)
        {
            if let Some((old, _)) = retained.pop_front() {
                self.release(old.seq);
            }
        }
    }

    /// Lets go of every retained snapshot but the newest (compaction: they pin
    /// the pages it moves; `AtSeq` reads of older seqs are then unavailable).
    pub(crate) fn release_retained(&self) {
        let mut retained = lock(&self.retained);
        while retained.len() > 1 {
            if let Some((old, _)) = retained.pop_front() {
                self.release(old.seq);
            }
        }
    }

    /// A checkpoint made `snapshot` (its cut) the checkpointed state
    /// (invariant 3).
    pub(crate) fn checkpointed(&self, snapshot: Arc<Snapshot>) {
        // A large commit's metas may finish after a fuzzy checkpoint's meta
        // and be recorded first: the older state is no longer what the metas
        // hold, so it must not replace the newer one.
        let mut current = lock(&self.at_checkpoint);
        if snapshot.seq >= current.seq {
            *current = snapshot;
        }
    }

    /// Pages retired below this seq are behind every registered reader
    /// (invariant 4).
    /// The oldest registered reader's seq and how many readers there are.
    pub(crate) fn oldest(&self) -> (Option<u64>, u64) {
        let readers = lock(&self.readers);
        let count = readers.values().map(|n| *n as u64).sum();
        (readers.keys().next().copied(), count)
    }

    pub(crate) fn safe_below(&self) -> u64 {
        lock(&self.readers)
            .keys()
            .next()
            .map_or(u64::MAX, |oldest| oldest + 1)
    }

    /// A reader of `seq` is done.
    pub(crate) fn release(&self, seq: u64) {
        let mut readers = lock(&self.readers);
        if let Some(n) = readers.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                readers.remove(&seq);
            }
        }
    }
}
