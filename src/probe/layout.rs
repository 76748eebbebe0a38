//! Where each field sits in a probe's echo payload, and the stamp word.
//!
//! Payload (after the 8-byte ICMP header): `[0..4)` tag, `[4..8)` target index,
//! `[8..16)` stamp (round << 56 | send time in ns since the scan began), then filler.
//! All big-endian. The index and stamp are cleartext; only the tag (and the ICMP
//! sequence number) depend on the key.

pub const TAG_AT: usize = 0;
pub const TAG_LEN: usize = 4;
pub const INDEX_AT: usize = 4;
pub const STAMP_AT: usize = 8;
/// The smallest payload that carries tag, index and stamp.
pub const MIN_PAYLOAD: usize = 16;
const STAMP_TIME_BITS: u32 = 56;

/// Packs a retry round and a send time (ns since the scan began) into one word.
pub fn stamp(round: u8, sent_ns: u64) -> u64 {
    (u64::from(round) << STAMP_TIME_BITS) | (sent_ns & ((1 << STAMP_TIME_BITS) - 1))
}

/// Inverse of `stamp`: `(round, sent_ns)`.
pub fn unstamp(stamp: u64) -> (u8, u64) {
    (
        (stamp >> STAMP_TIME_BITS) as u8,
        stamp & ((1 << STAMP_TIME_BITS) - 1),
    )
}

/// The cleartext fields of a payload: `(tag, index, stamp)`, if it is long enough.
pub fn fields(payload: &[u8]) -> Option<(u32, u32, u64)> {
    let d: &[u8; MIN_PAYLOAD] = payload.get(..MIN_PAYLOAD)?.try_into().ok()?;
    let [t0, t1, t2, t3, i0, i1, i2, i3, s @ ..] = *d;
    Some((
        u32::from_be_bytes([t0, t1, t2, t3]),
        u32::from_be_bytes([i0, i1, i2, i3]),
        u64::from_be_bytes(s),
    ))
}

/// Writes tag, index and stamp into the first `MIN_PAYLOAD` bytes of `payload`.
#[inline]
pub fn put_fields(payload: &mut [u8], tag: u32, index: u32, stamp: u64) {
    payload[TAG_AT..TAG_AT + TAG_LEN].copy_from_slice(&tag.to_be_bytes());
    payload[INDEX_AT..INDEX_AT + 4].copy_from_slice(&index.to_be_bytes());
    payload[STAMP_AT..STAMP_AT + 8].copy_from_slice(&stamp.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        assert_eq!(unstamp(stamp(7, 1_000_000)), (7, 1_000_000));
        assert_eq!(unstamp(stamp(255, u64::MAX)), (255, (1 << 56) - 1));
    }

    #[test]
    fn fields_round_trip_and_short_payloads_have_none() {
        let mut p = [0xaau8; 20];
        put_fields(&mut p, 0xdead_beef, 70_000, stamp(3, 42));
        assert_eq!(fields(&p), Some((0xdead_beef, 70_000, stamp(3, 42))));
        assert_eq!(&p[16..], &[0xaa; 4]);
        assert_eq!(fields(&p[..15]), None);
        assert_eq!(fields(&[]), None);
    }
}
