//! ICMP (RFC 792): its message types, the one view of an ICMP or ICMPv6 message header
//! (both share the echo and error layout) and the echo request sweep writes. What comes
//! back is parsed in `reply`.

use super::checksum::checksum;
use super::parse::{Field, ParseError};

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAMETER_PROBLEM: u8 = 12;
/// Type, code, checksum and the 4-byte rest of header (echo id and sequence).
pub const ICMP_HEADER: usize = 8;
/// The echo sequence number: the probe writer patches it and the checksum from here on.
pub const ECHO_SEQNO: Field = field::ECHO_SEQNO;

mod field {
    use crate::wire::parse::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const DATA: Rest = 8..;
}

/// A byte view of an ICMP or ICMPv6 message.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// At least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ParseError> {
        if buffer.as_ref().len() < ICMP_HEADER {
            return Err(ParseError::Truncated);
        }
        Ok(Packet::new_unchecked(buffer))
    }

    fn word(&self, f: Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        self.word(field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        self.word(field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        self.word(field::ECHO_SEQNO)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The echo payload, or the datagram an error quotes.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// The ICMP (IPv4) checksum holds: the message sums to zero.
    pub fn verify_checksum(&self) -> bool {
        checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The data, borrowed for as long as the bytes the view was made over.
    pub fn into_data(self) -> &'a [u8] {
        &self.buffer[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_word(&mut self, f: Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.set_word(field::CHECKSUM, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        self.set_word(field::ECHO_IDENT, v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.set_word(field::ECHO_SEQNO, v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Fills the ICMP (IPv4) checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// Writes an echo request (ICMP header + `payload`) into `buf`; returns its length.
pub fn emit_echo_request(buf: &mut [u8], id: u16, seq: u16, payload: &[u8]) -> usize {
    let len = ICMP_HEADER + payload.len();
    let mut p = Packet::new_unchecked(&mut buf[..len]);
    p.set_msg_type(ECHO_REQUEST);
    p.set_msg_code(0);
    p.set_echo_ident(id);
    p.set_echo_seq_no(seq);
    p.data_mut().copy_from_slice(payload);
    p.fill_checksum();
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux `ping -c1 -s 8` style echo request: id 0x1234, seq 1, payload "abcdefgh".
    const ECHO_REQ: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g',
        b'h',
    ];

    #[test]
    fn emits_golden_echo_request() {
        let mut buf = [0u8; 64];
        let n = emit_echo_request(&mut buf, 0x1234, 1, b"abcdefgh");
        assert_eq!(&buf[..n], &ECHO_REQ);
        assert_eq!(checksum(&buf[..n]), 0);
    }
}
