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
//! 5. Ready ids that end at `page_count` are given back at each meta commit
//!    (`trim_tail`): the mark drops to the run's start, the meta records the
//!    smaller count, and the pager truncates the file once no durable meta needs
//!    the length (pager invariant 9).
//! 6. At open the newest meta may exist only in the page cache (a failed sync:
//!    the test `reopen_after_a_failed_sync_…`), so the durable older slot may
//!    still hold the meta before it: `from_runs` counts every listed run's wait
//!    from two generations later (capped at the generation being built).
//!
//! Cost: the free set is stored as runs (`IdRuns`), not id by id (review F19), so
//! memory, open (`from_runs`), `runs()` and the clones a commit takes grow with the
//! number of runs, not the number of free pages: a dropped million-page tree is a
//! handful of entries.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use crate::format::freelist::FreeRun;
use crate::idruns::IdRuns;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retired {
    generation: u64,
    epoch: Option<u64>,
}

/// Ids retired with one (generation, epoch): they become reusable together.
#[derive(Debug, Clone)]
struct Batch {
    retired: Retired,
    ids: IdRuns,
}

/// The allocator's state; cloned at each commit so a failed generation can roll back
/// (cheap: its size is in runs and batches).
///
/// Pending ids wait in two queues of batches in retirement order: ids no durable
/// meta reached (only the reader epoch matters) and ids retired from a durable state
/// (generation and epoch both grow along the queue). So promotion pops eligible
/// batches from the fronts, costing what it promotes rather than what is pending, and
/// a retire with the same (generation, epoch) as the newest batch joins it.
/// `pending` indexes every pending id for `is_free`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allocator {
    pub(crate) page_count: u64,
    ready: IdRuns,
    pending: IdRuns,
    fresh_queue: VecDeque<Batch>,
    durable_queue: VecDeque<Batch>,
}

impl Allocator {
    pub(crate) fn new(page_count: u64) -> Allocator {
        Allocator {
            page_count,
            ..Allocator::default()
        }
    }

    /// Rebuilds the allocator from a persisted free list (rule F3 checked by caller).
    pub(crate) fn from_runs(
        page_count: u64,
        runs: &[FreeRun],
        building: u64,
    ) -> Result<Allocator, String> {
        let mut a = Allocator::new(page_count);
        let mut by_generation: Vec<&FreeRun> = runs.iter().collect();
        by_generation.sort_by_key(|r| r.retired_generation);
        for run in by_generation {
            let (start, end) = (run.start, run.start.saturating_add(u64::from(run.len)));
            if let Some(id) = a
                .ready
                .first_overlap(start, end)
                .or_else(|| a.pending.first_overlap(start, end))
            {
                return Err(format!("page {id} listed free twice"));
            }
            // Invariant 6: at open, the newest meta may never have reached the
            // disk (its sync failed and this process reads it from the page
            // cache), so the meta before the older one may still be durable:
            // every wait counts two generations more (capped at the generation
            // being built, as the free list's rule F3 requires).
            let waits_from = (run.retired_generation + 2).min(building);
            if run.retired_generation == 0 || waits_from + 2 <= building {
                a.ready
                    .insert(start, end)
                    .map_err(|id| format!("page {id} listed free twice"))?;
            } else {
                let retired = Retired {
                    generation: waits_from,
                    epoch: None,
                };
                a.pending
                    .insert(start, end)
                    .map_err(|id| format!("page {id} listed free twice"))?;
                Allocator::enqueue(&mut a.durable_queue, retired, start, end);
            }
        }
        Ok(a)
    }

    fn enqueue(queue: &mut VecDeque<Batch>, retired: Retired, start: u64, end: u64) {
        let mut ids = IdRuns::default();
        if let Some(back) = queue.back_mut().filter(|b| b.retired == retired) {
            // Disjoint from every free id: the caller checked `pending` and `ready`.
            let _ = back.ids.insert(start, end);
            return;
        }
        let _ = ids.insert(start, end);
        queue.push_back(Batch { retired, ids });
    }

    /// Invariant 5: ready ids at the end of the file are not kept as free
    /// pages: the high-water mark drops below them. Returns the ids given back
    /// (`start..end`), if any.
    pub(crate) fn trim_tail(&mut self) -> Option<(u64, u64)> {
        let (start, end) = self.ready.last().filter(|&(_, e)| e == self.page_count)?;
        self.ready.remove(start, end);
        self.page_count = start;
        Some((start, end))
    }

    pub(crate) fn is_free(&self, id: u64) -> bool {
        self.ready.contains(id) || self.pending.contains(id)
    }

    /// Whether `id` is free and no reader waits on it (ready to hand out).
    pub(crate) fn is_ready(&self, id: u64) -> bool {
        self.ready.contains(id)
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

    pub(crate) fn retire(
        &mut self,
        id: u64,
        generation: u64,
        epoch: Option<u64>,
    ) -> Result<(), String> {
        if id < 2 || id >= self.page_count {
            return Err(format!(
                "page {id} retired but only 2..{} exist",
                self.page_count
            ));
        }
        if self.is_free(id) {
            return Err(format!("page {id} retired twice"));
        }
        self.pending
            .insert(id, id + 1)
            .map_err(|id| format!("page {id} retired twice"))?;
        let queue = if generation == 0 {
            &mut self.fresh_queue
        } else {
            &mut self.durable_queue
        };
        Allocator::enqueue(queue, Retired { generation, epoch }, id, id + 1);
        Ok(())
    }

    /// Moves every pending id that invariants 2 and 3 allow into `ready`.
    pub(crate) fn promote(&mut self, building: u64, safe_below: u64) {
        let planted = crate::mutation::active(crate::mutation::Mutation::ReuseBeforeCheckpoint);
        let eligible = |r: &Retired| {
            (planted || r.generation == 0 || r.generation + 2 <= building)
                && r.epoch.is_none_or(|e| e < safe_below)
        };
        for queue in [&mut self.fresh_queue, &mut self.durable_queue] {
            while let Some(batch) = queue.front() {
                if !eligible(&batch.retired) {
                    break;
                }
                for (start, end) in batch.ids.iter() {
                    // Every batch id is pending and not ready (invariant 1), so both
                    // always succeed; a failure would mean a bookkeeping bug, and the
                    // ids then simply stay out of `ready` (a leak, never a double use).
                    if self.pending.remove(start, end) {
                        let _ = self.ready.insert(start, end);
                    }
                }
                queue.pop_front();
            }
        }
    }

    /// The free set as runs of consecutive ids with one retire generation (ready ids
    /// count as generation 0), ascending, each at most `u32::MAX` long: the free
    /// list's on-disk runs, unchanged from the id-by-id allocator (FORMAT.md).
    pub(crate) fn runs(&self) -> Vec<FreeRun> {
        let mut all: Vec<(u64, u64, u64)> = self.ready.iter().map(|(s, e)| (s, e, 0)).collect();
        for batch in self.fresh_queue.iter().chain(&self.durable_queue) {
            all.extend(
                batch
                    .ids
                    .iter()
                    .map(|(s, e)| (s, e, batch.retired.generation)),
            );
        }
        all.sort_unstable();
        let mut merged: Vec<(u64, u64, u64)> = Vec::with_capacity(all.len());
        for (s, e, g) in all {
            match merged.last_mut() {
                Some(last) if last.1 == s && last.2 == g => last.1 = e,
                _ => merged.push((s, e, g)),
            }
        }
        let max = u64::from(u32::MAX);
        let mut runs = Vec::with_capacity(merged.len());
        for (mut s, e, g) in merged {
            while s < e {
                let len = (e - s).min(max);
                runs.push(FreeRun {
                    start: s,
                    len: len as u32,
                    retired_generation: g,
                });
                s += len;
            }
        }
        runs
    }

    /// How many ids are retired but not yet reusable: waiting for readers or
    /// for the two-meta rule (proportional to the runs).
    pub(crate) fn pending_count(&self) -> u64 {
        self.pending.iter().map(|(s, e)| e - s).sum()
    }

    /// How many ids are free or waiting to be (proportional to the runs).
    /// Ids reusable now (not waiting for readers or metas).
    pub(crate) fn ready_count(&self) -> u64 {
        self.ready.iter().map(|(s, e)| e - s).sum()
    }

    pub(crate) fn free_count(&self) -> u64 {
        self.ready
            .iter()
            .chain(self.pending.iter())
            .map(|(s, e)| e - s)
            .sum()
    }

    /// Every free id, ascending (for accounting checks: proportional to the ids).
    pub(crate) fn free_ids(&self) -> Vec<u64> {
        let mut runs: Vec<(u64, u64)> = self.ready.iter().chain(self.pending.iter()).collect();
        runs.sort_unstable();
        runs.into_iter().flat_map(|(s, e)| s..e).collect()
    }

    /// Entries held for the free set (runs and batches): what its memory is
    /// proportional to.
    #[cfg(test)]
    fn entries(&self) -> usize {
        let batches = self.fresh_queue.iter().chain(&self.durable_queue);
        self.ready.run_count()
            + self.pending.run_count()
            + batches.map(|b| 1 + b.ids.run_count()).sum::<usize>()
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
        assert!(!a.ready.contains(4));
        a.promote(9, 8);
        assert!(a.ready.contains(4));
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

    /// F19: one million contiguous pages freed by one generation are a handful of
    /// entries, pending and once reusable, and persist as one run.
    #[test]
    fn f19_free_set_is_stored_as_runs() {
        let n = 1_000_000u64;
        let mut a = Allocator::new(2 + n + 10);
        for id in 2..2 + n {
            a.retire(id, 5, Some(9)).unwrap_or_else(|e| panic!("{e}"));
        }
        println!("f19: {n} pending pages held in {} entries", a.entries());
        assert!(a.entries() <= 3, "{} entries for one run", a.entries());
        assert_eq!(
            a.runs(),
            vec![FreeRun {
                start: 2,
                len: n as u32,
                retired_generation: 5
            }]
        );
        a.promote(7, 10);
        println!("f19: {n} ready pages held in {} entries", a.entries());
        assert!(a.entries() <= 1, "{} entries after promotion", a.entries());
        let b = Allocator::from_runs(a.page_count, &a.runs(), 8).unwrap_or_else(|e| panic!("{e}"));
        assert!(b.entries() <= 1, "{} entries after reopen", b.entries());
        // A thousand pages reused, every other one freed again: 500 runs, each in the
        // pending index and in its batch; the cost follows the runs, not the pages.
        let mut c = b.clone();
        for _ in 0..1000 {
            c.allocate();
        }
        for id in (2..1002).step_by(2) {
            c.retire(id, 0, Some(1)).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(c.entries() <= 2 * 500 + 3, "{} entries", c.entries());
    }

    /// The run-based allocator against the id-by-id one it replaced: random
    /// allocate / retire (fresh and durable, with epochs) / promote / commit-style
    /// clone and rollback; same ids handed out, same free set, same runs on disk.
    #[test]
    fn model_against_the_id_by_id_allocator() {
        let seed = crate::sim::test_seed("allocator model", 0xa110c);
        let mut rng = fastrand::Rng::with_seed(seed);
        for round in 0..100 {
            let mut a = Allocator::new(2);
            let mut m = model::Allocator::new(2);
            let mut used: Vec<u64> = Vec::new();
            let (mut building, mut epoch, mut safe_below) = (3u64, 1u64, 0u64);
            let mut saved = (a.clone(), m.clone(), used.clone());
            for step in 0..400 {
                let ctx = format!("seed {seed}, round {round}, step {step}");
                match rng.u8(0..10) {
                    0..=3 => {
                        let got = a.allocate();
                        assert_eq!(got, m.allocate(), "{ctx}: allocate");
                        used.push(got.0);
                    }
                    4..=6 if !used.is_empty() => {
                        let id = used.swap_remove(rng.usize(..used.len()));
                        let generation = if rng.bool() { 0 } else { building };
                        let at = (rng.u8(0..4) != 0).then_some(epoch);
                        let (x, y) = (a.retire(id, generation, at), m.retire(id, generation, at));
                        assert_eq!(x, y, "{ctx}: retire {id}");
                    }
                    7 => {
                        epoch += 1;
                        safe_below = rng.u64(safe_below..=epoch);
                        a.promote(building, safe_below);
                        m.promote(building, safe_below);
                    }
                    8 => {
                        // A commit: a new generation, promotion, and a rollback point.
                        building += 1;
                        a.promote(building, safe_below);
                        m.promote(building, safe_below);
                        saved = (a.clone(), m.clone(), used.clone());
                        let runs = a.runs();
                        let back = Allocator::from_runs(a.page_count, &runs, building)
                            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                        assert_eq!(back.free_ids(), a.free_ids(), "{ctx}: from_runs");
                        let old = model::Allocator::from_runs(m.page_count, &runs, building)
                            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                        assert_eq!(back.runs(), old.runs(), "{ctx}: from_runs runs");
                    }
                    _ => {
                        if rng.u8(0..4) == 0 {
                            (a, m, used) = saved.clone();
                        }
                        let bad = rng.u64(0..a.page_count + 2);
                        assert_eq!(
                            a.retire(bad, 1, None).is_err(),
                            m.retire(bad, 1, None).is_err(),
                            "{ctx}: retire {bad}"
                        );
                    }
                }
                assert_eq!(a.page_count, m.page_count, "{ctx}");
                assert_eq!(a.runs(), m.runs(), "{ctx}: runs");
                assert_eq!(a.free_ids(), m.free_ids(), "{ctx}: free ids");
                let probe = rng.u64(0..a.page_count + 1);
                assert_eq!(a.is_free(probe), m.is_free(probe), "{ctx}: is_free {probe}");
            }
        }
    }

    mod model {
        use std::collections::{BTreeMap, BTreeSet, VecDeque};

        use crate::format::freelist::FreeRun;

        /// The id-by-id allocator this one replaced (c9f8ef2), as the reference.

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
        pub(super) struct Allocator {
            pub(super) page_count: u64,
            ready: BTreeSet<u64>,
            pending: BTreeMap<u64, Retired>,
            fresh_queue: VecDeque<u64>,
            durable_queue: VecDeque<u64>,
        }

        impl Allocator {
            pub(super) fn new(page_count: u64) -> Allocator {
                Allocator {
                    page_count,
                    ..Allocator::default()
                }
            }

            /// Rebuilds the allocator from a persisted free list (rule F3 checked by caller).
            pub(super) fn from_runs(
                page_count: u64,
                runs: &[FreeRun],
                building: u64,
            ) -> Result<Allocator, String> {
                let mut a = Allocator::new(page_count);
                let mut by_generation: Vec<&FreeRun> = runs.iter().collect();
                by_generation.sort_by_key(|r| r.retired_generation);
                for run in by_generation {
                    for id in run.start..run.start + u64::from(run.len) {
                        if a.is_free(id) {
                            return Err(format!("page {id} listed free twice"));
                        }
                        let waits_from = (run.retired_generation + 2).min(building);
                        if run.retired_generation == 0 || waits_from + 2 <= building {
                            a.ready.insert(id);
                        } else {
                            a.pending.insert(
                                id,
                                Retired {
                                    generation: waits_from,
                                    epoch: None,
                                },
                            );
                            a.durable_queue.push_back(id);
                        }
                    }
                }
                Ok(a)
            }

            pub(super) fn is_free(&self, id: u64) -> bool {
                self.ready.contains(&id) || self.pending.contains_key(&id)
            }

            /// Hands out an id; the flag says whether it was reused (its old contents and
            /// verified bit are stale).
            pub(super) fn allocate(&mut self) -> (u64, bool) {
                if let Some(id) = self.ready.pop_first() {
                    (id, true)
                } else {
                    let id = self.page_count;
                    self.page_count += 1;
                    (id, false)
                }
            }

            pub(super) fn retire(
                &mut self,
                id: u64,
                generation: u64,
                epoch: Option<u64>,
            ) -> Result<(), String> {
                if id < 2 || id >= self.page_count {
                    return Err(format!(
                        "page {id} retired but only 2..{} exist",
                        self.page_count
                    ));
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
            pub(super) fn promote(&mut self, building: u64, safe_below: u64) {
                let planted = false;
                let eligible = |r: &Retired| {
                    (planted || r.generation == 0 || r.generation + 2 <= building)
                        && r.epoch.is_none_or(|e| e < safe_below)
                };
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
            pub(super) fn runs(&self) -> Vec<FreeRun> {
                let mut all: Vec<(u64, u64)> = self.ready.iter().map(|&id| (id, 0)).collect();
                all.extend(self.pending.iter().map(|(&id, r)| (id, r.generation)));
                all.sort_unstable();
                let mut runs: Vec<FreeRun> = Vec::new();
                for (id, generation) in all {
                    match runs.last_mut() {
                        Some(r)
                            if r.start + u64::from(r.len) == id
                                && r.retired_generation == generation
                                && r.len < u32::MAX =>
                        {
                            r.len += 1;
                        }
                        _ => runs.push(FreeRun {
                            start: id,
                            len: 1,
                            retired_generation: generation,
                        }),
                    }
                }
                runs
            }

            /// Every free id, ascending (for accounting checks).
            pub(super) fn free_ids(&self) -> Vec<u64> {
                let mut ids: Vec<u64> = self
                    .ready
                    .iter()
                    .copied()
                    .chain(self.pending.keys().copied())
                    .collect();
                ids.sort_unstable();
                ids
            }
        }
    }
}
