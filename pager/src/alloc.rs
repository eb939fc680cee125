//! Page allocation: which page ids are free, and when a freed id may be reused.
//!
//! Invariants:
//! 1. Every id in `2..page_count` is either in use by the layer above or in exactly
//!    one of `ready` / `pending` (the free-list pages of the current meta count as in
//!    use until the next commit retires them).
//! 2. An id retired by the meta commit of generation `g` is still reachable from meta
//!    `g - 1`, which stays in the other meta slot until commit `g + 1` overwrites it,
//!    so it is reusable only while building generation `g + 2` or later. An id that no
//!    durable meta ever reached carries generation 0 and has no such wait.
//! 3. An id retired at reader epoch `e` is reusable only once every live reader is
//!    newer: `e < safe_below` (the layer above owns epochs; the pager only compares).
//! 4. Fresh ids come from the high-water mark `page_count` only when `ready` is empty
//!    (the free list's own pages included);
//!    `ready` hands out its lowest id first, so files stay dense and the tail can be
//!    truncated.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::format::freelist::FreeRun;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retired {
    generation: u64,
    epoch: Option<u64>,
}

/// The allocator's state; cloned at each commit so a failed generation can roll back.
///
/// Pending ids wait in two queues in retirement order: ids no durable meta reached
/// (only the reader epoch matters) and ids retired from a durable state (generation
/// and epoch both grow along the queue). So promotion pops eligible ids from the
/// fronts, costing what it promotes rather than what is pending.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allocator {
    pub(crate) page_count: u64,
    ready: BTreeSet<u64>,
    pending: BTreeMap<u64, Retired>,
    fresh_queue: VecDeque<u64>,
    durable_queue: VecDeque<u64>,
}

impl Allocator {
    pub(crate) fn new(page_count: u64) -> Allocator {
        Allocator { page_count, ..Allocator::default() }
    }

    /// Rebuilds the allocator from a persisted free list (rule F3 checked by caller).
    pub(crate) fn from_runs(page_count: u64, runs: &[FreeRun], building: u64) -> Result<Allocator, String> {
        let mut a = Allocator::new(page_count);
        let mut by_generation: Vec<&FreeRun> = runs.iter().collect();
        by_generation.sort_by_key(|r| r.retired_generation);
        for run in by_generation {
            for id in run.start..run.start + u64::from(run.len) {
                if a.is_free(id) {
                    return Err(format!("page {id} listed free twice"));
                }
                if run.retired_generation == 0 || run.retired_generation + 2 <= building {
                    a.ready.insert(id);
                } else {
                    a.pending.insert(id, Retired { generation: run.retired_generation, epoch: None });
                    a.durable_queue.push_back(id);
                }
            }
        }
        Ok(a)
    }

    pub(crate) fn is_free(&self, id: u64) -> bool {
        self.ready.contains(&id) || self.pending.contains_key(&id)
    }

    /// Hands out an id; the flag says whether it was reused (its old contents and
    /// verified bit are stale).
    pub(crate) fn allocate(&mut self) -> (u64, bool) {
        if let Some(id) = self.ready.pop_first() {
            (id, true)
        } else {
            let id = self.page_count;
            self.page_count += 1;
            (id, false)
        }
    }

    pub(crate) fn retire(&mut self, id: u64, generation: u64, epoch: Option<u64>) -> Result<(), String> {
        if id < 2 || id >= self.page_count {
            return Err(format!("page {id} retired but only 2..{} exist", self.page_count));
        }
        if self.is_free(id) {
            return Err(format!("page {id} retired twice"));
        }
        self.pending.insert(id, Retired { generation, epoch });
        if generation == 0 {
            self.fresh_queue.push_back(id);
        } else {
            self.durable_queue.push_back(id);
        }
        Ok(())
    }

    /// Moves every pending id that invariants 2 and 3 allow into `ready`.
    pub(crate) fn promote(&mut self, building: u64, safe_below: u64) {
        let planted = crate::mutation::active(crate::mutation::Mutation::ReuseBeforeCheckpoint);
        let eligible = |r: &Retired| (planted || r.generation == 0 || r.generation + 2 <= building) && r.epoch.is_none_or(|e| e < safe_below);
        for queue in [&mut self.fresh_queue, &mut self.durable_queue] {
            while let Some(&id) = queue.front() {
                match self.pending.get(&id) {
                    Some(r) if eligible(r) => {
                        self.pending.remove(&id);
                        self.ready.insert(id);
                    }
                    Some(_) => break,
                    None => {} // already promoted or reset by a rollback
                }
                queue.pop_front();
            }
        }
    }

    /// The free set as runs of consecutive ids with one retire generation.
    pub(crate) fn runs(&self) -> Vec<FreeRun> {
        let mut all: Vec<(u64, u64)> = self.ready.iter().map(|&id| (id, 0)).collect();
        all.extend(self.pending.iter().map(|(&id, r)| (id, r.generation)));
        all.sort_unstable();
        let mut runs: Vec<FreeRun> = Vec::new();
        for (id, generation) in all {
            match runs.last_mut() {
                Some(r) if r.start + u64::from(r.len) == id && r.retired_generation == generation && r.len < u32::MAX => {
                    r.len += 1;
                }
                _ => runs.push(FreeRun { start: id, len: 1, retired_generation: generation }),
            }
        }
        runs
    }

    /// Every free id, ascending (for accounting checks).
    pub(crate) fn free_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.ready.iter().copied().chain(self.pending.keys().copied()).collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_ids_wait_two_generations() {
        let mut a = Allocator::new(10);
        a.retire(5, 3, None).unwrap_or_else(|e| panic!("{e}"));
        a.promote(4, u64::MAX);
        assert_eq!(a.allocate(), (10, false));
        a.promote(5, u64::MAX);
        assert_eq!(a.allocate(), (5, true));
    }

    #[test]
    fn readers_hold_ids_back() {
        let mut a = Allocator::new(10);
        a.retire(4, 0, Some(7)).unwrap_or_else(|e| panic!("{e}"));
        a.promote(9, 7);
        assert!(!a.ready.contains(&4));
        a.promote(9, 8);
        assert!(a.ready.contains(&4));
    }

    #[test]
    fn runs_merge_and_round_trip() {
        let mut a = Allocator::new(20);
        for id in [3, 4, 5, 9] {
            a.retire(id, 2, None).unwrap_or_else(|e| panic!("{e}"));
        }
        let runs = a.runs();
        assert_eq!(runs.len(), 2);
        let b = Allocator::from_runs(20, &runs, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.free_ids(), vec![3, 4, 5, 9]);
        assert!(Allocator::from_runs(20, &[runs[0], runs[0]], 10).is_err());
    }
}
