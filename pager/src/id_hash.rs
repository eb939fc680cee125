//! Hash maps and sets keyed by page ids, with a one-multiply hasher.
//!
//! Page ids are dense integers the allocator hands out, never attacker-chosen
//! keys, so SipHash's flooding resistance buys nothing here, and it cost a
//! tenth of a bulk load: a write transaction asks its map of copied pages at
//! every level of every descent. Fibonacci hashing spreads consecutive ids
//! over the table (an odd multiplier is a bijection on the low bits) and
//! mixes them into the high bits the table's tags come from.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// 2^64 / the golden ratio, odd.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes one `u64` page id with a multiply; other keys byte by byte.
#[derive(Debug, Default, Clone, Copy)]
pub struct PageIdHasher(u64);

impl Hasher for PageIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(GOLDEN);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(GOLDEN);
    }
}

/// A map from page ids.
pub type PageIdMap<V> = HashMap<u64, V, BuildHasherDefault<PageIdHasher>>;

/// A set of page ids.
pub type PageIdSet = HashSet<u64, BuildHasherDefault<PageIdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_land_in_distinct_buckets_and_differ_in_the_top_bits() {
        let hash = |id: u64| {
            let mut h = PageIdHasher::default();
            h.write_u64(id);
            h.finish()
        };
        // The low 10 bits of 1,024 consecutive ids' hashes are all different.
        let low: HashSet<u64> = (5_000..6_024).map(|id| hash(id) & 1023).collect();
        assert_eq!(low.len(), 1024);
        // And their top 7 bits (a table's tags) take many values.
        let top: HashSet<u64> = (5_000..5_128).map(|id| hash(id) >> 57).collect();
        assert!(top.len() > 64, "{}", top.len());
        let mut set = PageIdSet::default();
        assert!(set.insert(7) && !set.insert(7) && set.contains(&7));
    }
}
