//! Checkpoints (engine invariant 3): taking one, blocking or fuzzy.
//!
//! A checkpoint has three steps. The **cut** (writer lock held, no I/O but the
//! free list's pages): the latest state is chosen, the pager begins its meta and
//! starts the next generation, the counters that make a checkpoint due restart.
//! **Persist** (no engine lock): the WAL is made durable through the cut, then
//! the pager syncs, writes the other meta slot and syncs; the cut becomes the
//! checkpointed state. **Trim** (writer lock): the checkpoint seq moves, later
//! frames go to a fresh segment (a rotation, as when a segment fills: the old
//! one's sync and the new one's creation), and WAL segments neither meta needs
//! are unlinked after the lock is let go.
//!
//! A fuzzy checkpoint (due at commit, `checkpoint_now`) lets the writer lock go
//! between the cut and the trim, so commits go on beside its page-file syncs;
//! the checkpoint gate (`Engine::checkpointing`) keeps one checkpoint at a time
//! and lets a backup pin wait for one in flight. The blocking form (open,
//! recovery, close, where nothing else runs) holds the lock throughout.
#![forbid(unsafe_code)]

use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use aedb_pager::{MetaUpdate, PendingMeta};

use crate::engine::{Engine, WriterState};
use crate::error::Result;
use crate::snapshot::Snapshot;
use crate::wal::Covered;

/// A checkpoint between its cut and its meta being durable.
pub(crate) struct Cut {
    pending: PendingMeta,
    seq: u64,
    snapshot: Arc<Snapshot>,
    started: Instant,
}

impl Engine {
    /// A checkpoint holding the writer lock throughout (open, recovery, close:
    /// nothing else runs).
    pub(crate) fn checkpoint_locked(&self, st: &mut WriterState) -> Result<()> {
        let cut = self.checkpoint_cut(st)?;
        let (seq, started) = (cut.seq, cut.started);
        self.checkpoint_persist(cut)?;
        let doomed = self.checkpoint_trim(st, seq)?;
        self.delete_segments(doomed)?;
        self.checkpoint_done(seq, started);
        Ok(())
    }

    /// A fuzzy checkpoint: the cut under `st` (the writer lock, let go right
    /// after), the syncs and the meta beside later commits, the trim under the
    /// writer lock again. `gate` is the held checkpoint gate.
    pub(crate) fn checkpoint_fuzzy(
        &self,
        gate: MutexGuard<'_, ()>,
        mut st: MutexGuard<'_, WriterState>,
    ) -> Result<()> {
        let cut = self.checkpoint_cut(&mut st)?;
        drop(st);
        let (seq, started) = (cut.seq, cut.started);
        self.checkpoint_persist(cut)?;
        let doomed = {
            let mut st = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            self.checkpoint_trim(&mut st, seq)?
        };
        self.delete_segments(doomed)?;
        self.checkpoint_done(seq, started);
        drop(gate);
        Ok(())
    }

    /// The cut: the latest state (published by the commit that made it, under
    /// this same lock) is the one to persist.
    fn checkpoint_cut(&self, st: &mut WriterState) -> Result<Cut> {
        let started = Instant::now();
        let snapshot = self.readers.latest();
        debug_assert_eq!(snapshot.seq, st.seq, "the latest snapshot is the writer's");
        let update = MetaUpdate {
            checkpoint_seq: st.seq,
            root: st.root_dir.map(|r| r.page),
            wal_chain_hash: st.hash,
        };
        let pending = self.pager.begin_commit(update).map_err(|e| {
            self.sync
                .poison(format!("checkpoint at seq {} failed: {e}", st.seq), &e)
        })?;
        st.wal.bytes_since_checkpoint = 0;
        st.pages_since_checkpoint = 0;
        st.last_checkpoint = Instant::now();
        self.stats.checkpoint_cut();
        Ok(Cut {
            pending,
            seq: st.seq,
            snapshot,
            started,
        })
    }

    /// The WAL durable through the cut, then the meta (pager: sync, other
    /// slot, sync); the cut is then the checkpointed state.
    fn checkpoint_persist(&self, cut: Cut) -> Result<()> {
        let seq = cut.seq;
        self.sync.wait_durable(seq, true)?;
        // A commit beside this checkpoint may have poisoned the engine (a failed
        // WAL sync) after the cut was durable: nothing is written after that.
        if let Some(p) = self.sync.poisoned() {
            return Err(p.error());
        }
        self.pager.finish_commit(cut.pending).map_err(|e| {
            self.sync
                .poison(format!("checkpoint at seq {seq} failed: {e}"), &e)
        })?;
        // The checkpointed state is held by the two-meta rule (readers invariant 3).
        self.readers.checkpointed(cut.snapshot);
        self.notifier.checkpoint(seq);
        Ok(())
    }

    /// The checkpoint seq moves to `seq`; frames go on in a fresh segment (so
    /// an open reads none the checkpoint holds); the meta that was current is
    /// now the older one, and the segments it no longer needs leave the
    /// writer's list, to be unlinked outside its lock.
    fn checkpoint_trim(&self, st: &mut WriterState, seq: u64) -> Result<Option<Covered>> {
        // Invariant 4, as for a commit: poison set while the lock was free
        // (a failed sync beside the checkpoint) stops the rotation.
        if let Some(p) = self.sync.poisoned() {
            return Err(p.error());
        }
        // A large commit beside this checkpoint put both metas past it and
        // trimmed already (invariant 14).
        if seq < st.checkpoint_seq {
            return Ok(None);
        }
        st.wal.rotate_if_used().map_err(|e| {
            self.sync.poison(
                format!("starting a WAL segment after the checkpoint failed: {e}"),
                &e,
            )
        })?;
        self.sync.lock().file = st.wal.current();
        let older = st.checkpoint_seq;
        st.checkpoint_seq = seq;
        Ok(Some(st.wal.take_covered(older)))
    }

    /// Unlinks segments a trim let go, and syncs the directory.
    pub(crate) fn delete_segments(&self, doomed: Option<Covered>) -> Result<()> {
        let Some(doomed) = doomed else {
            return Ok(());
        };
        doomed.delete().map(drop).map_err(|e| {
            self.sync
                .poison(format!("deleting WAL segments failed: {e}"), &e)
        })
    }

    fn checkpoint_done(&self, seq: u64, started: Instant) {
        // Writes after a checkpoint may reuse what two metas no longer reach.
        self.release_pages_behind_readers();
        self.stats.checkpointed(started);
        tracing::debug!(
            seq,
            micros = started.elapsed().as_micros() as u64,
            "aedb checkpoint"
        );
    }
}
