//! A set of page ids stored as maximal runs `start..end`, for the allocator's free
//! set (review F19: one entry per free page made memory, open time and checkpoint
//! time grow with the number of free pages, e.g. after a large tree was dropped).
//!
//! Invariants:
//! 1. Runs are non-empty (`start < end`) and disjoint.
//! 2. Runs are maximal: no run ends where the next one starts (they are merged on
//!    insert), so the entry count is the number of gaps-separated runs, and two sets
//!    with the same ids have the same representation.
//!
//! Every operation costs O(log runs); nothing here is proportional to a run's length.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

/// A set of `u64` ids as disjoint, maximal, half-open runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdRuns {
    /// start -> end (exclusive).
    runs: BTreeMap<u64, u64>,
}

impl IdRuns {
    /// The run containing `id`, if any.
    fn run_of(&self, id: u64) -> Option<(u64, u64)> {
        self.runs
            .range(..=id)
            .next_back()
            .filter(|(_, e)| id < **e)
            .map(|(s, e)| (*s, *e))
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.run_of(id).is_some()
    }

    /// The lowest id of `start..end` already in the set, if any.
    pub(crate) fn first_overlap(&self, start: u64, end: u64) -> Option<u64> {
        let before = self
            .runs
            .range(..=start)
            .next_back()
            .filter(|(_, e)| **e > start)
            .map(|_| start);
        before.or_else(|| self.runs.range(start..end).next().map(|(s, _)| *s))
    }

    /// Adds `start..end`; refuses (naming the first such id) if any id is already in.
    pub(crate) fn insert(&mut self, start: u64, end: u64) -> Result<(), u64> {
        if start >= end {
            return Ok(());
        }
        if let Some(id) = self.first_overlap(start, end) {
            return Err(id);
        }
        let (mut s, mut e) = (start, end);
        // Invariant 2: merge with a run ending at `start` and one starting at `end`.
        if let Some((&ps, _)) = self
            .runs
            .range(..start)
            .next_back()
            .filter(|(_, pe)| **pe == start)
        {
            self.runs.remove(&ps);
            s = ps;
        }
        if let Some(ne) = self.runs.remove(&end) {
            e = ne;
        }
        self.runs.insert(s, e);
        Ok(())
    }

    /// Removes `start..end`, which must lie inside one run; false (and no change) if
    /// it does not.
    pub(crate) fn remove(&mut self, start: u64, end: u64) -> bool {
        match self.run_of(start) {
            Some((s, e)) if end <= e && start < end => {
                self.runs.remove(&s);
                if s < start {
                    self.runs.insert(s, start);
                }
                if end < e {
                    self.runs.insert(end, e);
                }
                true
            }
            _ => false,
        }
    }

    /// Takes the lowest id out of the set.
    pub(crate) fn pop_first(&mut self) -> Option<u64> {
        let (s, e) = self.runs.pop_first()?;
        if s + 1 < e {
            self.runs.insert(s + 1, e);
        }
        Some(s)
    }

    /// The highest run, if any.
    pub(crate) fn last(&self) -> Option<(u64, u64)> {
        self.runs.last_key_value().map(|(s, e)| (*s, *e))
    }

    /// The runs, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().map(|(s, e)| (*s, *e))
    }

    /// How many runs (entries) the set holds: what its memory is proportional to.
    #[cfg(test)]
    pub(crate) fn run_count(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Random inserts (of runs), removals and pops against a `BTreeSet` of ids; the
    /// representation must stay disjoint and maximal (invariants 1 and 2).
    #[test]
    fn model_against_a_btreeset() {
        let seed = crate::sim::test_seed("idruns model", 0x1d_5e75);
        let mut rng = fastrand::Rng::with_seed(seed);
        for round in 0..200 {
            let mut set = IdRuns::default();
            let mut model = BTreeSet::new();
            for step in 0..300 {
                let ctx = format!("seed {seed}, round {round}, step {step}");
                let start = rng.u64(0..200);
                let end = start + rng.u64(1..6);
                match rng.u8(0..4) {
                    0 | 1 => {
                        let clash = (start..end).find(|i| model.contains(i));
                        match set.insert(start, end) {
                            Ok(()) => {
                                assert_eq!(clash, None, "{ctx}: insert over present ids");
                                model.extend(start..end);
                            }
                            Err(id) => assert_eq!(Some(id), clash, "{ctx}: wrong clash reported"),
                        }
                    }
                    2 => {
                        let inside = set.run_of(start).is_some_and(|(_, e)| end <= e);
                        assert_eq!(set.remove(start, end), inside, "{ctx}");
                        if inside {
                            for i in start..end {
                                model.remove(&i);
                            }
                        }
                    }
                    _ => assert_eq!(set.pop_first(), model.pop_first(), "{ctx}"),
                }
                let ids: Vec<u64> = set.iter().flat_map(|(s, e)| s..e).collect();
                assert_eq!(ids, model.iter().copied().collect::<Vec<_>>(), "{ctx}");
                let runs: Vec<(u64, u64)> = set.iter().collect();
                assert!(runs.iter().all(|(s, e)| s < e), "{ctx}: empty run");
                assert!(
                    runs.windows(2).all(|w| w[0].1 < w[1].0),
                    "{ctx}: runs not maximal"
                );
                let probe = rng.u64(0..210);
                assert_eq!(
                    set.contains(probe),
                    model.contains(&probe),
                    "{ctx}: contains {probe}"
                );
            }
        }
    }
}
