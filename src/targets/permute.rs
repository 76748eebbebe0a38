//! A seeded bijection over `0..n`: the order probes go out in, so consecutive probes land
//! in different subnets. Random access (`at(pos)`), so nothing of size n is materialised and
//! a shard or a resumed scan can start anywhere.
//!
//! An unbalanced Feistel network permutes `0..2^bits` (the smallest power of two >= n);
//! cycle-walking maps it onto `0..n`. Since `2^bits < 2n`, a step costs < 2 rounds on average.

/// Even, so `unfeistel` finds the split back where it started.
const ROUNDS: usize = 4;

#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    bits: u32,
    keys: [u64; ROUNDS],
}

/// splitmix64's finaliser: a fast, well-mixed 64-bit hash.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Permutation {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2);
        let mut keys = [0; ROUNDS];
        for (r, k) in keys.iter_mut().enumerate() {
            *k = mix64(seed ^ mix64(r as u64 + 1));
        }
        Permutation { n, bits, keys }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The target index probed at position `pos` (`pos < n`).
    #[inline]
    pub fn at(&self, pos: u64) -> u64 {
        debug_assert!(pos < self.n);
        let mut x = self.feistel(pos);
        while x >= self.n {
            x = self.feistel(x);
        }
        x
    }

    /// The position at which target `index` is probed (`index < n`): `at`'s inverse, so a
    /// shard can find a target's place in its own slice without a table of size n.
    #[inline]
    pub fn position_of(&self, index: u64) -> u64 {
        debug_assert!(index < self.n);
        let mut x = self.unfeistel(index);
        while x >= self.n {
            x = self.unfeistel(x);
        }
        x
    }

    /// The Feistel network run backwards: the rounds in reverse order, each undone.
    #[inline]
    fn unfeistel(&self, mut x: u64) -> u64 {
        // After an even number of rounds the split is back where it started; round `r`
        // used (a, b) when r is even and (b, a) when odd.
        let (a0, b0) = (self.bits / 2, self.bits - self.bits / 2);
        for (r, &k) in self.keys.iter().enumerate().rev() {
            let (a, b) = if r % 2 == 0 { (a0, b0) } else { (b0, a0) };
            let lo = x >> a;
            let f = mix64(lo ^ k) & ((1 << a) - 1);
            let hi = (x & ((1 << a) - 1)) ^ f;
            x = (hi << b) | lo;
        }
        x
    }

    #[inline]
    fn feistel(&self, mut x: u64) -> u64 {
        // Split into a high part of `a` bits and a low part of `b` bits; each round moves the
        // low part up and mixes it into the old high part, so the split sizes alternate.
        let (mut a, mut b) = (self.bits / 2, self.bits - self.bits / 2);
        for &k in &self.keys {
            let hi = x >> b;
            let lo = x & ((1 << b) - 1);
            let f = mix64(lo ^ k) & ((1 << a) - 1);
            x = (lo << a) | (hi ^ f);
            std::mem::swap(&mut a, &mut b);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_bijection(n: u64, seed: u64) {
        let p = Permutation::new(n, seed);
        let mut seen = vec![false; n as usize];
        for pos in 0..n {
            let i = p.at(pos) as usize;
            assert!(!seen[i], "n={n} seed={seed}: {i} twice");
            seen[i] = true;
            assert_eq!(
                p.position_of(i as u64),
                pos,
                "n={n} seed={seed}: inverse of {i}"
            );
        }
    }

    #[test]
    fn bijection_for_edge_sizes() {
        for n in [
            1, 2, 3, 4, 5, 7, 8, 9, 254, 255, 256, 257, 1000, 65_535, 65_536, 65_537,
        ] {
            assert_bijection(n, 42);
        }
    }

    #[test]
    fn bijection_for_2_pow_24() {
        assert_bijection(1 << 24, 7);
    }

    #[test]
    fn seed_changes_order_and_spreads_subnets() {
        let (a, b) = (Permutation::new(65_536, 1), Permutation::new(65_536, 2));
        let differ = (0..1000).filter(|&i| a.at(i) != b.at(i)).count();
        assert!(differ > 990, "{differ}");
        // Consecutive probes should rarely stay in the same /24.
        let same = (0..10_000)
            .filter(|&i| a.at(i) >> 8 == a.at(i + 1) >> 8)
            .count();
        assert!(same < 200, "{same} consecutive probes in one /24");
    }

    proptest! {
        #[test]
        fn bijection_for_any_size(n in 1u64..5000, seed: u64) {
            assert_bijection(n, seed);
        }
    }
}
