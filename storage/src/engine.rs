//! The engine: the single-writer commit pipeline over the pieces it composes
//! (the reader registry, group commit, the WAL writer, the pager). Opening lives
//! in `open.rs`, checkpoints in `checkpoint.rs`, the public door in
//! `database.rs`; transactions (`txn.rs`, `read.rs`) call into this file, never
//! the other way round.
//!
//! Invariants:
//! 1. Commits are applied one at a time under the writer lock, in seq order; each
//!    appends exactly one WAL frame, then publishes its snapshot (`Visible`).
//! 2. Group commit (`group_commit.rs`): a `Durable` commit returns once a sync
//!    covers its seq; syncs run outside the writer lock.
//! 3. A checkpoint cuts the latest state under the writer lock, then (outside
//!    it, beside later commits) makes the WAL durable up to its seq, commits the
//!    meta (pager: free list, fdatasync, other slot, fdatasync), and deletes
//!    segments that neither meta needs (`checkpoint.rs`).
//! 4. Any I/O failure inside a commit or checkpoint, any failed sync, and a panic
//!    inside a commit poison the engine: no further commit or acknowledgement until
//!    reopen. Poison is checked after the writer lock is taken, at the top of a
//!    commit, and under the sync lock right before publishing (review F2). An open
//!    that replayed frames checkpoints twice before the first new commit, because
//!    frames a failed sync dropped cannot be made durable by syncing them again.
//! 5. A page retired by commit s is reused only once every registered reader's
//!    snapshot seq is at least s (`readers.rs`) and the pager's two-meta rule holds.
//!
//! Lock order: checkpointing → writer → sync (group commit) → notifier; writer →
//! the registry's locks (`readers.rs`); writer → the backup gate's lock. The
//! writer lock's holder only `try_lock`s the checkpoint gate.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aedb_btree::TreeRoot;
use aedb_pager::Pager;
use aedb_pager::vfs::Vfs;

use crate::coalesce::Coalescer;
use crate::core::TxnCore;
use crate::effects::{self, Effect};
use crate::error::{Result, StorageError};
use crate::group_commit::GroupCommit;
use crate::notify::Notifier;
use crate::options::{DurabilityMode, StorageOptions};
use crate::readers::Readers;
use crate::snapshot::{CommitResult, Finality, RecoveryReport, Snapshot};
use crate::stats::Stats;
use crate::wal::WalWriter;
use crate::wal::frame::{ChainHash, MAX_PAYLOAD};

/// What only the writer touches (under the writer lock).
pub(crate) struct WriterState {
    pub(crate) root_dir: Option<TreeRoot>,
    pub(crate) seq: u64,
    pub(crate) hash: ChainHash,
    pub(crate) wal: WalWriter,
    pub(crate) checkpoint_seq: u64,
    pub(crate) pages_since_checkpoint: u64,
    pub(crate) last_checkpoint: Instant,
}

pub(crate) struct Engine {
    pub(crate) dir: PathBuf,
    /// The file system the engine's files live on (backups copy through it).
    pub(crate) vfs: Arc<dyn Vfs>,
    /// Backups copying the files now: checkpoints wait for them.
    pub(crate) backups: BackupGate,
    /// Held by a checkpoint from its cut to its trim (one at a time; a backup
    /// pin waits for one in flight). Lock order: checkpointing → writer; a
    /// holder of the writer lock only ever `try_lock`s it.
    pub(crate) checkpointing: Mutex<()>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) options: StorageOptions,
    pub(crate) pager: Pager,
    pub(crate) writer: Mutex<WriterState>,
    pub(crate) sync: GroupCommit,
    pub(crate) readers: Readers,
    pub(crate) report: RecoveryReport,
    pub(crate) notifier: Arc<Notifier>,
    /// Closures queued by `Database::submit` (`coalesce.rs`).
    pub(crate) coalescer: Coalescer,
}

impl Drop for Engine {
    /// A clean shutdown checkpoints, so the next open replays nothing.
    fn drop(&mut self) {
        if self.sync.poisoned().is_none()
            && self.options.checkpoint_on_close
            && !std::thread::panicking()
        {
            let mut st = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            if st.seq > st.checkpoint_seq {
                let _ = self.checkpoint_locked(&mut st);
            }
        }
        self.notifier.stopped();
    }
}

/// The commit's wall-clock time, which rides in its frame (restores at a time).
pub(crate) fn commit_time_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Poisons the engine if a commit unwinds between writing its pages and
/// publishing them: pages were retired that the published state still reaches,
/// so no later commit may run (invariant 4). Error returns poison on their own.
pub(crate) struct PoisonOnUnwind<'e> {
    pub(crate) engine: &'e Engine,
    pub(crate) seq: u64,
}

impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        // Error returns poison explicitly; only an unwind reaches here unpoisoned.
        if std::thread::panicking() {
            let cause = StorageError::Task("panic".into());
            let _ = self.engine.sync.poison(
                format!("commit {} panicked while writing", self.seq),
                &cause,
            );
        }
    }
}

impl Engine {
    /// The writer lock, refused once the engine is poisoned. Poison is checked
    /// *after* the lock is taken (invariant 4): a writer that queued on the lock
    /// while another commit failed must see that failure, not commit behind it.
    pub(crate) fn writer(&self) -> Result<MutexGuard<'_, WriterState>> {
        let state = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = self.sync.poisoned() {
            return Err(p.error());
        }
        Ok(state)
    }

    /// The writer lock and a fresh transaction core on the latest state, after
    /// releasing the pages no reader can see any more (invariant 5).
    pub(crate) fn begin_write(&self) -> Result<(MutexGuard<'_, WriterState>, TxnCore<'_>)> {
        let state = self.writer()?;
        let core = self.begin_under(&state)?;
        Ok((state, core))
    }

    /// A fresh transaction core on the latest state, the writer lock held
    /// (`state`), poison checked again: a coalescing leader holds the lock
    /// across commits, and one of them may have poisoned the engine.
    pub(crate) fn begin_under(&self, state: &WriterState) -> Result<TxnCore<'_>> {
        if let Some(p) = self.sync.poisoned() {
            return Err(p.error());
        }
        self.release_pages_behind_readers();
        TxnCore::new(&self.pager, &self.options, state.root_dir, state.seq + 1)
    }

    /// The checkpoint gate if no checkpoint holds it (callers may hold the
    /// writer lock: lock order).
    pub(crate) fn try_checkpoint_gate(&self) -> Option<MutexGuard<'_, ()>> {
        match self.checkpointing.try_lock() {
            Ok(gate) => Some(gate),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The checkpoint gate, waiting for a checkpoint in flight (never with the
    /// writer lock held).
    pub(crate) fn checkpoint_gate(&self) -> MutexGuard<'_, ()> {
        self.checkpointing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Invariant 5: tells the pager which retired pages no registered reader can see.
    pub(crate) fn release_pages_behind_readers(&self) {
        self.pager.release_readers_below(self.readers.safe_below());
    }

    /// Commits a write transaction's parts (`WriteTransaction::commit` calls
    /// this, then `after_commit`): writes its pages, appends its frame and
    /// publishes it (`Visible`), invariants 1 and 4. It hands the writer lock
    /// back, so the coalescing leader answers its followers before a due
    /// checkpoint runs.
    pub(crate) fn commit_visible<'a>(
        &self,
        mut state: MutexGuard<'a, WriterState>,
        core: TxnCore<'_>,
        effects: &[Effect],
    ) -> Result<(MutexGuard<'a, WriterState>, CommitResult)> {
        let seq = core.seq;
        // Invariant 4: a sync may have failed while this transaction was being
        // built (syncs run outside the writer lock); nothing commits behind it.
        if let Some(p) = self.sync.poisoned() {
            return Err(p.error());
        }
        // The transaction kept its payload within the frame limit (it turns
        // large or is refused before crossing it: `WriteTransaction::reserve`).
        let payload = effects::encode_at(effects, commit_time_micros());
        debug_assert!(
            payload.len() <= MAX_PAYLOAD,
            "a payload past the frame limit"
        );
        // Invariant 4: from here on a failure leaves memory and files disagreeing,
        // and so does a panic: the guard poisons the engine if this frame unwinds.
        let unwind = PoisonOnUnwind { engine: self, seq };
        let (root_dir, written) = core.finish().map_err(|e| {
            self.sync
                .poison(format!("commit {seq} failed while writing pages: {e}"), &e)
        })?;
        let synced_upto = self.sync.lock().durable;
        let appending = Instant::now();
        let hash = state.wal.append(seq, synced_upto, &payload).map_err(|e| {
            self.sync.poison(
                format!("commit {seq} failed while appending to the WAL: {e}"),
                &e,
            )
        })?;
        let stats = &self.stats;
        Stats::timed(&stats.wal_appends, &stats.wal_append_nanos, appending);
        Stats::add(&stats.wal_append_bytes, payload.len() as u64);
        Stats::add(&stats.wal_bytes_since_checkpoint, payload.len() as u64);
        Stats::add(&stats.pages_written, written as u64);
        Stats::add(&stats.pages_since_checkpoint, written as u64);
        state.seq = seq;
        state.hash = hash;
        state.root_dir = root_dir;
        state.pages_since_checkpoint += written as u64;
        let snapshot = self.publish(&state, Published::Visible)?;
        drop(unwind);
        self.readers.retain(snapshot);
        Ok((
            state,
            CommitResult {
                seq,
                chain_hash: hash,
            },
        ))
    }

    /// After a commit is published: runs a due checkpoint (letting the writer
    /// lock go at its cut, or at once when none is due), then, for `Durable`,
    /// waits for a sync to cover `seq` (invariant 2).
    pub(crate) fn after_commit(
        &self,
        state: MutexGuard<'_, WriterState>,
        seq: u64,
        finality: Finality,
    ) -> Result<()> {
        // A checkpoint in flight holds the gate: another is not needed yet.
        let gate = if self.checkpoint_due(&state) {
            self.try_checkpoint_gate()
        } else {
            None
        };
        match gate {
            // Fuzzy: the writer lock goes at the cut; later commits run beside
            // this checkpoint's syncs (this caller waits for them).
            Some(gate) => self.checkpoint_fuzzy(gate, state)?,
            None => drop(state),
        }
        if finality == Finality::Durable {
            self.wait_durable(seq)?;
        }
        Ok(())
    }

    /// Returns once a sync covers `seq` (invariant 2), syncing itself when
    /// the durability mode lets a committer sync.
    pub(crate) fn wait_durable(&self, seq: u64) -> Result<()> {
        let may_sync = matches!(self.options.durability, DurabilityMode::Full);
        let waiting = Instant::now();
        self.sync.wait_durable(seq, may_sync)?;
        let stats = &self.stats;
        Stats::timed(&stats.durable_waits, &stats.durable_wait_nanos, waiting);
        Ok(())
    }

    /// Publishes the writer's state (`st`: seq, root, hash, current segment)
    /// as the latest snapshot, under the sync lock, where poison is set:
    /// either the failure came first and the commit is refused unpublished,
    /// or it is published before the failure, as if it had finished first.
    /// A large commit is durable as it is published (invariant 14).
    pub(crate) fn publish(&self, st: &WriterState, how: Published) -> Result<Arc<Snapshot>> {
        let seq = st.seq;
        let view = self
            .pager
            .view()
            .map_err(|e| self.sync.poison(format!("commit {seq}: {e}"), &e))?;
        let snapshot = Arc::new(Snapshot {
            view,
            root_dir: st.root_dir,
            seq,
            chain_hash: st.hash,
            entries: Default::default(),
        });
        let mut s = self.sync.lock();
        if let Some(p) = &s.poisoned {
            return Err(p.error());
        }
        self.readers.publish(snapshot.clone());
        self.stats.published();
        Stats::add(&self.stats.commits, 1);
        s.notifier.visible(seq);
        s.appended = seq;
        s.file = st.wal.current();
        if how == Published::Durable {
            s.durable = s.durable.max(seq);
            s.wake();
        }
        Ok(snapshot)
    }

    fn checkpoint_due(&self, st: &WriterState) -> bool {
        let o = &self.options;
        // A backup is copying the checkpointed pages: the checkpoint waits
        // (the WAL grows meanwhile), it never overwrites what is being copied.
        if self.backups.pinned() {
            return false;
        }
        st.wal.bytes_since_checkpoint >= o.checkpoint_wal_bytes
            || st.pages_since_checkpoint * u64::from(self.pager.page_size())
                >= o.checkpoint_dirty_bytes
            || o.checkpoint_interval_ms
                .is_some_and(|ms| st.last_checkpoint.elapsed() >= Duration::from_millis(ms))
    }
}

/// What publishing a commit makes it: visible (its frame's sync comes
/// later), or visible and durable at once (a large commit's metas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Published {
    Visible,
    Durable,
}

/// Counts the backups copying the files. A pin is taken under the writer lock
/// (no checkpoint is running then) and, while any is held, no checkpoint
/// starts: the newest meta, the pages both metas reach and the WAL segments
/// stay as they were when the pin was taken.
#[derive(Default)]
pub(crate) struct BackupGate {
    pins: AtomicUsize,
    lock: Mutex<()>,
    released: Condvar,
}

impl BackupGate {
    pub(crate) fn pinned(&self) -> bool {
        self.pins.load(Ordering::Acquire) > 0
    }

    /// Call with the writer lock held.
    pub(crate) fn pin(&self) {
        self.pins.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn unpin(&self) {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.pins.fetch_sub(1, Ordering::AcqRel);
        self.released.notify_all();
    }

    /// Blocks until no backup holds a pin.
    pub(crate) fn wait_released(&self) {
        let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.pinned() {
            g = self.released.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }
}
