//! Keyed, stateless randomness.
//!
//! Every decision is a hash of (seed, address, request number, purpose), so the
//! outcome for a given host does not depend on how requests to other hosts
//! interleave, and a rerun with the same seed behaves the same way.

/// What a random draw is for; keeps draws for different decisions independent.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Tag {
    Alive = 1,
    LossIn,
    LossOut,
    Rtt,
    Dup,
    Reorder,
    ReorderDelay,
    Corrupt,
    Truncate,
    Options,
    ForeignId,
    OtherSrc,
    /// Whether a host answers ARP/NDP but drops echo (TAP mode).
    ArpOnly,
    /// Loss of one ARP request / neighbour solicitation.
    ArpLoss,
    ArpRtt,
    /// Vendor and OUI of a host's MAC, and the seed's MAC permutation.
    Mac,
    /// A reply whose echoed data differs from the request's.
    BadData,
}

/// SplitMix64 finaliser: cheap and well mixed, enough for simulation draws.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) for one decision.
/// `k` separates several draws of the same kind for one request (e.g. per copy).
/// `addr` is a profile key: IPv4 addresses hash as they always did, IPv6
/// addresses mix in their upper half too.
pub fn draw(seed: u64, addr: u128, n: u64, tag: Tag, k: u64) -> f64 {
    (word(seed, addr, n, tag, k) >> 11) as f64 / (1u64 << 53) as f64
}

/// The 64 random bits behind [`draw`].
pub fn word(seed: u64, addr: u128, n: u64, tag: Tag, k: u64) -> u64 {
    let mut h = mix(seed);
    h = mix(h ^ addr as u64);
    let hi = (addr >> 64) as u64;
    if hi != 0 {
        h = mix(h ^ hi);
    }
    h = mix(h ^ n);
    mix(h ^ ((tag as u64) << 32) ^ k)
}

/// True with probability `p` for this decision.
pub fn chance(p: f64, seed: u64, addr: u128, n: u64, tag: Tag, k: u64) -> bool {
    p >= 1.0 || (p > 0.0 && draw(seed, addr, n, tag, k) < p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let a = draw(7, 0xc612_0005, 3, Tag::Rtt, 0);
        assert_eq!(a, draw(7, 0xc612_0005, 3, Tag::Rtt, 0));
        assert!((0.0..1.0).contains(&a));
        assert_ne!(a, draw(8, 0xc612_0005, 3, Tag::Rtt, 0));
        assert_ne!(a, draw(7, 0xc612_0005, 3, Tag::LossIn, 0));
        // IPv6 keys differing only in the upper half draw differently.
        let v6 = 0x2001_0002_0000_0000_0000_0000_0000_0005;
        assert_ne!(
            draw(7, v6, 3, Tag::Rtt, 0),
            draw(7, v6 ^ (1 << 100), 3, Tag::Rtt, 0)
        );
    }

    #[test]
    fn ipv4_draws_unchanged() {
        // Pinned: the IPv4 tests pick seeds by their outcomes.
        let h = mix(mix(mix(mix(7) ^ 0xc612_0005) ^ 3) ^ ((Tag::Rtt as u64) << 32));
        let want = (h >> 11) as f64 / (1u64 << 53) as f64;
        assert_eq!(draw(7, 0xc612_0005, 3, Tag::Rtt, 0), want);
    }

    #[test]
    fn chance_matches_probability() {
        let hits = (0..100_000u64)
            .filter(|&n| chance(0.25, 1, 42, n, Tag::LossIn, 0))
            .count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
        assert!(chance(1.0, 1, 42, 0, Tag::LossIn, 0));
        assert!(!chance(0.0, 1, 42, 0, Tag::LossIn, 0));
    }
}
