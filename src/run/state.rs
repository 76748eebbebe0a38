//! The resume state an interrupted scan leaves behind: where the sender stopped and which
//! targets had answered, tied to the scan's targets and options by a fingerprint.

use crate::engine::table::Table;
use crate::engine::Position;
use crate::engine::ScanOptions;
use crate::error::{Error, Result};
use crate::targets::permute::mix64;
use crate::targets::Targets;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

const MAGIC: &[u8] = b"sweep-state v2";

/// The largest state file a scan can write: the hex bitmap of `MAX_TARGETS` plus the
/// other lines. Anything bigger is not ours, and is refused before it fills memory.
const MAX_FILE: u64 = crate::engine::MAX_TARGETS / 4 + 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub seed: u64,
    pub fingerprint: u64,
    pub position: Position,
    /// How many targets the scan had: the bitmap holds exactly this many bits.
    pub targets: u64,
    /// Bit `i` set: target `i` answered (here or in a run this one resumed).
    pub answered: Vec<u8>,
}

/// What must be identical for a resume to probe the same targets in the same order.
pub fn fingerprint(targets: &Targets, opts: &ScanOptions) -> u64 {
    let mut h = mix64(opts.seed ^ 0xfeed);
    let mut eat = |v: u64| h = mix64(h ^ v);
    for span in targets.spans() {
        for v in [span.first, span.last] {
            eat(v as u64);
            eat((v >> 64) as u64 ^ u64::from(span.v6));
        }
    }
    eat(opts.shard.index);
    eat(opts.shard.count);
    eat(u64::from(opts.retries));
    eat(opts.payload as u64);
    h
}

/// The whole of `file` (opened from `path`), or `None` if it is longer than `max` bytes:
/// untrusted checkpoint files are read with a bound, never as much as they claim.
pub(crate) fn read_capped(file: std::fs::File, path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

impl State {
    pub fn capture(seed: u64, fingerprint: u64, position: Position, table: &Table) -> State {
        let mut answered = vec![0u8; table.len().div_ceil(8)];
        for i in 0..table.len() {
            if table.is_answered(i as u32) {
                answered[i / 8] |= 1 << (i % 8);
            }
        }
        State {
            seed,
            fingerprint,
            position,
            targets: table.len() as u64,
            answered,
        }
    }

    pub fn is_answered(&self, i: usize) -> bool {
        self.answered
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// The file's bytes: one `name value` line per field, then a CRC-32 of all before it.
    fn to_bytes(&self) -> Vec<u8> {
        let mut text = String::with_capacity(self.answered.len() * 2 + 160);
        text.push_str(std::str::from_utf8(MAGIC).expect("ASCII magic"));
        let _ = write!(
            text,
            "\nseed {}\nfingerprint {:016x}\nround {}\nposition {}\ntargets {}\nanswered ",
            self.seed, self.fingerprint, self.position.round, self.position.pos, self.targets
        );
        for b in &self.answered {
            let _ = write!(text, "{b:02x}");
        }
        text.push('\n');
        let sum = crc32fast::hash(text.as_bytes());
        let _ = writeln!(text, "checksum {sum:08x}");
        text.into_bytes()
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        // Written after probes went out: a failure is a runtime error (3).
        crate::results::sink::write_atomically(path, &self.to_bytes()).map_err(|source| {
            Error::WriteResults {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Reads and checks a state file: a damaged one is an error naming what is wrong.
    pub fn read(path: &Path) -> Result<State> {
        let bad = |reason: String| Error::BadState {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        let Some(bytes) = read_capped(file, path, MAX_FILE)? else {
            return Err(bad(format!(
                "is larger than any state file ({MAX_FILE} bytes)"
            )));
        };
        State::parse(&bytes).map_err(bad)
    }

    /// Checks the state against the scan resuming it: `n` targets, `opts`' rounds and shard.
    pub fn check(&self, n: u64, opts: &ScanOptions) -> std::result::Result<(), String> {
        if self.targets != n {
            return Err(format!("is for {} targets, not {n}", self.targets));
        }
        let rounds = u64::from(opts.retries) + 1;
        let (pos, shard) = (self.position.pos, opts.shard);
        // One past the last round, at the shard's first position: everything was sent
        // (a checkpoint while waiting for the last replies, or a failed output).
        let done = u64::from(self.position.round) == rounds && pos == shard.index;
        if u64::from(self.position.round) >= rounds && !done {
            return Err(format!(
                "stops in round {}, but the scan has only {rounds} round(s)",
                self.position.round
            ));
        }
        // The sender stops on this shard's own positions (index, index + count, …) below
        // n; an interrupt between rounds leaves the round's first position, index.
        let ours = pos >= shard.index && (pos - shard.index) % shard.count == 0;
        if !ours || (pos >= n && pos != shard.index) {
            return Err(format!(
                "position {pos} is not in shard {}/{}'s part of {n} targets",
                shard.index, shard.count
            ));
        }
        Ok(())
    }

    pub fn parse(bytes: &[u8]) -> std::result::Result<State, String> {
        let Some(body) = bytes.strip_suffix(b"\n") else {
            return Err("is truncated (its last line is incomplete)".into());
        };
        let mut lines = body.split(|&b| b == b'\n');
        if lines.next() != Some(MAGIC) {
            return Err(format!(
                "is not a sweep state file (its first line is not '{}')",
                String::from_utf8_lossy(MAGIC)
            ));
        }
        let mut field = |name: &str| -> std::result::Result<&[u8], String> {
            let line = lines
                .next()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| format!("is truncated: no '{name}' line"))?;
            line.strip_prefix(name.as_bytes())
                .and_then(|v| v.strip_prefix(b" "))
                .ok_or_else(|| format!("has '{}' where '{name}' belongs", shown(line)))
        };
        let seed = field("seed")?;
        let fingerprint = field("fingerprint")?;
        let round = field("round")?;
        let position = field("position")?;
        let targets = field("targets")?;
        let hex = field("answered")?;
        let checksum = field("checksum")?;
        if lines.next().is_some() {
            return Err("has lines after its checksum line".into());
        }
        // The checksum line is the last of `body`: it covers every byte before it.
        let summed = body
            .len()
            .saturating_sub(checksum.len() + "checksum ".len());
        let want = crc32fast::hash(body.get(..summed).unwrap_or_default());
        if number("checksum", checksum, 16)? != u64::from(want) {
            return Err("is damaged (its checksum does not match its content)".into());
        }
        let targets = number("targets", targets, 10)?;
        if targets > crate::engine::MAX_TARGETS {
            return Err(format!("has targets {targets}, more than a scan can hold"));
        }
        if hex.len() as u64 != targets.div_ceil(8) * 2 {
            return Err(format!(
                "has an answered bitmap of {} hex digits; {targets} targets need {}",
                hex.len(),
                targets.div_ceil(8) * 2
            ));
        }
        let answered = hex
            .chunks_exact(2)
            .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
            .collect::<Option<Vec<u8>>>()
            .ok_or("has a non-hex digit in its answered bitmap")?;
        let spare = (targets % 8) as u32;
        if spare != 0 && answered.last().is_some_and(|b| b >> spare != 0) {
            return Err("marks targets past the last one as answered".into());
        }
        let round = number("round", round, 10)?;
        Ok(State {
            seed: number("seed", seed, 10)?,
            fingerprint: number("fingerprint", fingerprint, 16)?,
            position: Position {
                round: u8::try_from(round).map_err(|_| format!("has round {round}, too big"))?,
                pos: number("position", position, 10)?,
            },
            targets,
            answered,
        })
    }
}

/// A lowercase hex digit, as sweep writes them (one spelling, so a flipped case bit is
/// an error rather than the same value).
fn nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// An unsigned number of at most 20 digits in `radix` (10, or 16 in lowercase), with no
/// sign or spaces.
fn number(name: &str, v: &[u8], radix: u32) -> std::result::Result<u64, String> {
    let bad = || format!("has {name} '{}', not a number", shown(v));
    let digit = |b: &u8| nibble(*b).is_some_and(|d| u32::from(d) < radix);
    if v.is_empty() || v.len() > 20 || !v.iter().all(digit) {
        return Err(bad());
    }
    // All ASCII digits, so valid UTF-8.
    let text = std::str::from_utf8(v).map_err(|_| bad())?;
    u64::from_str_radix(text, radix).map_err(|_| bad())
}

/// Untrusted bytes for a one-line message: lossy, escaped, at most 40 characters.
fn shown(v: &[u8]) -> String {
    let text = String::from_utf8_lossy(v);
    let mut s: String = text
        .chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Shard;

    fn sample() -> State {
        let table = Table::new(20, false);
        table.record_reply(3, 1, 64, 0);
        table.mark_prior(17);
        State::capture(42, 0xabc, Position { round: 1, pos: 9 }, &table)
    }

    fn opts(retries: u8, shard: Shard) -> ScanOptions {
        ScanOptions {
            rate: None,
            retries,
            adaptive: false,
            fixed_rate: false,
            timeout: std::time::Duration::from_secs(1),
            seed: 42,
            payload: 56,
            path: crate::net::kernel::SendPath::Batch,
            shard,
            timestamps: false,
            senders: 0,
            count: None,
        }
    }

    /// `text` (the lines before the checksum) with a correct checksum line added, so
    /// that the field checks behind the checksum are reached.
    fn summed(text: &str) -> Vec<u8> {
        let mut b = text.as_bytes().to_vec();
        b.extend_from_slice(
            format!("checksum {:08x}\n", crc32fast::hash(text.as_bytes())).as_bytes(),
        );
        b
    }

    fn body(answered: &str, position: &str, targets: &str) -> String {
        format!(
            "sweep-state v2\nseed 42\nfingerprint 0000000000000abc\nround 1\nposition {position}\n\
             targets {targets}\nanswered {answered}\n"
        )
    }

    #[test]
    fn round_trips_through_a_file() {
        let s = sample();
        assert!(s.is_answered(3) && s.is_answered(17) && !s.is_answered(4));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.state");
        s.write(&p).unwrap();
        assert_eq!(State::read(&p).unwrap(), s);
        assert_eq!(s.to_bytes(), summed(&body("080002", "9", "20")));
        assert!(s.check(20, &opts(2, Shard::WHOLE)).is_ok());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn err(bytes: &[u8]) -> String {
        State::parse(bytes).unwrap_err()
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let good = sample().to_bytes();
        assert!(err(b"hello\n").contains("not a sweep state file"));
        assert!(err(b"sweep-state v1\nseed 1\n").contains("not a sweep state file"));
        // Every truncation, and every single flipped bit, is caught.
        for n in 0..good.len() {
            assert!(State::parse(&good[..n]).is_err(), "prefix {n}");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(State::parse(&b).is_err(), "byte {i} bit {bit}");
            }
        }
        let mut flipped = good.clone();
        let at = good.len() - 20;
        flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
        assert!(
            err(&flipped).contains("checksum does not match"),
            "{}",
            err(&flipped)
        );
        assert!(err(&good[..good.len() - 1]).contains("truncated"));
        let mut extra = good.clone();
        extra.extend_from_slice(b"more\n");
        assert!(err(&extra).contains("after its checksum"));
    }

    #[test]
    fn fields_are_validated_behind_a_good_checksum() {
        // Non-ASCII in the bitmap (a multi-byte character used to split a char boundary).
        let e = err(&summed(&body("0é002", "9", "20")));
        assert!(e.contains("non-hex"), "{e}");
        let e = err(&summed(&body("08é002", "9", "20")));
        assert!(e.contains("hex digits"), "{e}");
        let e = err(&summed(&body("0800", "9", "20")));
        assert!(
            e.contains("bitmap of 4 hex digits; 20 targets need 6"),
            "{e}"
        );
        let e = err(&summed(&body("080012", "9", "20")));
        assert!(e.contains("past the last"), "{e}");
        let e = err(&summed(&body("080002", "99999999999999999999999", "20")));
        assert!(e.contains("position '9999"), "{e}");
        let e = err(&summed(&body("080002", "-1", "20")));
        assert!(e.contains("position '-1'"), "{e}");
        let e = err(&summed(&body("080002", "9", "99999999999")));
        assert!(e.contains("more than a scan can hold"), "{e}");
        let e = err(&summed(&body("080002", "9\u{1}", "20")));
        assert!(e.contains("position '9\\u{1}'"), "{e}");
        let e = err(&summed("sweep-state v2\nseed 1\nround 1\n"));
        assert!(
            e.contains("has 'round 1' where 'fingerprint' belongs"),
            "{e}"
        );
    }

    #[test]
    fn state_must_fit_the_scan_that_resumes_it() {
        let mut s = sample();
        let whole = opts(2, Shard::WHOLE);
        assert!(s
            .check(21, &whole)
            .unwrap_err()
            .contains("20 targets, not 21"));
        assert!(s
            .check(20, &opts(0, Shard::WHOLE))
            .unwrap_err()
            .contains("round 1"));
        // Round 1 of a 1-round scan is "all sent", but only at the shard's first position.
        s.position.pos = 0;
        assert!(s.check(20, &opts(0, Shard::WHOLE)).is_ok());
        s.position.round = 2;
        assert!(s.check(20, &opts(0, Shard::WHOLE)).is_err());
        s.position.round = 1;
        s.position.pos = 1 << 40;
        assert!(s
            .check(20, &whole)
            .unwrap_err()
            .contains("position 1099511627776"));
        let shard = opts(2, Shard { index: 1, count: 4 });
        for (pos, ok) in [(0, false), (1, true), (9, true), (10, false), (21, false)] {
            s.position.pos = pos;
            assert_eq!(s.check(20, &shard).is_ok(), ok, "pos {pos}");
        }
        // Between rounds the sender stops at the shard's first position, even past n.
        let far = opts(
            2,
            Shard {
                index: 30,
                count: 40,
            },
        );
        s.position.pos = 30;
        assert!(s.check(20, &far).is_ok());
    }

    #[test]
    fn oversized_files_are_refused_unread() {
        let e = State::read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("larger than any state file"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = State::parse(&b);
            let mut with_magic = MAGIC.to_vec();
            with_magic.push(b'\n');
            with_magic.extend_from_slice(&b);
            let _ = State::parse(&with_magic);
        }
    }
}
