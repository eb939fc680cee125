//! Accumulator reads on a snapshot: every figure comes from the state record
//! (one read), less the exposures that expired by the snapshot's seq but that
//! no write has pruned yet.

use crate::accumulator::state::{
    EXPOSURE, EXPOSURE_BY_SEQ, Exposure, STATE_KEY, State, available, decode, key, seq_key,
    split_seq_key,
};
use crate::accumulator::{AccumulatorExposureMetrics, AccumulatorLag};
use crate::catalog::{AccumulatorRecord, accumulator_tree};
use crate::error::AedbError;
use crate::storage::{ReadTransaction, StorageError};

/// An accumulator as one snapshot holds it.
pub(crate) struct AccView {
    state: State,
    margin_bps: u32,
    /// `project.scope.name`, for errors.
    name: String,
    /// Open exposures past their TTL at this snapshot, not yet pruned.
    expired_sum: i64,
    expired_count: u64,
}

impl AccView {
    pub(crate) fn load(
        txn: &ReadTransaction,
        def: &AccumulatorRecord,
        name: String,
    ) -> Result<AccView, AedbError> {
        let tree_name = accumulator_tree(def.id);
        let mut view = AccView {
            state: State::default(),
            margin_bps: def.exposure_margin_bps,
            name,
            expired_sum: 0,
            expired_count: 0,
        };
        let h = match txn.tree_handle(&tree_name) {
            Ok(h) => h,
            // Created, never written.
            Err(StorageError::TreeNotFound(_)) => return Ok(view),
            Err(e) => return Err(e.into()),
        };
        let tree = txn.tree(h)?;
        if let Some(b) = tree.get(STATE_KEY)? {
            view.state = decode(&tree_name, STATE_KEY, &b)?;
        }
        if let Some(cutoff) = def
            .exposure_ttl_commits
            .and_then(|ttl| txn.seq().checked_sub(ttl))
        {
            let lo = [EXPOSURE_BY_SEQ];
            let hi = seq_key(EXPOSURE_BY_SEQ, cutoff + 1, &[]);
            let range = (
                std::ops::Bound::Included(&lo[..]),
                std::ops::Bound::Excluded(&hi[..]),
            );
            for item in tree.range(&range)? {
                let (xk, _) = item?;
                let (_, id) = split_seq_key(&tree_name, &xk)?;
                let ek = key(EXPOSURE, id);
                if let Some(b) = tree.get(&ek)? {
                    let e: Exposure = decode(&tree_name, &ek, &b)?;
                    view.expired_sum += e.amount;
                    view.expired_count += 1;
                }
            }
        }
        Ok(view)
    }

    /// The materialized value (may trail the deltas).
    pub(crate) fn value(&self) -> i64 {
        self.state.value
    }

    /// The materialized value plus every pending delta.
    pub(crate) fn effective(&self) -> Result<i64, AedbError> {
        self.state.effective(&self.name)
    }

    /// The open exposure.
    pub(crate) fn exposure(&self) -> i64 {
        self.state.total_exposure - self.expired_sum
    }

    pub(crate) fn available(&self) -> Result<i64, AedbError> {
        Ok(available(
            self.effective()?,
            self.margin_bps,
            self.exposure(),
        ))
    }

    pub(crate) fn lag(&self) -> AccumulatorLag {
        let s = &self.state;
        AccumulatorLag {
            latest_order_key: s.latest_order_key,
            last_applied_order_key: s.last_applied_order_key,
            lag_orders: s.latest_order_key - s.last_applied_order_key,
            latest_seq: s.latest_seq,
            materialized_seq: s.materialized_seq,
            lag_commits: s.latest_seq.saturating_sub(s.materialized_seq),
            unapplied_deltas: s.unapplied as usize,
            projector_error: None,
        }
    }

    pub(crate) fn metrics(&self) -> Result<AccumulatorExposureMetrics, AedbError> {
        Ok(AccumulatorExposureMetrics {
            total_exposure: self.exposure(),
            available: self.available()?,
            rejection_count: self.state.rejections,
            open_exposure_count: (self.state.open_exposures - self.expired_count) as usize,
        })
    }
}
