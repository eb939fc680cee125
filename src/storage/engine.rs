//! The engine: open and recover, the single-writer commit pipeline with group
//! commit, snapshots, checkpoints and poisoning.
//!
//! Invariants:
//! 1. Commits are applied one at a time under the writer lock, in seq order; each
//!    appends exactly one WAL frame, then publishes its snapshot (`Visible`).
//! 2. Group commit: a `Durable` waiter either finds its seq covered, waits for the
//!    sync in progress, or becomes the syncer for everything appended so far. The
//!    sync runs outside the writer lock, so the next commits apply meanwhile.
//! 3. A checkpoint first makes the WAL durable up to its seq, then commits the meta
//!    (pager: pages, fdatasync, other slot, fdatasync), then deletes segments that
//!    neither meta needs.
//! 4. Any I/O failure inside a commit or checkpoint, and any failed sync, poisons the
//!    engine: no further commit or acknowledgement until reopen. An open that
//!    replayed frames checkpoints twice before the first new commit, because frames
//!    a failed sync dropped cannot be made durable by syncing them again.
//! 5. A page retired by commit s is reused only once every registered reader's
//!    snapshot seq is at least s (and the pager's two-meta rule holds).
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use aedb_btree::{Tree, TreeRoot, load_root};
use aedb_pager::vfs::{RealFs, Vfs, VfsFile};
use aedb_pager::{MetaUpdate, PageId, Pager, PagerOptions, ReadView};
use arc_swap::ArcSwap;

use crate::storage::catalog::ROOT_DIR_OWNER;
use crate::storage::effects;
use crate::storage::error::{Result, StorageError};
use crate::storage::notify::{CommitHeads, CommitSubscription, Notifier};
use crate::storage::options::{DurabilityMode, StorageOptions};
use crate::storage::read::ReadTransaction;
use crate::storage::txn::{TxnCore, WriteTransaction, apply};
use crate::storage::wal::frame::{ChainHash, MAX_PAYLOAD};
use crate::storage::wal::recover::{WalRecovery, recover, recover_anchored};
use crate::storage::wal::WalWriter;

/// Which state a read transaction sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// The newest published commit (may not be durable yet).
    Latest,
    /// The commit with this seq, if it is inside the retention window
    /// (`snapshot_retention_count` / `snapshot_retention_ms`).
    AtSeq(u64),
    /// The state of the last durable checkpoint.
    AtCheckpoint,
}

/// How far a commit must get before `commit` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// Published to new readers; survives a crash only once a later sync covers it.
    Visible,
    /// On stable storage (under [`DurabilityMode::Full`]: after its group's sync).
    Durable,
}

/// The receipt of a commit: its seq and the WAL chain hash after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitResult {
    pub seq: u64,
    pub chain_hash: ChainHash,
}

/// What open found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Seq of the checkpoint open started from.
    pub checkpoint_seq: u64,
    /// Commits replayed from the WAL.
    pub replayed: u64,
    /// Highest recovered seq.
    pub head_seq: u64,
    /// A torn WAL tail that was cut off: (segment, offset, bytes).
    pub truncated: Option<(PathBuf, u64, u64)>,
    /// The cut tail began with a complete WAL frame that failed its checks and
    /// that no later frame vouches for (FORMAT W10): it may have been an
    /// acknowledged Durable commit damaged at rest; nothing proves it was synced.
    pub unvouched_tail_truncated: bool,
    /// Permissive recovery: what was dropped.
    pub dropped: Vec<String>,
    /// Permissive recovery: the WAL did not reach the checkpoint (FORMAT W11), so
    /// commits after it may be lost; strict open refuses with `WalMissing`.
    pub wal_missing: Option<String>,
    /// A meta slot that failed validation and was ignored.
    pub ignored_meta: Option<String>,
}

/// An immutable state: root directory and seq, plus the mapping to read it.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) view: ReadView,
    pub(crate) root_dir: Option<TreeRoot>,
    pub seq: u64,
    pub chain_hash: ChainHash,
}

pub(crate) struct WriterState {
    pub(crate) root_dir: Option<TreeRoot>,
    pub(crate) seq: u64,
    pub(crate) hash: ChainHash,
    pub(crate) wal: WalWriter,
    checkpoint_seq: u64,
    pages_since_checkpoint: u64,
    last_checkpoint: Instant,
}

/// Why the engine stopped (invariant 4): kept from the first failure on.
#[derive(Debug, Clone)]
struct Poison {
    why: String,
    /// The failure was a full disk: reported as `OutOfSpace`, so an operator knows
    /// to free space before reopening.
    out_of_space: bool,
}

impl Poison {
    fn error(&self) -> StorageError {
        if self.out_of_space { StorageError::OutOfSpace(self.why.clone()) } else { StorageError::Poisoned(self.why.clone()) }
    }
}

/// What a poisoning failure was, as far as the operator must know.
trait PoisonCause {
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

struct SyncState {
    appended: u64,
    durable: u64,
    syncing: bool,
    file: Arc<dyn VfsFile>,
    poisoned: Option<Poison>,
    /// Threads parked in `wait_durable`: (seq awaited, may sync, thread).
    waiters: Vec<(u64, bool, std::thread::Thread)>,
    /// Commit notifications; published under this lock, so a subscriber never
    /// sees a seq durable before it is visible (notify invariant 3).
    notifier: Arc<Notifier>,
}

impl SyncState {
    /// After a sync (or poisoning): unparks every waiter it covers, and one waiter
    /// it does not cover that may sync, to become the next syncer. Waking only
    /// those (not every waiter, as a condvar broadcast would) keeps 64 committers on
    /// 2 cores from spending each sync's gain on context switches.
    fn wake(&mut self) {
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

pub(crate) struct Engine {
    pub(crate) dir: PathBuf,
    pub(crate) options: StorageOptions,
    pub(crate) pager: Pager,
    writer: Mutex<WriterState>,
    latest: ArcSwap<Snapshot>,
    sync: Mutex<SyncState>,
    /// Registered readers: snapshot seq -> how many.
    readers: Mutex<BTreeMap<u64, usize>>,
    /// The last published snapshots (each registered as a reader), for `AtSeq`.
    retained: Mutex<VecDeque<(Arc<Snapshot>, Instant)>>,
    /// The state of the last durable checkpoint, for `AtCheckpoint` (its pages are
    /// protected by the two-meta rule while it is the newest meta).
    at_checkpoint: Mutex<Arc<Snapshot>>,
    report: RecoveryReport,
    notifier: Arc<Notifier>,
}

/// An open database: the engine's public door.
#[derive(Clone)]
pub struct Database {
    pub(crate) engine: Arc<Engine>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Database {
    /// Opens (creating if needed) the database in `dir` on the real file system.
    pub fn open(dir: impl AsRef<Path>, options: StorageOptions) -> Result<Database> {
        Database::open_with(Arc::new(RealFs), dir.as_ref(), options)
    }

    /// Opens through any file system (the simulation, in tests).
    pub fn open_with(vfs: Arc<dyn Vfs>, dir: &Path, options: StorageOptions) -> Result<Database> {
        let engine = Arc::new(Engine::open(vfs, dir, options)?);
        if engine.report.replayed > 0 {
            engine.settle_recovery()?;
        } else if engine.pager.meta().generation <= 2 {
            engine.anchor()?;
        }
        if let DurabilityMode::Batch { interval_ms } | DurabilityMode::OsBuffered { interval_ms } = engine.options.durability {
            spawn_flusher(Arc::downgrade(&engine), Duration::from_millis(interval_ms.max(1)));
        }
        Ok(Database { engine })
    }

    pub fn begin_write(&self) -> Result<WriteTransaction<'_>> {
        self.engine.begin_write()
    }

    pub fn begin_read(&self) -> Result<ReadTransaction> {
        Ok(self.engine.begin_read())
    }

    /// A read transaction at a chosen consistency; `AtSeq` outside the retention
    /// window is a [`StorageError::SnapshotUnavailable`].
    pub fn begin_read_at(&self, at: Consistency) -> Result<ReadTransaction> {
        self.engine.begin_read_at(at)
    }

    /// Writes a checkpoint now (blocks the writer for its two syncs).
    pub fn checkpoint_now(&self) -> Result<()> {
        let mut st = self.engine.writer()?;
        self.engine.checkpoint_locked(&mut st)
    }

    /// Waits until every commit so far is durable.
    pub fn sync(&self) -> Result<()> {
        let seq = lock(&self.engine.sync).appended;
        self.engine.wait_durable(seq, true)
    }

    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.engine.report
    }

    /// Highest seq visible to new readers.
    pub fn visible_seq(&self) -> u64 {
        self.engine.latest.load().seq
    }

    /// Highest seq known durable.
    pub fn durable_seq(&self) -> u64 {
        lock(&self.engine.sync).durable
    }

    /// Seq of the current checkpoint (the newest meta).
    pub fn checkpoint_seq(&self) -> u64 {
        self.engine.pager.meta().checkpoint_seq
    }

    /// A subscription to commit notifications from now on: every later
    /// `Visible(seq)` and `Durable(seq)` in order, and checkpoints (see
    /// [`CommitSubscription`]). Costs the writer nothing, however slowly it is read.
    pub fn subscribe(&self) -> CommitSubscription {
        let heads = self.engine.notifier.heads();
        CommitSubscription::new(self.engine.notifier.clone(), heads)
    }

    /// The visible, durable and checkpoint heads as last published.
    pub fn commit_heads(&self) -> CommitHeads {
        self.engine.notifier.heads()
    }

    /// Whether an earlier failure poisoned the engine.
    pub fn is_poisoned(&self) -> bool {
        lock(&self.engine.sync).poisoned.is_some()
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.engine.dir
    }

    /// The pager, for checks and tools.
    pub fn pager(&self) -> &Pager {
        &self.engine.pager
    }

    /// Every tree of the latest snapshot with its owner id and root (for checks).
    pub fn tree_roots(&self) -> Result<Vec<(String, u64, Option<TreeRoot>)>> {
        let snap = self.engine.latest.load_full();
        let dir = Tree::new(&snap.view, snap.root_dir, ROOT_DIR_OWNER);
        let mut out = Vec::new();
        for (k, v) in crate::storage::catalog::tree_entries(&dir)? {
            let entry = crate::storage::catalog::TreeEntry::decode(&k, &v)?;
            out.push((String::from_utf8_lossy(&k).into_owned(), entry.id, entry.root));
        }
        Ok(out)
    }

    /// The root directory's root in the latest snapshot.
    pub fn root_directory(&self) -> Option<TreeRoot> {
        self.engine.latest.load().root_dir
    }
}

impl Drop for Engine {
    /// A clean shutdown checkpoints, so the next open replays nothing.
    fn drop(&mut self) {
        if self.poisoned().is_some() || !self.options.checkpoint_on_close || std::thread::panicking() {
            self.notifier.stopped();
            return;
        }
        let mut st = lock(&self.writer);
        if st.seq > st.checkpoint_seq {
            let _ = self.checkpoint_locked(&mut st);
        }
        self.notifier.stopped();
    }
}

/// Poisons the engine if a commit unwinds between writing its pages and
/// publishing them: pages were retired that the published state still reaches,
/// so no later commit may run (invariant 4). Error returns poison on their own.
struct PoisonOnUnwind<'e> {
    engine: &'e Engine,
    seq: u64,
}

impl Drop for PoisonOnUnwind<'_> {
    fn drop(&mut self) {
        // Error returns poison explicitly; only an unwind reaches here unpoisoned.
        if std::thread::panicking() {
            let cause = StorageError::Task("panic".into());
            let _ = self.engine.poison(format!("commit {} panicked while writing", self.seq), &cause);
        }
    }
}

fn spawn_flusher(engine: Weak<Engine>, every: Duration) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            let Some(engine) = engine.upgrade() else { return };
            let seq = lock(&engine.sync).appended;
            if engine.wait_durable(seq, true).is_err() {
                return;
            }
        }
    });
}

impl Engine {
    fn open(vfs: Arc<dyn Vfs>, dir: &Path, options: StorageOptions) -> Result<Engine> {
        let pager_options = PagerOptions {
            page_size: options.page_size,
            key: options.key.clone(),
            read_only: false,
            create: true,
            verify_every_read: options.verify_every_read,
        };
        let (pager, opened) = Pager::open(&*vfs, dir, pager_options)?;
        let wal_dir = dir.join("wal");
        let meta = opened.meta.clone();
        // W11: generations 1 and 2 are the metas `data.aedb` is created with; the
        // first open anchors (checkpoints) once its first segment is durable, so a
        // database past them always has a segment reaching its checkpoint, and a
        // missing `wal/` is loss, not a database that never had one.
        let anchored = meta.generation > 2;
        let recover = if anchored { recover_anchored } else { recover };
        let key = options.key.as_ref();
        let (seq, hash) = (meta.checkpoint_seq, meta.wal_chain_hash);
        let rec: WalRecovery = recover(&*vfs, &wal_dir, key, seq, hash, options.recovery)?;
        if !vfs.exists(&wal_dir).map_err(|e| StorageError::io("checking", &wal_dir, e))? {
            vfs.create_dir_all(&wal_dir).map_err(|e| StorageError::io("creating", &wal_dir, e))?;
            vfs.sync_dir(dir).map_err(|e| StorageError::io("syncing directory", dir, e))?;
        }
        let view = pager.view()?;
        let meta_root = match meta.root {
            Some(page) => Some(load_root(&view, PageId(page), meta.root_generation, ROOT_DIR_OWNER)?),
            None => None,
        };
        let mut root_dir = meta_root;
        let mut pages = 0u64;
        let replayed = rec.frames.len() as u64;
        for (seq, payload, _) in &rec.frames {
            let effects = effects::decode(payload).map_err(|detail| StorageError::WalCorruption {
                segment: wal_dir.clone(),
                offset: 0,
                seq: *seq,
                rule: "E1",
                detail,
            })?;
            let mut core = TxnCore::new(&pager, &options, root_dir, *seq)?;
            apply(&mut core, effects)?;
            let (root, written) = core.finish()?;
            root_dir = root;
            pages += written as u64;
        }
        let wal = WalWriter::start(vfs.clone(), wal_dir, options.key.clone(), options.wal_segment_bytes, rec.segments.clone(), rec.head_seq, rec.head_hash)?;
        let snapshot = Snapshot { view: pager.view()?, root_dir, seq: rec.head_seq, chain_hash: rec.head_hash };
        // Until the next checkpoint, the checkpointed state is the meta's own root,
        // from before any replay.
        let checkpoint_snapshot = Arc::new(Snapshot { view: view.clone(), root_dir: meta_root, seq: meta.checkpoint_seq, chain_hash: meta.wal_chain_hash });
        let heads = CommitHeads { visible: rec.head_seq, durable: rec.head_seq, checkpoint: meta.checkpoint_seq, stopped: false };
        let notifier = Arc::new(Notifier::new(heads));
        let sync = SyncState {
            appended: rec.head_seq,
            durable: rec.head_seq,
            syncing: false,
            file: wal.current(),
            poisoned: None,
            waiters: Vec::new(),
            notifier: notifier.clone(),
        };
        let report = RecoveryReport {
            checkpoint_seq: meta.checkpoint_seq,
            replayed,
            head_seq: rec.head_seq,
            truncated: rec.truncated.clone(),
            unvouched_tail_truncated: rec.unvouched_tail_truncated,
            dropped: rec.dropped.clone(),
            wal_missing: rec.wal_missing.clone(),
            ignored_meta: opened.ignored.as_ref().map(|d| d.to_string()),
        };
        let writer = WriterState {
            root_dir,
            seq: rec.head_seq,
            hash: rec.head_hash,
            wal,
            checkpoint_seq: meta.checkpoint_seq,
            pages_since_checkpoint: pages,
            last_checkpoint: Instant::now(),
        };
        Ok(Engine {
            dir: dir.to_path_buf(),
            options,
            pager,
            writer: Mutex::new(writer),
            latest: ArcSwap::from_pointee(snapshot),
            sync: Mutex::new(sync),
            readers: Mutex::new(BTreeMap::new()),
            retained: Mutex::new(VecDeque::new()),
            at_checkpoint: Mutex::new(checkpoint_snapshot),
            report,
            notifier,
        })
    }

    fn poisoned(&self) -> Option<Poison> {
        lock(&self.sync).poisoned.clone()
    }

    /// Poisons the engine because of `cause` (the first cause is kept) and returns
    /// the error the failing call reports.
    fn poison(&self, why: String, cause: &dyn PoisonCause) -> StorageError {
        let mut s = lock(&self.sync);
        let poison = s.poisoned.get_or_insert_with(|| Poison { why, out_of_space: cause.out_of_space() }).clone();
        s.wake();
        poison.error()
    }

    /// The writer lock, refused once the engine is poisoned. Poison is checked
    /// *after* the lock is taken (invariant 4): a writer that queued on the lock
    /// while another commit failed must see that failure, not commit behind it.
    fn writer(&self) -> Result<MutexGuard<'_, WriterState>> {
        let state = lock(&self.writer);
        if let Some(p) = self.poisoned() {
            return Err(p.error());
        }
        Ok(state)
    }

    fn begin_write(&self) -> Result<WriteTransaction<'_>> {
        let state = self.writer()?;
        self.release_pages_behind_readers();
        let core = TxnCore::new(&self.pager, &self.options, state.root_dir, state.seq + 1)?;
        Ok(WriteTransaction { engine: self, state, core, effects: Vec::new(), effect_bytes: 4, overrun: None })
    }

    pub(crate) fn begin_read(self: &Arc<Self>) -> ReadTransaction {
        // Register under the registry lock while loading, so a writer computing the
        // oldest reader cannot miss this one (invariant 5).
        let mut readers = lock(&self.readers);
        let snapshot = self.latest.load_full();
        *readers.entry(snapshot.seq).or_insert(0) += 1;
        drop(readers);
        ReadTransaction::new(self.clone(), snapshot)
    }

    /// A read transaction at the consistency asked for.
    pub(crate) fn begin_read_at(self: &Arc<Self>, at: Consistency) -> Result<ReadTransaction> {
        let snapshot = match at {
            Consistency::Latest => return Ok(self.begin_read()),
            Consistency::AtCheckpoint => {
                // Register under the same lock a checkpoint swaps it under, so the
                // state cannot lose its meta protection before it is registered.
                let at = lock(&self.at_checkpoint);
                *lock(&self.readers).entry(at.seq).or_insert(0) += 1;
                let snapshot = at.clone();
                drop(at);
                return Ok(ReadTransaction::new(self.clone(), snapshot));
            }
            Consistency::AtSeq(seq) => {
                // Register while `retained` is held (lock order retained -> readers,
                // as in `retain`): once the lock is let go, a commit may pop this
                // snapshot and release its pages, so a later registration would
                // protect pages already handed out again (invariant 5).
                let retained = lock(&self.retained);
                let latest = self.latest.load_full();
                let snapshot = if latest.seq == seq {
                    latest
                } else {
                    let found = retained.iter().find(|(s, _)| s.seq == seq).map(|(s, _)| s.clone());
                    let oldest = retained.front().map_or(latest.seq, |(s, _)| s.seq);
                    found.ok_or(StorageError::SnapshotUnavailable { seq, oldest, newest: latest.seq })?
                };
                *lock(&self.readers).entry(snapshot.seq).or_insert(0) += 1;
                drop(retained);
                snapshot
            }
        };
        Ok(ReadTransaction::new(self.clone(), snapshot))
    }

    /// Keeps `snapshot` for `AtSeq` reads and lets go of the ones past the window.
    fn retain(&self, snapshot: Arc<Snapshot>) {
        let mut retained = lock(&self.retained);
        *lock(&self.readers).entry(snapshot.seq).or_insert(0) += 1;
        retained.push_back((snapshot, Instant::now()));
        let max_age = Duration::from_millis(self.options.snapshot_retention_ms);
        while retained.len() > self.options.snapshot_retention_count || retained.front().is_some_and(|(_, t)| t.elapsed() > max_age) {
            if let Some((old, _)) = retained.pop_front() {
                self.release_reader(old.seq);
            }
        }
    }

    /// Invariant 5: tells the pager which retired pages no registered reader can see
    /// (those retired at or below the oldest reader's seq stay put).
    fn release_pages_behind_readers(&self) {
        let safe_below = lock(&self.readers).keys().next().map_or(u64::MAX, |oldest| oldest + 1);
        self.pager.release_readers_below(safe_below);
    }

    pub(crate) fn release_reader(&self, seq: u64) {
        let mut readers = lock(&self.readers);
        if let Some(n) = readers.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                readers.remove(&seq);
            }
        }
    }

    pub(crate) fn commit(&self, txn: WriteTransaction<'_>, finality: Finality) -> Result<CommitResult> {
        let WriteTransaction { mut state, core, effects, .. } = txn;
        let seq = core.seq;
        // Invariant 4: a sync may have failed while this transaction was being
        // built (syncs run outside the writer lock); nothing commits behind it.
        if let Some(p) = self.poisoned() {
            return Err(p.error());
        }
        let payload = effects::encode(&effects);
        if payload.len() > MAX_PAYLOAD {
            return Err(StorageError::CommitTooLarge { len: payload.len(), limit: MAX_PAYLOAD });
        }
        // Invariant 4: from here on a failure leaves memory and files disagreeing,
        // and so does a panic: the guard poisons the engine if this frame unwinds.
        let unwind = PoisonOnUnwind { engine: self, seq };
        let (root_dir, written) = core.finish().map_err(|e| self.poison(format!("commit {seq} failed while writing pages: {e}"), &e))?;
        let synced_upto = lock(&self.sync).durable;
        let hash = state.wal.append(seq, synced_upto, &payload).map_err(|e| self.poison(format!("commit {seq} failed while appending to the WAL: {e}"), &e))?;
        state.seq = seq;
        state.hash = hash;
        state.root_dir = root_dir;
        state.pages_since_checkpoint += written as u64;
        let view = self.pager.view().map_err(|e| self.poison(format!("commit {seq}: {e}"), &e))?;
        let snapshot = Arc::new(Snapshot { view, root_dir, seq, chain_hash: hash });
        {
            // Publish under the sync lock, where poison is set: either the failure
            // came first and this commit is refused unpublished, or the commit is
            // published before the failure, as if it had finished first.
            let mut s = lock(&self.sync);
            if let Some(p) = &s.poisoned {
                return Err(p.error());
            }
            self.latest.store(snapshot.clone());
            s.notifier.visible(seq);
            s.appended = seq;
            s.file = state.wal.current();
        }
        drop(unwind);
        self.retain(snapshot);
        if self.checkpoint_due(&state) {
            self.checkpoint_locked(&mut state)?;
        }
        drop(state);
        if finality == Finality::Durable {
            let may_sync = matches!(self.options.durability, DurabilityMode::Full);
            self.wait_durable(seq, may_sync)?;
        }
        Ok(CommitResult { seq, chain_hash: hash })
    }

    fn checkpoint_due(&self, st: &WriterState) -> bool {
        let o = &self.options;
        st.wal.bytes_since_checkpoint >= o.checkpoint_wal_bytes
            || st.pages_since_checkpoint * u64::from(self.pager.page_size()) >= o.checkpoint_dirty_bytes
            || o.checkpoint_interval_ms.is_some_and(|ms| st.last_checkpoint.elapsed() >= Duration::from_millis(ms))
    }

    /// Invariant 2: returns once `seq` is durable (or the engine is poisoned). With
    /// `may_sync` false the caller only waits for someone else's sync.
    pub(crate) fn wait_durable(&self, seq: u64, may_sync: bool) -> Result<()> {
        let mut s = lock(&self.sync);
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
                s = lock(&self.sync);
                let me = std::thread::current().id();
                s.waiters.retain(|(_, _, t)| t.id() != me);
                continue;
            }
            s.syncing = true;
            let (target, file) = (s.appended, s.file.clone());
            drop(s);
            let mut result = file.sync_data();
            if result.is_err() && aedb_pager::mutation::active(aedb_pager::mutation::Mutation::RetryFailedSync) {
                result = file.sync_data();
            }
            s = lock(&self.sync);
            s.syncing = false;
            match result {
                Ok(()) => s.durable = s.durable.max(target),
                Err(e) => {
                    let out_of_space = e.kind() == std::io::ErrorKind::StorageFull;
                    s.poisoned.get_or_insert_with(|| Poison { why: format!("WAL sync failed: {e}"), out_of_space });
                }
            }
            s.wake();
        }
    }

    /// Invariant 4 at open: the frames recovery replayed may exist only in the page
    /// cache (a sync failed before the crash, and Linux then drops those pages at the
    /// next power loss however often they are synced again). Two checkpoints put the
    /// replayed state in both metas, so nothing acknowledged from now on depends on
    /// those frames.
    fn settle_recovery(&self) -> Result<()> {
        let mut st = self.writer()?;
        self.checkpoint_locked(&mut st)?;
        self.checkpoint_locked(&mut st)
    }

    /// W11 at open: a database whose metas are still the two it was created with
    /// takes its first checkpoint as soon as its first segment is durable, before
    /// any commit. From then on its meta generation is above 2, which tells a later
    /// open that a WAL reaching the checkpoint must exist (a crash before this point
    /// leaves a database that never acknowledged anything).
    fn anchor(&self) -> Result<()> {
        let mut st = self.writer()?;
        self.checkpoint_locked(&mut st)
    }

    /// Invariant 3.
    pub(crate) fn checkpoint_locked(&self, st: &mut WriterState) -> Result<()> {
        self.wait_durable(st.seq, true)?;
        let update = MetaUpdate { checkpoint_seq: st.seq, root: st.root_dir.map(|r| r.page), wal_chain_hash: st.hash };
        self.pager.commit(update).map_err(|e| self.poison(format!("checkpoint at seq {} failed: {e}", st.seq), &e))?;
        // The meta that was current is now the older one; segments it no longer
        // needs can go.
        let older = st.checkpoint_seq;
        st.checkpoint_seq = st.seq;
        // The checkpointed state's pages are held by the pager's two-meta rule, not by
        // a reader registration: registering it would pin every page retired since
        // the checkpoint, even pages that state never reached. A reader that opens
        // it registers like any reader.
        *lock(&self.at_checkpoint) = self.latest.load_full();
        self.notifier.checkpoint(st.seq);
        st.wal.rotate_if_used().map_err(|e| self.poison(format!("starting a WAL segment after the checkpoint failed: {e}"), &e))?;
        st.wal.delete_covered(older).map_err(|e| self.poison(format!("deleting WAL segments failed: {e}"), &e))?;
        lock(&self.sync).file = st.wal.current();
        st.wal.bytes_since_checkpoint = 0;
        st.pages_since_checkpoint = 0;
        st.last_checkpoint = Instant::now();
        // Writes after a checkpoint may reuse what two metas no longer reach.
        self.release_pages_behind_readers();
        Ok(())
    }
}
