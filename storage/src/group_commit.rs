//! Group commit and poison: the sync state every `Durable` waiter shares.
//!
//! Invariants:
//! 1. A `Durable` waiter either finds its seq covered, waits (parked) for the sync
//!    in progress, or becomes the syncer for everything appended so far; the sync
//!    runs outside every lock, so commits keep applying meanwhile.
//! 2. A failed sync poisons: it is never retried (the kernel may have dropped the
//!    pages it failed to write), and every waiter, now and later, gets the poison.
//! 3. The first cause is kept; `OutOfSpace` when it was a full disk.
//! 4. Durable heads are published to the notifier under this lock, as visible ones
//!    are (by the commit), so no subscriber sees a seq durable before visible.
//!
//! Lock order: the writer lock (engine) before this one; the notifier's lock is a
//! leaf taken under it.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use aedb_pager::vfs::VfsFile;

use crate::error::{Result, StorageError};
use crate::notify::Notifier;
use crate::stats::Stats;

/// Why the engine stopped (invariant 4): kept from the first failure on.
#[derive(Debug, Clone)]
pub(crate) struct Poison {
    why: String,
    /// The failure was a full disk: reported as `OutOfSpace`, so an operator knows
    /// to free space before reopening.
    out_of_space: bool,
}

impl Poison {
    pub(crate) fn error(&self) -> StorageError {
        if self.out_of_space {
            StorageError::OutOfSpace(self.why.clone())
        } else {
            StorageError::Poisoned(self.why.clone())
        }
    }
}

/// What a poisoning failure was, as far as the operator must know.
pub(crate) trait PoisonCause {
    fn out_of_space(&self) -> bool;
}

impl PoisonCause for StorageError {
    fn out_of_space(&self) -> bool {
        match self {
            StorageError::Pager(p) => p.out_of_space(),
            StorageError::Btree(aedb_btree::BtreeError::Pager(p)) => p.out_of_space(),
            StorageError::OutOfSpace(_) => true,
            _ => false,
        }
    }
}

impl PoisonCause for aedb_pager::PagerError {
    fn out_of_space(&self) -> bool {
        matches!(self, aedb_pager::PagerError::OutOfSpace { .. })
    }
}

pub(crate) struct SyncState {
    /// Highest seq appended to the WAL (and published).
    pub(crate) appended: u64,
    /// Highest seq a completed sync covers.
    pub(crate) durable: u64,
    syncing: bool,
    /// The segment a sync must cover (the current one).
    pub(crate) file: Arc<dyn VfsFile>,
    pub(crate) poisoned: Option<Poison>,
    /// Threads parked in `wait_durable`: (seq awaited, may sync, thread).
    waiters: Vec<(u64, bool, std::thread::Thread)>,
    /// Commit notifications; published under this lock, so a subscriber never
    /// sees a seq durable before it is visible (notify invariant 3).
    pub(crate) notifier: Arc<Notifier>,
}

impl SyncState {
    /// After a sync (or poisoning): unparks every waiter it covers, and one waiter
    /// it does not cover that may sync, to become the next syncer. Waking only
    /// those (not every waiter, as a condvar broadcast would) keeps 64 committers on
    /// 2 cores from spending each sync's gain on context switches.
    pub(crate) fn wake(&mut self) {
        self.notifier.durable(self.durable);
        if self.poisoned.is_some() {
            self.notifier.stopped();
        }
        let durable = self.durable;
        let all = self.poisoned.is_some();
        let mut next_syncer = !self.syncing;
        self.waiters.retain(|(seq, may_sync, thread)| {
            if all || *seq <= durable {
                thread.unpark();
                false
            } else if next_syncer && *may_sync {
                next_syncer = false;
                thread.unpark();
                false
            } else {
                true
            }
        });
    }
}

/// The shared sync state (invariants above).
pub(crate) struct GroupCommit {
    state: Mutex<SyncState>,
    /// Set (after `poisoned`, under the lock) once the engine is poisoned: a lock-free
    /// first check for the writer's hot path. The check that decides whether a
    /// commit publishes is made under the lock (engine invariant 4).
    stopped: AtomicBool,
    stats: Arc<Stats>,
}

impl GroupCommit {
    pub(crate) fn new(
        appended: u64,
        file: Arc<dyn VfsFile>,
        notifier: Arc<Notifier>,
        stats: Arc<Stats>,
    ) -> GroupCommit {
        let state = SyncState {
            appended,
            durable: appended,
            syncing: false,
            file,
            poisoned: None,
            waiters: Vec::new(),
            notifier,
        };
        GroupCommit {
            state: Mutex::new(state),
            stopped: AtomicBool::new(false),
            stats,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn poisoned(&self) -> Option<Poison> {
        if !self.stopped.load(Ordering::Acquire) {
            return None;
        }
        self.lock().poisoned.clone()
    }

    /// Poisons because of `cause` (the first cause is kept) and returns the error
    /// the failing call reports.
    pub(crate) fn poison(&self, why: String, cause: &dyn PoisonCause) -> StorageError {
        let mut s = self.lock();
        if s.poisoned.is_none() {
            tracing::error!(why = %why, "aedb engine poisoned: nothing more commits until reopen");
        }
        let poison = s
            .poisoned
            .get_or_insert_with(|| Poison {
                why,
                out_of_space: cause.out_of_space(),
            })
            .clone();
        self.stopped.store(true, Ordering::Release);
        s.wake();
        poison.error()
    }

    /// Invariant 2: returns once `seq` is durable (or the engine is poisoned). With
    /// `may_sync` false the caller only waits for someone else's sync.
    pub(crate) fn wait_durable(&self, seq: u64, may_sync: bool) -> Result<()> {
        let mut s = self.lock();
        loop {
            if let Some(p) = &s.poisoned {
                return Err(p.error());
            }
            if s.durable >= seq {
                return Ok(());
            }
            if s.syncing || !may_sync {
                // Park until a sync covers `seq` (or this thread is picked to sync
                // next); spurious wake-ups just loop.
                s.waiters.push((seq, may_sync, std::thread::current()));
                drop(s);
                std::thread::park();
                s = self.lock();
                let me = std::thread::current().id();
                s.waiters.retain(|(_, _, t)| t.id() != me);
                continue;
            }
            s.syncing = true;
            let (target, file) = (s.appended, s.file.clone());
            drop(s);
            let syncing = Instant::now();
            let mut result = file.sync_data();
            if result.is_err()
                && aedb_pager::mutation::active(aedb_pager::mutation::Mutation::RetryFailedSync)
            {
                result = file.sync_data();
            }
            Stats::timed(&self.stats.wal_syncs, &self.stats.wal_sync_nanos, syncing);
            s = self.lock();
            s.syncing = false;
            match result {
                Ok(()) => s.durable = s.durable.max(target),
                Err(e) => {
                    tracing::error!(error = %e, "aedb WAL sync failed: engine poisoned");
                    let out_of_space = e.kind() == std::io::ErrorKind::StorageFull;
                    s.poisoned.get_or_insert_with(|| Poison {
                        why: format!("WAL sync failed: {e}"),
                        out_of_space,
                    });
                    self.stopped.store(true, Ordering::Release);
                }
            }
            s.wake();
        }
    }
}
