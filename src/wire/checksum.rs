//! The RFC 1071 Internet checksum, shared by ICMP, ICMPv6 and the IP headers.

/// Sum of big-endian 16-bit words, not yet folded (an odd last byte is padded with zero).
#[inline]
pub fn sum16(data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    let mut s: u64 = chunks
        .by_ref()
        .map(|w| u64::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    if let [last] = chunks.remainder() {
        s += u64::from(*last) << 8;
    }
    s
}

/// Folds a word sum into the ones' complement checksum.
#[inline]
pub fn fold(mut s: u64) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// RFC 1071 Internet checksum; 0 over a message that carries a correct checksum.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data))
}
