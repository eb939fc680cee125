//! Checkpoints (engine invariant 3): when one is due, and taking one.
#![forbid(unsafe_code)]

use std::time::Instant;

use aedb_pager::MetaUpdate;

use crate::engine::{Engine, WriterState};
use crate::error::Result;

impl Engine {
    /// Invariant 3.
    pub(crate) fn checkpoint_locked(&self, st: &mut WriterState) -> Result<()> {
        let started = Instant::now();
        self.sync.wait_durable(st.seq, true)?;
        let update = MetaUpdate {
            checkpoint_seq: st.seq,
            root: st.root_dir.map(|r| r.page),
            wal_chain_hash: st.hash,
        };
        self.pager.commit(update).map_err(|e| {
            self.sync
                .poison(format!("checkpoint at seq {} failed: {e}", st.seq), &e)
        })?;
        // The meta that was current is now the older one; segments it no longer
        // needs can go.
        let older = st.checkpoint_seq;
        st.checkpoint_seq = st.seq;
        // The checkpointed state is held by the two-meta rule (readers invariant 3).
        self.readers.checkpointed();
        self.notifier.checkpoint(st.seq);
        st.wal.rotate_if_used().map_err(|e| {
            self.sync.poison(
                format!("starting a WAL segment after the checkpoint failed: {e}"),
                &e,
            )
        })?;
        st.wal.delete_covered(older).map_err(|e| {
            self.sync
                .poison(format!("deleting WAL segments failed: {e}"), &e)
        })?;
        self.sync.lock().file = st.wal.current();
        st.wal.bytes_since_checkpoint = 0;
        st.pages_since_checkpoint = 0;
        st.last_checkpoint = Instant::now();
        // Writes after a checkpoint may reuse what two metas no longer reach.
        self.release_pages_behind_readers();
        self.stats.checkpointed(started);
        tracing::debug!(
            seq = st.seq,
            micros = started.elapsed().as_micros() as u64,
            "aedb checkpoint"
        );
        Ok(())
    }
}
