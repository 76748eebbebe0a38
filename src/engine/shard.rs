//! A shard's slice of the permutation, where a scan is in it (`Position`, what a resumed
//! run starts from), and where each of its targets lives in the tables sized to that
//! slice, so N shards of one scan each hold a table 1/N the size.

use crate::targets::permute::Permutation;

/// This process's slice of the permutation: positions `index, index + count, …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// How many of `n` positions this shard owns.
    pub fn size(&self, n: u64) -> u64 {
        n.saturating_sub(self.index).div_ceil(self.count)
    }
}

/// Where a scan is: the next position (of the permutation) to probe in `round`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub round: u8,
    pub pos: u64,
}

/// Target index → slot in a per-target table. The whole scan's slot is the index itself;
/// a shard's `k`-th position (`index + k·count`) gets slot `k`, found through the
/// permutation's inverse, so a table holds only the targets the shard probes.
#[derive(Debug, Clone)]
pub struct Slots {
    /// Targets in the whole scan.
    n: u64,
    len: usize,
    sliced: Option<(Permutation, Shard)>,
}

impl Slots {
    /// Every one of `n` targets in its own slot.
    pub fn whole(n: u64) -> Slots {
        Slots {
            n,
            len: usize::try_from(n).unwrap_or(usize::MAX),
            sliced: None,
        }
    }

    /// `shard`'s targets of the scan `perm` orders.
    pub fn new(shard: Shard, perm: &Permutation) -> Slots {
        let n = perm.len();
        if shard.count <= 1 {
            return Slots::whole(n);
        }
        Slots {
            n,
            len: usize::try_from(shard.size(n)).unwrap_or(usize::MAX),
            sliced: Some((perm.clone(), shard)),
        }
    }

    /// Slots a table needs.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Targets in the whole scan (indices run `0..targets()`).
    pub fn targets(&self) -> u64 {
        self.n
    }

    /// Target `i`'s slot; `None` when `i` is another shard's or out of range.
    #[inline]
    pub fn of(&self, i: u32) -> Option<usize> {
        let i = u64::from(i);
        if i >= self.n {
            return None;
        }
        match &self.sliced {
            None => Some(i as usize),
            Some((perm, shard)) => {
                let q = perm.position_of(i);
                (q % shard.count == shard.index).then(|| ((q - shard.index) / shard.count) as usize)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The shards' slots cover every target exactly once, each shard's densely.
        #[test]
        fn shards_partition_the_targets(n in 1u64..3000, count in 1u64..9, seed: u64) {
            let perm = Permutation::new(n, seed);
            let mut owner = vec![None; n as usize];
            for index in 0..count {
                let shard = Shard { index, count };
                let slots = Slots::new(shard, &perm);
                prop_assert_eq!(slots.len() as u64, shard.size(n));
                let mut used = vec![false; slots.len()];
                for i in 0..n as u32 {
                    if let Some(s) = slots.of(i) {
                        prop_assert!(owner[i as usize].is_none(), "{} in two shards", i);
                        owner[i as usize] = Some(index);
                        prop_assert!(!used[s], "slot {} twice", s);
                        used[s] = true;
                    }
                }
                prop_assert!(used.iter().all(|&u| u), "a slot of shard {} unused", index);
                prop_assert_eq!(slots.of(n as u32), None);
            }
            prop_assert!(owner.iter().all(Option::is_some));
        }

        /// The slot follows the shard's positions: slot k is position index + k·count.
        #[test]
        fn slot_is_the_position_in_the_slice(n in 2u64..2000, seed: u64) {
            let perm = Permutation::new(n, seed);
            let shard = Shard { index: 1, count: 2 };
            let slots = Slots::new(shard, &perm);
            for (k, q) in (shard.index..n).step_by(2).enumerate() {
                prop_assert_eq!(slots.of(perm.at(q) as u32), Some(k));
            }
        }
    }
}
