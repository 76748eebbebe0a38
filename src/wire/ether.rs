//! Ethernet II framing: the 14-byte header the layer-2 path writes in front of ARP, IPv4
//! and IPv6, and a checked view of received frames. No VLAN tags: an AF_PACKET socket
//! bound to an interface gets frames with the tag already stripped.

use super::parse::Field;
use std::fmt;

pub const HEADER: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Shortest frame a wire carries (without the FCS); shorter ones are padded.
pub const MIN_FRAME: usize = 60;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);

    /// Packs into the low 48 bits of a word (for lock-free tables).
    pub fn to_u64(self) -> u64 {
        let b = self.0;
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    pub fn from_u64(w: u64) -> Mac {
        let b = w.to_be_bytes();
        Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Unicast and globally unique: the only addresses the IEEE registry names.
    pub fn is_universal_unicast(self) -> bool {
        self.0[0] & 0b11 == 0
    }

    pub fn is_unicast(self) -> bool {
        self.0[0] & 1 == 0
    }
}

/// Lowercase, colon-separated: the form the CSV `mac` column uses.
impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = ();
    /// Six hex octets separated by `:` or `-` (either case).
    fn from_str(s: &str) -> Result<Mac, ()> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for o in out.iter_mut() {
            let p = parts.next().ok_or(())?;
            if p.is_empty() || p.len() > 2 {
                return Err(());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| ())?;
        }
        match parts.next() {
            None => Ok(Mac(out)),
            Some(_) => Err(()),
        }
    }
}

mod field {
    use crate::wire::parse::{Field, Rest};
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// A byte view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// At least a header.
    pub fn new_checked(buffer: T) -> Option<Packet<T>> {
        (buffer.as_ref().len() >= HEADER).then_some(Packet { buffer })
    }

    fn mac(&self, f: Field) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[f]);
        Mac(m)
    }

    pub fn dst_addr(&self) -> Mac {
        self.mac(field::DESTINATION)
    }

    pub fn src_addr(&self) -> Mac {
        self.mac(field::SOURCE)
    }

    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_dst_addr(&mut self, m: Mac) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&m.0);
    }

    pub fn set_src_addr(&mut self, m: Mac) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&m.0);
    }

    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// Writes the header into `buf[..14]`.
pub fn emit_header(buf: &mut [u8], dst: Mac, src: Mac, ethertype: u16) {
    let mut f = Packet::new_unchecked(&mut buf[..HEADER]);
    f.set_dst_addr(dst);
    f.set_src_addr(src);
    f.set_ethertype(ethertype);
}

/// A received frame's header fields and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub dst: Mac,
    pub src: Mac,
    pub ethertype: u16,
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// `None` for anything shorter than a header.
    pub fn parse(buf: &'a [u8]) -> Option<Frame<'a>> {
        let f = Packet::new_checked(buf)?;
        Some(Frame {
            dst: f.dst_addr(),
            src: f.src_addr(),
            ethertype: f.ethertype(),
            payload: &buf[field::PAYLOAD],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_text_and_word_round_trip() {
        let m: Mac = "00:1B:21:aa:0f:9".parse().unwrap();
        assert_eq!(m.to_string(), "00:1b:21:aa:0f:09");
        assert_eq!(Mac::from_u64(m.to_u64()), m);
        assert!(m.is_universal_unicast());
        assert!(!"02:00:00:00:00:01"
            .parse::<Mac>()
            .unwrap()
            .is_universal_unicast());
        for bad in [
            "",
            "00:11:22:33:44",
            "00:11:22:33:44:55:66",
            "0g:11:22:33:44:55",
            "001:1:2:3:4:5",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }

    #[test]
    fn short_frames_do_not_parse() {
        assert!(Frame::parse(&[0; 13]).is_none());
        let f = Frame::parse(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06, 0xaa]).unwrap();
        assert_eq!((f.ethertype, f.payload), (ETHERTYPE_ARP, &[0xaa][..]));
        assert_eq!(f.src, Mac([7, 8, 9, 10, 11, 12]));
    }
}
