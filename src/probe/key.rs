//! The per-process secret and the keyed PRF that makes answers unforgeable.
//!
//! A [`Key`] is 128 bits from the OS random source, drawn by each process (each shard,
//! each resumed run) and never printed or stored: `--seed` only orders the probes, so
//! knowing it, or replies from another run with the same seed, grants nothing.
//!
//! The PRF is SipHash-2-4 keyed with it. Its three uses take messages of three lengths,
//! which SipHash's final block encodes, so no output of one can stand in for another:
//! - the ICMP identifier: the empty message;
//! - the ICMP sequence number: the target index (4 bytes, LE) — so an RFC 792 short
//!   quote, which carries only identifier and sequence, holds 16 keyed bits for that
//!   target;
//! - the payload tag: index and stamp, which carries the round (12 bytes, LE) — the
//!   upper 32 bits of the output.

use super::layout;
use siphasher::sip::SipHasher24;
use std::fmt;

#[derive(Clone, Copy)]
pub struct Key {
    prf: SipHasher24,
    id: u16,
}

/// Keeps the secret out of logs and panics: `{:?}` shows only the (public) identifier.
impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A fresh key from the OS random source.
    pub fn random() -> std::io::Result<Key> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Key::from_bytes(bytes))
    }

    /// A key from given bytes: for tests, benchmarks and fuzzing only — a scan draws
    /// its key with [`Key::random`].
    pub fn from_bytes(bytes: [u8; 16]) -> Key {
        let mut key = Key {
            prf: SipHasher24::new_with_key(&bytes),
            id: 0,
        };
        key.id = key.prf.hash(&[]) as u16;
        key
    }

    /// The ICMP identifier of this process's probes.
    #[inline]
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The ICMP sequence number of every probe to target `index`.
    #[inline]
    pub fn seq(&self, index: u32) -> u16 {
        self.prf.hash(&index.to_le_bytes()) as u16
    }

    /// The payload tag of the probe to `index` with `stamp` (see `layout::stamp`).
    #[inline]
    pub fn tag(&self, index: u32, stamp: u64) -> u32 {
        let mut msg = [0u8; 12];
        msg[..4].copy_from_slice(&index.to_le_bytes());
        msg[4..].copy_from_slice(&stamp.to_le_bytes());
        (self.prf.hash(&msg) >> 32) as u32
    }

    /// `(index, stamp)` from a probe's payload, if its tag is ours.
    #[inline]
    pub fn decode(&self, payload: &[u8]) -> Option<(u32, u64)> {
        let (tag, index, stamp) = layout::fields(payload)?;
        (tag == self.tag(index, stamp)).then_some((index, stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::layout::{put_fields, stamp};
    use std::hash::Hasher;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 16])
    }

    /// The crate is SipHash-2-4 with the key bytes read as the reference does: the
    /// 15-byte vector from the SipHash paper's test set.
    #[test]
    fn siphash_reference_vector() {
        let k: [u8; 16] = std::array::from_fn(|i| i as u8);
        let mut h = SipHasher24::new_with_key(&k);
        h.write(&(0..15).collect::<Vec<u8>>());
        assert_eq!(h.finish(), 0xa129_ca61_49be_45e5);
    }

    /// Identifier, sequence and tag are SipHash-2-4 of exactly the documented messages.
    #[test]
    fn prf_inputs_are_as_documented() {
        let bytes: [u8; 16] = std::array::from_fn(|i| i as u8);
        let (k, sip) = (Key::from_bytes(bytes), SipHasher24::new_with_key(&bytes));
        assert_eq!(k.id(), sip.hash(&[]) as u16);
        assert_eq!(k.seq(70_000), sip.hash(&70_000u32.to_le_bytes()) as u16);
        let mut msg = 70_000u32.to_le_bytes().to_vec();
        msg.extend_from_slice(&stamp(2, 1_000_000_000).to_le_bytes());
        assert_eq!(
            k.tag(70_000, stamp(2, 1_000_000_000)),
            (sip.hash(&msg) >> 32) as u32
        );
        assert_eq!(
            (k.id(), k.seq(70_000)),
            (0x0e31, 0xbca5),
            "as in the golden probe"
        );
    }

    #[test]
    fn decode_accepts_own_tags_only() {
        let (a, b) = (key(1), key(2));
        let mut p = [0u8; 16];
        put_fields(&mut p, a.tag(9, stamp(1, 500)), 9, stamp(1, 500));
        assert_eq!(a.decode(&p), Some((9, stamp(1, 500))));
        assert_eq!(b.decode(&p), None, "another key's tag");
        // Any change to index or stamp breaks the tag.
        for byte in 4..16 {
            let mut q = p;
            q[byte] ^= 0x01;
            assert_eq!(a.decode(&q), None, "byte {byte}");
        }
        assert_eq!(a.decode(&p[..15]), None);
    }

    /// The old format's sequence was `index ^ constant`, so one probe gave all of them
    /// away; keyed, `seq ^ index` is no constant and differs between keys.
    #[test]
    fn sequence_is_keyed_not_linear() {
        let k = key(3);
        let masks: std::collections::HashSet<u16> =
            (0..1000u32).map(|i| k.seq(i) ^ i as u16).collect();
        assert!(masks.len() > 900, "{} distinct masks", masks.len());
        let differ = (0..1000u32).filter(|&i| k.seq(i) != key(4).seq(i)).count();
        assert!(differ > 990, "{differ}");
        assert_ne!(key(3).id(), key(4).id());
    }

    #[test]
    fn random_keys_differ_and_debug_hides_the_secret() {
        let (a, b) = (Key::random().unwrap(), Key::random().unwrap());
        assert_ne!(a.tag(1, 2), b.tag(1, 2));
        let shown = format!("{:?}", key(0xab));
        assert!(shown.starts_with("Key { id: ") && shown.ends_with(".. }"));
        let k0 = u64::from_le_bytes([0xab; 8]).to_string();
        assert!(!shown.contains(&k0) && !shown.contains("prf"), "{shown}");
    }
}
