//! Large commits (engine invariant 14): a transaction whose effects passed
//! `large_commit_bytes` commits the way LMDB does instead of logging them.
//!
//! Its pages are in the page file already (every commit writes its pages at
//! commit). Under the writer lock it appends a frame that only names its root
//! directory (FORMAT E3), syncs the WAL segment (every frame through this one is
//! then durable), and commits two metas at its seq: from then on either meta
//! holds it, so either meta plus the WAL rebuilds every acknowledged commit (G5).
//! Only then is it published, Visible and Durable at once. The writer lock is
//! held throughout, so no frame follows the large frame until both metas hold
//! it.
//!
//! A crash before the first meta is durable leaves the frame above the
//! checkpoint with nothing after it: recovery cuts it (FORMAT W12), since it was
//! never acknowledged and its pages are reachable from no meta. After the first
//! meta it is the checkpoint; the older meta is then the one before it, and the
//! commit is still not acknowledged until the second meta is durable.
#![forbid(unsafe_code)]

use std::sync::MutexGuard;
use std::time::Instant;

use aedb_pager::MetaUpdate;

use crate::core::TxnCore;
use crate::effects::{self, Effect, LargeRoot};
use crate::engine::{Engine, PoisonOnUnwind, Published, WriterState, commit_time_micros};
use crate::error::Result;
use crate::snapshot::CommitResult;
use crate::stats::Stats;

impl Engine {
    /// Commits a large transaction's parts (`WriteTransaction::commit` once the
    /// transaction turned large); always durable on return.
    pub(crate) fn commit_large(
        &self,
        mut state: MutexGuard<'_, WriterState>,
        core: TxnCore<'_>,
    ) -> Result<CommitResult> {
        let seq = core.seq;
        let started = Instant::now();
        if let Some(p) = self.sync.poisoned() {
            return Err(p.error());
        }
        // A backup copies the metas and the WAL as they are, and this commit
        // writes both: it waits for the copies (a pin is taken under the writer
        // lock, so none starts meanwhile; releasing one needs no engine lock).
        self.backups.wait_released();
        let unwind = PoisonOnUnwind { engine: self, seq };
        let (root_dir, written) = core.finish().map_err(|e| {
            self.sync.poison(
                format!("large commit {seq} failed while writing pages: {e}"),
                &e,
            )
        })?;
        let root = root_dir.map(|r| LargeRoot {
            page: r.page.0,
            generation: r.generation,
        });
        let payload = effects::encode_at(&[Effect::LargeCommit { root }], commit_time_micros());
        let synced_upto = self.sync.lock().durable;
        let hash = state.wal.append(seq, synced_upto, &payload).map_err(|e| {
            self.sync.poison(
                format!("large commit {seq} failed while appending to the WAL: {e}"),
                &e,
            )
        })?;
        // One sync of the current segment covers every frame (invariant 4). The
        // durable seq is not raised: this commit is durable only with its metas.
        state.wal.current().sync_data().map_err(|e| {
            let e = crate::error::StorageError::io("syncing", self.dir.join("wal"), e);
            self.sync
                .poison(format!("large commit {seq}: WAL sync failed: {e}"), &e)
        })?;
        let update = MetaUpdate {
            checkpoint_seq: seq,
            root: root_dir.map(|r| r.page),
            wal_chain_hash: hash,
        };
        for _ in 0..2 {
            // Waits for a fuzzy checkpoint's meta in flight (pager invariant 8).
            self.pager.commit(update.clone()).map_err(|e| {
                self.sync
                    .poison(format!("large commit {seq} failed at its meta: {e}"), &e)
            })?;
        }
        state.seq = seq;
        state.hash = hash;
        state.root_dir = root_dir;
        state.wal.bytes_since_checkpoint = 0;
        state.pages_since_checkpoint = 0;
        state.last_checkpoint = Instant::now();
        // Both metas are at `seq`: as a checkpoint's trim, later frames go to a
        // fresh segment and every segment at or below `seq` can go.
        state.wal.rotate_if_used().map_err(|e| {
            self.sync.poison(
                format!("starting a WAL segment after large commit {seq} failed: {e}"),
                &e,
            )
        })?;
        let doomed = state.wal.take_covered(seq);
        state.checkpoint_seq = seq;
        let snapshot = self.publish(&state, Published::Durable)?;
        drop(unwind);
        self.readers.checkpointed(snapshot.clone());
        self.notifier.checkpoint(seq);
        self.readers.retain(snapshot);
        drop(state);
        self.delete_segments(Some(doomed))?;
        self.release_pages_behind_readers();
        Stats::add(&self.stats.pages_written, written as u64);
        Stats::add(&self.stats.large_commits, 1);
        tracing::debug!(
            seq,
            pages = written,
            micros = started.elapsed().as_micros() as u64,
            "aedb large commit"
        );
        Ok(CommitResult {
            seq,
            chain_hash: hash,
        })
    }
}
