//! Write transactions: the writer lock, the edits (a `TxnCore`), and the effects
//! log for the WAL, bounded as it grows (engine invariant 11) or let go once
//! the transaction turns large (engine invariant 14). `commit` hands the parts
//! to the engine; dropping the transaction (or `abort`) leaves nothing.
#![forbid(unsafe_code)]

use std::ops::Bound;
use std::sync::MutexGuard;

use aedb_btree::WriteTxn;

use crate::catalog::check_name;
use crate::core::TxnCore;
use crate::effects::{Effect, TRAILER_LEN};
use crate::engine::{Engine, WriterState};
use crate::error::{Result, StorageError};
use crate::snapshot::{CommitResult, Finality};
use crate::stats::Stats;
use crate::wal::frame::MAX_PAYLOAD;

/// A write transaction. One at a time per database (it holds the writer lock);
/// commit with a [`Finality`], or drop/[`WriteTransaction::abort`] to leave nothing.
pub struct WriteTransaction<'db> {
    engine: &'db Engine,
    state: MutexGuard<'db, WriterState>,
    core: TxnCore<'db>,
    effects: Vec<Effect>,
    /// Encoded size of `effects` (the WAL payload), kept as they are logged so a
    /// transaction is refused the moment it crosses its bound, not after encoding.
    effect_bytes: usize,
    /// Past `large_commit_bytes`: effects are no longer logged, and the commit
    /// goes through the page file (engine invariant 14).
    large: bool,
    /// The bound this transaction crossed; it can then only be aborted.
    overrun: Option<(&'static str, u64, u64)>,
    /// A spill that failed (a page write): the edit before it was made and
    /// its caller told of the error, so the transaction can only be aborted.
    spill_failed: Option<String>,
}

/// A named tree open for writing.
pub struct TreeMut<'t, 'db> {
    txn: &'t mut WriteTransaction<'db>,
    name: Vec<u8>,
}

impl<'db> WriteTransaction<'db> {
    pub(crate) fn new(engine: &'db Engine) -> Result<Self> {
        let (state, core) = engine.begin_write()?;
        Ok(Self::from_parts(engine, state, core))
    }

    /// The next transaction under a writer lock already held (the coalescing
    /// leader commits one closure after another without letting it go).
    pub(crate) fn under(engine: &'db Engine, state: MutexGuard<'db, WriterState>) -> Result<Self> {
        let core = engine.begin_under(&state)?;
        Ok(Self::from_parts(engine, state, core))
    }

    fn from_parts(
        engine: &'db Engine,
        state: MutexGuard<'db, WriterState>,
        core: TxnCore<'db>,
    ) -> Self {
        // An empty payload is its 4-byte effect count.
        WriteTransaction {
            engine,
            state,
            core,
            effects: Vec::new(),
            effect_bytes: 4,
            large: false,
            overrun: None,
            spill_failed: None,
        }
    }

    /// The seq this transaction commits as.
    pub fn seq(&self) -> u64 {
        self.core.seq
    }

    /// Opens tree `name`, creating it if it does not exist.
    pub fn open_tree(&mut self, name: &str) -> Result<TreeMut<'_, 'db>> {
        check_name(name)?;
        // A tree this transaction already opened needs no directory lookup.
        let existed = self.core.exists(name.as_bytes())?;
        self.core.tree(name.as_bytes(), true)?;
        if !existed {
            self.log(Effect::CreateTree {
                name: name.as_bytes().to_vec(),
            })?;
        }
        Ok(TreeMut {
            txn: self,
            name: name.as_bytes().to_vec(),
        })
    }

    /// Opens tree `name` if it exists, without creating it (for reads on the write
    /// side: a missing tree is the caller's finding, not an empty new tree).
    pub fn existing_tree(&mut self, name: &str) -> Result<Option<TreeMut<'_, 'db>>> {
        check_name(name)?;
        if !self.core.exists(name.as_bytes())? {
            return Ok(None);
        }
        self.core.tree(name.as_bytes(), false)?;
        Ok(Some(TreeMut {
            txn: self,
            name: name.as_bytes().to_vec(),
        }))
    }

    /// Deletes tree `name` and everything in it; false if it did not exist.
    pub fn delete_tree(&mut self, name: &str) -> Result<bool> {
        check_name(name)?;
        let dropped = self.core.drop_tree(name.as_bytes())?;
        if dropped {
            self.log(Effect::DropTree {
                name: name.as_bytes().to_vec(),
            })?;
        }
        Ok(dropped)
    }

    /// Names of every tree, as this transaction sees them.
    pub fn list_trees(&self) -> Result<Vec<String>> {
        Ok(self
            .core
            .list()?
            .into_iter()
            .map(|n| String::from_utf8_lossy(&n).into_owned())
            .collect())
    }

    /// The effects logged so far, in order (what the WAL frame will hold): the
    /// facade's change feed reads which keys this commit touched from here.
    /// `None` once the transaction turned large (`large_commit_bytes`): it
    /// no longer logs them.
    pub fn effects(&self) -> Option<&[Effect]> {
        (!self.large).then_some(&self.effects[..])
    }

    /// Whether this transaction will commit as a large commit (its effects
    /// passed `large_commit_bytes`).
    pub fn is_large(&self) -> bool {
        self.large
    }

    /// Bytes of tree pages this transaction holds in memory now (copied by its
    /// edits and not spilled).
    pub fn dirty_bytes(&self) -> u64 {
        (self.core.dirty_pages() as u64).saturating_mul(u64::from(self.engine.pager.page_size()))
    }

    /// Makes the transaction's effects visible (and, for `Durable`, durable).
    pub fn commit(self, finality: Finality) -> Result<CommitResult> {
        let engine = self.engine;
        let (state, result) = self.commit_visible()?;
        // A large commit (no lock handed back) is durable as it is published.
        if let Some(state) = state {
            engine.after_commit(state, result.seq, finality)?;
        }
        Ok(result)
    }

    /// Publishes the transaction (`Visible`) and hands back the writer lock
    /// for `Engine::after_commit`; `None` after a large commit, which is
    /// durable already and let the lock go.
    pub(crate) fn commit_visible(
        self,
    ) -> Result<(Option<MutexGuard<'db, WriterState>>, CommitResult)> {
        if let Some((what, bytes, limit)) = self.overrun {
            return Err(StorageError::TransactionTooLarge { what, bytes, limit });
        }
        if let Some(why) = self.spill_failed {
            return Err(StorageError::TransactionFailed(why));
        }
        let WriteTransaction {
            engine,
            state,
            core,
            effects,
            large,
            ..
        } = self;
        if large {
            return Ok((None, engine.commit_large(state, core)?));
        }
        let (state, result) = engine.commit_visible(state, core, &effects)?;
        Ok((Some(state), result))
    }

    /// Abandons every edit and hands back the writer lock.
    pub(crate) fn abort_keeping_lock(self) -> MutexGuard<'db, WriterState> {
        self.state
    }

    /// Admits `effect` before the edit it records is made: turns the
    /// transaction large if logging it would pass `large_commit_bytes`, or
    /// refuses it if it would cross `max_txn_effect_bytes`. Either bound is
    /// capped so the payload and its trailer fit one WAL frame.
    fn reserve(&mut self, encoded_len: usize) -> Result<()> {
        if self.large {
            return Ok(());
        }
        let bytes = self.effect_bytes.saturating_add(encoded_len);
        let frame = MAX_PAYLOAD - TRAILER_LEN;
        let options = &self.engine.options;
        if options
            .large_commit_bytes
            .is_some_and(|large| bytes > large.min(frame))
        {
            self.large = true;
            self.effects = Vec::new();
            return Ok(());
        }
        let limit = options.max_txn_effect_bytes.min(frame);
        if bytes > limit {
            return Err(self.refuse("effects", bytes as u64, limit as u64));
        }
        Ok(())
    }

    fn log(&mut self, effect: Effect) -> Result<()> {
        self.reserve(effect.encoded_len())?;
        self.push(effect);
        Ok(())
    }

    /// Records an effect `reserve` already admitted (nothing once large).
    fn push(&mut self, effect: Effect) {
        if !self.large {
            self.effect_bytes += effect.encoded_len();
            self.effects.push(effect);
        }
    }

    /// Spills the copied pages to the page file once they pass
    /// `spill_dirty_bytes` (engine invariant 11); refuses the transaction if
    /// they still cross `max_txn_dirty_bytes` (the edit that crossed it is
    /// made, so the transaction stays refused).
    fn check_dirty(&mut self) -> Result<()> {
        let page = u64::from(self.engine.pager.page_size());
        let mut bytes = (self.core.dirty_pages() as u64).saturating_mul(page);
        if bytes > self.engine.options.spill_dirty_bytes {
            let spilled = self.core.spill().inspect_err(|e| {
                self.spill_failed = Some(format!("spilling its pages failed: {e}"));
            })?;
            Stats::add(&self.engine.stats.spilled_pages, spilled as u64);
            bytes = (self.core.dirty_pages() as u64).saturating_mul(page);
        }
        let limit = self.engine.options.max_txn_dirty_bytes;
        if bytes > limit {
            return Err(self.refuse("copied pages", bytes, limit));
        }
        Ok(())
    }

    fn refuse(&mut self, what: &'static str, bytes: u64, limit: u64) -> StorageError {
        self.overrun = Some((what, bytes, limit));
        StorageError::TransactionTooLarge { what, bytes, limit }
    }

    /// Abandons every edit.
    pub fn abort(self) {}

    /// Compaction (`Database::compact`): rebuilds tree `name` at full fill;
    /// logs no effect.
    pub(crate) fn rebuild_tree(&mut self, name: &str) -> Result<bool> {
        self.core.rebuild_tree(name.as_bytes())
    }

    /// Compaction (`Database::compact`): moves pages at or above `threshold`
    /// down, holding at most about `max_dirty` copied pages; logs no effect.
    pub(crate) fn relocate_above(&mut self, threshold: u64, max_dirty: usize) -> Result<bool> {
        self.core.relocate_above(threshold, max_dirty)
    }
}

impl<'db> TreeMut<'_, 'db> {
    fn txn(&mut self) -> Result<&mut WriteTxn<'db>> {
        let TreeMut { txn, name } = self;
        txn.core
            .tree(name, false)?
            .ok_or_else(|| StorageError::TreeNotFound(String::from_utf8_lossy(name).into_owned()))
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>> {
        self.txn.reserve(Effect::put_len(&self.name, key, value))?;
        let old = self.txn()?.insert(key, value)?;
        if !self.txn.large {
            self.txn.push(Effect::Put {
                tree: self.name.clone(),
                key: key.to_vec(),
                value: value.to_vec(),
            });
        }
        self.txn.check_dirty()?;
        Ok(old)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.txn.reserve(Effect::delete_len(&self.name, key))?;
        let old = self.txn()?.remove(key)?;
        if old.is_some() {
            if !self.txn.large {
                self.txn.push(Effect::Delete {
                    tree: self.name.clone(),
                    key: key.to_vec(),
                });
            }
            self.txn.check_dirty()?;
        }
        Ok(old)
    }

    /// The value under `key`, including this transaction's edits.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.txn()?.get(key)?)
    }

    /// Entries in the tree, this transaction's edits included (O(1)).
    pub fn len(&mut self) -> Result<u64> {
        Ok(self.txn()?.len())
    }

    /// Runs `f` over the tree as this transaction sees it (ranges, counts).
    pub fn read<R>(
        &mut self,
        f: impl FnOnce(&aedb_btree::Tree<'_, aedb_btree::TxnSource<'_>>) -> R,
    ) -> Result<R> {
        Ok(self.txn()?.read(f))
    }

    /// Whether the tree has no entries, this transaction's edits included.
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Up to `limit` entries in `(lo, hi)`, in key order, copied out (so the
    /// caller may then change the tree: prune the oldest, for one).
    pub fn entries(
        &mut self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.read(|t| -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
            let mut out = Vec::new();
            for e in t.range(lo, hi)?.take(limit) {
                let (k, v) = e?;
                out.push((k.into_owned(), v.into_owned()));
            }
            Ok(out)
        })?
    }
}
