//! What every view in `wire/` shares: named runs of header bytes, and why received
//! bytes are not a packet sweep can judge.

/// A run of bytes in a header.
pub type Field = std::ops::Range<usize>;
/// The bytes from an offset to the end.
pub type Rest = std::ops::RangeFrom<usize>;

/// Why received bytes are not a packet sweep can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than its headers say it is.
    Truncated,
    /// Not the IP version expected, a header length below its minimum, or lengths that
    /// contradict each other.
    Malformed,
    /// Not ICMP, or a fragment we cannot validate alone.
    NotIcmp,
    BadChecksum,
}
