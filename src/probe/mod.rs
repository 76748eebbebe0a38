//! The probe format, in one place: the per-process [`Key`] and its PRF (`key.rs`), the
//! payload layout and stamp (`layout.rs`), and the template every probe is patched from
//! (here). The validator reads replies with the same `Key::decode`.
//!
//! The template is an echo request whose constant bytes are laid out once; per probe
//! only the sequence, the tag, the target index and the send stamp are patched in, and
//! the checksum is updated from a precomputed partial sum instead of re-summing the
//! payload.

pub mod validate;

mod key;
mod layout;

pub use key::Key;
pub use layout::{stamp, unstamp, INDEX_AT, MIN_PAYLOAD, STAMP_AT, TAG_AT};

use crate::wire::{self, icmp, ICMP_HEADER};

/// The payload byte at `i` past the tagged fields: like ping's filler, recognisable in a
/// capture and not all zeros. The validator checks a reply's data against it.
#[inline]
pub fn filler_at(i: usize) -> u8 {
    (i & 0xff) as u8
}

/// Whether echoed `data` is a probe payload of `len` bytes with its filler intact (the
/// tagged fields are checked by the key).
pub fn data_intact(data: &[u8], len: usize) -> bool {
    data.len() == len
        && data
            .iter()
            .enumerate()
            .skip(MIN_PAYLOAD)
            .all(|(i, &b)| b == filler_at(i))
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
        let filler: Vec<u8> = (0..payload_len).map(filler_at).collect();
        let mut bytes = vec![0u8; ICMP_HEADER + payload_len];
        wire::emit_echo_request(&mut bytes, key.id(), 0, &filler);
        let mut msg = icmp::Packet::new_unchecked(&mut bytes[..]);
        msg.set_checksum(0);
        msg.data_mut()[..MIN_PAYLOAD].fill(0);
        if proto == Proto::Icmp6 {
            msg.set_msg_type(wire::icmpv6::ECHO_REQUEST);
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
        let mut msg = icmp::Packet::new_unchecked(buf);
        msg.set_echo_seq_no(self.key.seq(index));
        let tag = self.key.tag(index, st);
        layout::put_fields(&mut msg.data_mut()[..MIN_PAYLOAD], tag, index, st);
        if self.proto == Proto::Icmp4 {
            // Only the sequence number and the stamped fields differ from the template.
            let patched = icmp::ECHO_SEQNO.start..ICMP_HEADER + MIN_PAYLOAD;
            let sum = self.base_sum + wire::sum16(&msg.as_bytes()[patched]);
            msg.set_checksum(wire::fold(sum));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse_icmp, Icmp};

    fn test_key() -> Key {
        Key::from_bytes(std::array::from_fn(|i| i as u8))
    }

    #[test]
    fn patched_probe_is_a_valid_echo_request() {
        let key = test_key();
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
            assert_eq!((id, seq), (key.id(), key.seq(index)));
            assert_eq!(data.len(), 56);
            assert_eq!(&data[16..20], &[16, 17, 18, 19]);
            let (i, st) = key.decode(data).unwrap();
            assert_eq!(i, index);
            assert_eq!(unstamp(st), (round, ns & ((1 << 56) - 1)));
        }
    }

    /// The wire format, pinned: key 00..0f, target 70,000, round 2, sent at 1 s. Any
    /// change to the layout, the PRF or its inputs shows up here in review.
    #[test]
    fn golden_probe() {
        let t = ProbeTemplate::new(test_key(), 24, Proto::Icmp4);
        let mut buf = [0u8; 32];
        t.write(&mut buf, 70_000, 2, 1_000_000_000);
        #[rustfmt::skip]
        const GOLDEN: [u8; 32] = [
            0x08, 0x00, 0xc5, 0x15, // echo request, checksum
            0x0e, 0x31, 0xbc, 0xa5, // identifier, sequence (keyed)
            0x64, 0x81, 0x9e, 0x35, // tag (keyed)
            0x00, 0x01, 0x11, 0x70, // index 70,000
            0x02, 0x00, 0x00, 0x00, 0x3b, 0x9a, 0xca, 0x00, // round 2, 1e9 ns
            0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // filler
        ];
        assert_eq!(buf, GOLDEN, "{buf:02x?}");
        let t6 = ProbeTemplate::new(test_key(), 24, Proto::Icmp6);
        let mut buf6 = [0u8; 32];
        t6.write(&mut buf6, 70_000, 2, 1_000_000_000);
        // Same bytes but the type, and the checksum left to the kernel.
        assert_eq!(buf6[0], 128);
        assert_eq!(buf6[2..4], [0, 0]);
        assert_eq!(buf6[4..], GOLDEN[4..]);
    }
}
