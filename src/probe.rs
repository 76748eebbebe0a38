//! The probe template: an echo request whose constant bytes are laid out once; per probe
//! only the sequence, the tag, the target index and the send stamp are patched in, and the
//! checksum is updated from a precomputed partial sum instead of re-summing the payload.

use crate::validate::Key;
use crate::wire::{self, ICMP_HEADER};

/// Payload layout (after the 8-byte ICMP header):
/// `[0..4)` tag, `[4..8)` target index, `[8..16)` stamp (round << 56 | send time ns), filler.
pub const TAG_AT: usize = 0;
pub const INDEX_AT: usize = 4;
pub const STAMP_AT: usize = 8;
/// The smallest payload that carries index, stamp and tag.
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

/// Which ICMP the probe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Icmp4,
    /// ICMPv6: type 128, and the kernel fills in the checksum (it covers a pseudo-header
    /// with the source address the kernel picks).
    Icmp6,
}

#[derive(Debug, Clone)]
pub struct ProbeTemplate {
    bytes: Vec<u8>,
    /// Word sum of the template with every patched field zero.
    base_sum: u64,
    key: Key,
    proto: Proto,
}

impl ProbeTemplate {
    /// `payload_len` must be at least `MIN_PAYLOAD` (the CLI checks).
    pub fn new(key: Key, payload_len: usize, proto: Proto) -> ProbeTemplate {
        assert!(payload_len >= MIN_PAYLOAD);
        // Filler like ping's: recognisable in a capture, and not all zeros.
        let filler: Vec<u8> = (0..payload_len).map(|i| (i & 0xff) as u8).collect();
        let mut bytes = vec![0u8; ICMP_HEADER + payload_len];
        wire::emit_echo_request(&mut bytes, key.id, 0, &filler);
        bytes[2..4].fill(0);
        bytes[ICMP_HEADER..ICMP_HEADER + MIN_PAYLOAD].fill(0);
        if proto == Proto::Icmp6 {
            bytes[0] = wire::ICMP6_ECHO_REQUEST;
        }
        let base_sum = wire::sum16(&bytes);
        ProbeTemplate {
            bytes,
            base_sum,
            key,
            proto,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes the probe for target `index` into `buf[..self.len()]`.
    #[inline]
    pub fn write(&self, buf: &mut [u8], index: u32, round: u8, sent_ns: u64) {
        let buf = &mut buf[..self.bytes.len()];
        buf.copy_from_slice(&self.bytes);
        let st = stamp(round, sent_ns);
        let p = ICMP_HEADER;
        buf[6..8].copy_from_slice(&self.key.seq(index).to_be_bytes());
        buf[p + TAG_AT..p + TAG_AT + 4].copy_from_slice(&self.key.tag(index, st).to_be_bytes());
        buf[p + INDEX_AT..p + INDEX_AT + 4].copy_from_slice(&index.to_be_bytes());
        buf[p + STAMP_AT..p + STAMP_AT + 8].copy_from_slice(&st.to_be_bytes());
        if self.proto == Proto::Icmp4 {
            let sum = self.base_sum + wire::sum16(&buf[6..p + MIN_PAYLOAD]);
            buf[2..4].copy_from_slice(&wire::fold(sum).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse_icmp, Icmp};

    #[test]
    fn patched_probe_is_a_valid_echo_request() {
        let key = Key::new(99);
        let t = ProbeTemplate::new(key, 56, Proto::Icmp4);
        let mut buf = [0u8; 64];
        for (index, round, ns) in [
            (0, 0, 0),
            (70_000, 3, 123_456_789),
            (u32::MAX, 30, u64::MAX),
        ] {
            t.write(&mut buf, index, round, ns);
            assert_eq!(wire::checksum(&buf), 0, "incremental checksum");
            let Icmp::EchoRequest { id, seq, data } = parse_icmp(&buf).unwrap() else {
                panic!()
            };
            assert_eq!((id, seq), (key.id, key.seq(index)));
            assert_eq!(data.len(), 56);
            assert_eq!(&data[16..20], &[16, 17, 18, 19]);
            let (i, st) = key.decode(data).unwrap();
            assert_eq!(i, index);
            assert_eq!(unstamp(st), (round, ns & ((1 << 56) - 1)));
        }
    }

    #[test]
    fn stamp_round_trips() {
        assert_eq!(unstamp(stamp(7, 1_000_000)), (7, 1_000_000));
    }
}
