//! Accumulator writes inside a write transaction: open the tree and its
//! state, make any number of changes, `finish` (prune what expired, write the
//! state). Every change keeps invariant 1 of the room.

use std::ops::Bound;

use crate::accumulator::state::{
    DEDUPE, DEDUPE_BY_SEQ, DELTA, Dedupe, Delta, EXPOSURE, EXPOSURE_BY_SEQ, Exposure, STATE_KEY,
    State, available, decode, encode, key, seq_key, split_seq_key,
};
use crate::catalog::{AccumulatorRecord, accumulator_tree};
use crate::error::AedbError;
use crate::storage::{TreeMut, WriteTransaction};

/// What an accumulate did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accumulated {
    Applied,
    /// The dedupe key named this very delta, committed at `commit_seq`.
    Duplicate {
        commit_seq: u64,
    },
}

/// One accumulator open for writing.
pub(crate) struct AccWrite<'t, 'db> {
    tree: TreeMut<'t, 'db>,
    tree_name: String,
    /// (project, scope, accumulator name).
    target: (String, String, String),
    /// `project.scope.name`, for errors.
    name: String,
    def: AccumulatorRecord,
    seq: u64,
    state: State,
    /// The state as stored: `finish` writes only a changed one.
    stored: State,
}

/// Keys of a tree range `[lo, hi)`, in order.
fn keys_between(
    tree: &mut TreeMut<'_, '_>,
    lo: &[u8],
    hi: &[u8],
) -> Result<Vec<Vec<u8>>, AedbError> {
    let range = tree.entries(Bound::Included(lo), Bound::Excluded(hi), usize::MAX)?;
    Ok(range.into_iter().map(|(k, _)| k).collect())
}

impl<'t, 'db> AccWrite<'t, 'db> {
    pub(crate) fn open(
        txn: &'t mut WriteTransaction<'db>,
        def: AccumulatorRecord,
        target: (String, String, String),
    ) -> Result<Self, AedbError> {
        let name = format!("{}.{}.{}", target.0, target.1, target.2);
        let seq = txn.seq();
        let tree_name = accumulator_tree(def.id);
        let mut tree = txn.open_tree(&tree_name)?;
        let state = match tree.get(STATE_KEY)? {
            Some(b) => decode(&tree_name, STATE_KEY, &b)?,
            None => State::default(),
        };
        let mut this = AccWrite {
            tree,
            tree_name,
            target,
            name,
            def,
            seq,
            stored: state.clone(),
            state,
        };
        this.expire_exposures()?;
        Ok(this)
    }

    /// Applies `delta` under `dedupe_key` and `order_key`, releases
    /// `release` (if open) in the same change, and projects when
    /// `snapshot_every` deltas are pending.
    pub(crate) fn accumulate(
        &mut self,
        delta: i64,
        dedupe_key: &str,
        order_key: u64,
        release: Option<&str>,
    ) -> Result<Accumulated, AedbError> {
        if dedupe_key.is_empty() {
            return Err(AedbError::Validation(format!(
                "accumulator {}: a delta needs a dedupe key",
                self.name
            )));
        }
        self.forget_old_dedupe_keys()?;
        let k = key(DEDUPE, dedupe_key.as_bytes());
        if let Some(b) = self.tree.get(&k)? {
            let seen: Dedupe = decode(&self.tree_name, &k, &b)?;
            if seen.order_key == order_key && seen.delta == delta {
                return Ok(Accumulated::Duplicate {
                    commit_seq: seen.commit_seq,
                });
            }
            return Err(AedbError::Validation(format!(
                "accumulator {}: dedupe key {dedupe_key:?} was used by commit {} for delta {} at order key {}",
                self.name, seen.commit_seq, seen.delta, seen.order_key
            )));
        }
        if order_key <= self.state.latest_order_key {
            return Err(AedbError::OrderKeyNotIncreasing {
                accumulator: self.name.clone(),
                latest: self.state.latest_order_key,
                got: order_key,
            });
        }
        let pending = self.state.pending + i128::from(delta);
        if i64::try_from(i128::from(self.state.value) + pending).is_err() {
            return Err(AedbError::Overflow);
        }
        let record = Delta {
            delta,
            commit_seq: self.seq,
            dedupe_key: dedupe_key.to_string(),
        };
        let dk = key(DELTA, &order_key.to_be_bytes());
        self.tree.insert(&dk, &encode(&record)?)?;
        let seen = Dedupe {
            order_key,
            delta,
            commit_seq: self.seq,
        };
        self.tree.insert(&k, &encode(&seen)?)?;
        let qk = seq_key(DEDUPE_BY_SEQ, self.seq, dedupe_key.as_bytes());
        self.tree.insert(&qk, &[])?;
        let s = &mut self.state;
        s.pending = pending;
        s.unapplied += 1;
        s.latest_order_key = order_key;
        s.latest_seq = self.seq;
        if let Some(id) = release {
            self.release(id)?;
        }
        if self.state.unapplied >= self.def.snapshot_every.max(1) {
            self.project()?;
        }
        Ok(Accumulated::Applied)
    }

    /// Reserves `amount` under `id`, if `available` covers it.
    pub(crate) fn expose(&mut self, amount: i64, id: &str) -> Result<(), AedbError> {
        if amount <= 0 || id.is_empty() {
            return Err(AedbError::Validation(format!(
                "accumulator {}: an exposure needs a positive amount and an id (got {amount}, {id:?})",
                self.name
            )));
        }
        let ek = key(EXPOSURE, id.as_bytes());
        if self.tree.get(&ek)?.is_some() {
            return Err(AedbError::Validation(format!(
                "accumulator {}: exposure {id:?} is already open",
                self.name
            )));
        }
        let effective = self.state.effective(&self.name)?;
        let left = available(
            effective,
            self.def.exposure_margin_bps,
            self.state.total_exposure,
        );
        if amount > left {
            let (project_id, scope_id, accumulator_name) = self.target.clone();
            return Err(AedbError::ExposureRejected {
                project_id,
                scope_id,
                accumulator_name,
                requested: amount,
                available: left,
            });
        }
        let e = Exposure {
            amount,
            opened_at_seq: self.seq,
        };
        self.tree.insert(&ek, &encode(&e)?)?;
        self.tree
            .insert(&seq_key(EXPOSURE_BY_SEQ, self.seq, id.as_bytes()), &[])?;
        self.state.total_exposure += amount;
        self.state.open_exposures += 1;
        Ok(())
    }

    /// Releases exposure `id`; false if none is open (released already, or
    /// expired): releasing is idempotent, so a late settlement still applies.
    pub(crate) fn release(&mut self, id: &str) -> Result<bool, AedbError> {
        let ek = key(EXPOSURE, id.as_bytes());
        let Some(b) = self.tree.remove(&ek)? else {
            return Ok(false);
        };
        let e: Exposure = decode(&self.tree_name, &ek, &b)?;
        self.tree
            .remove(&seq_key(EXPOSURE_BY_SEQ, e.opened_at_seq, id.as_bytes()))?;
        self.state.total_exposure -= e.amount;
        self.state.open_exposures -= 1;
        Ok(true)
    }

    /// The projector: folds every pending delta into the materialized value
    /// and deletes their records.
    pub(crate) fn project(&mut self) -> Result<(), AedbError> {
        for dk in keys_between(&mut self.tree, &[DELTA], &[DELTA + 1])? {
            self.tree.remove(&dk)?;
        }
        let s = &mut self.state;
        s.value =
            i64::try_from(i128::from(s.value) + s.pending).map_err(|_| AedbError::Overflow)?;
        s.pending = 0;
        s.unapplied = 0;
        s.last_applied_order_key = s.latest_order_key;
        s.materialized_seq = self.seq;
        Ok(())
    }

    /// What `available` is now (for read assertions inside a write).
    pub(crate) fn available(&self) -> Result<i64, AedbError> {
        let effective = self.state.effective(&self.name)?;
        Ok(available(
            effective,
            self.def.exposure_margin_bps,
            self.state.total_exposure,
        ))
    }

    /// Counts a refused exposure (in a commit of its own: the refused one
    /// wrote nothing).
    pub(crate) fn count_rejection(&mut self) {
        self.state.rejections += 1;
    }

    /// Writes the state, if it changed (a read inside a write, a release of
    /// nothing, leave the tree as it was).
    pub(crate) fn finish(mut self) -> Result<(), AedbError> {
        if self.state != self.stored {
            self.tree.insert(STATE_KEY, &encode(&self.state)?)?;
        }
        Ok(())
    }

    /// Removes the exposures past their TTL (opened at s, gone from commit
    /// s + ttl on).
    fn expire_exposures(&mut self) -> Result<(), AedbError> {
        let Some(ttl) = self.def.exposure_ttl_commits else {
            return Ok(());
        };
        let Some(cutoff) = self.seq.checked_sub(ttl) else {
            return Ok(());
        };
        let hi = seq_key(EXPOSURE_BY_SEQ, cutoff + 1, &[]);
        for xk in keys_between(&mut self.tree, &[EXPOSURE_BY_SEQ], &hi)? {
            let (_, id) = split_seq_key(&self.tree_name, &xk)?;
            let id = String::from_utf8_lossy(id).into_owned();
            self.release(&id)?;
            // An `x` key whose exposure was replaced is removed all the same.
            self.tree.remove(&xk)?;
        }
        Ok(())
    }

    /// Forgets dedupe keys older than `dedupe_retain_commits`.
    fn forget_old_dedupe_keys(&mut self) -> Result<(), AedbError> {
        let Some(retain) = self.def.dedupe_retain_commits else {
            return Ok(());
        };
        let Some(cutoff) = self.seq.checked_sub(retain) else {
            return Ok(());
        };
        let hi = seq_key(DEDUPE_BY_SEQ, cutoff + 1, &[]);
        for qk in keys_between(&mut self.tree, &[DEDUPE_BY_SEQ], &hi)? {
            let (_, dedupe_key) = split_seq_key(&self.tree_name, &qk)?;
            self.tree.remove(&key(DEDUPE, dedupe_key))?;
            self.tree.remove(&qk)?;
        }
        Ok(())
    }
}
