//! The resume state an interrupted scan leaves behind: where the sender stopped and which
//! targets had answered, tied to the scan's targets and options by a fingerprint.

use crate::error::{Error, Result};
use crate::permute::mix64;
use crate::scan::ScanOptions;
use crate::sender::Position;
use crate::table::Table;
use crate::targets::Targets;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

const MAGIC: &str = "sweep-state v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The probe order's seed, so a resume walks the same order. Not a secret: the
    /// resumed process draws a new probe key, so the first run's replies count nothing.
    pub seed: u64,
    pub fingerprint: u64,
    pub position: Position,
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
            answered,
        }
    }

    pub fn is_answered(&self, i: usize) -> bool {
        self.answered
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let err = |source| Error::Output {
            path: path.to_path_buf(),
            source,
        };
        let mut text = format!(
            "{MAGIC}\nseed {}\nfingerprint {:016x}\nround {}\nposition {}\nanswered ",
            self.seed, self.fingerprint, self.position.round, self.position.pos
        );
        for b in &self.answered {
            let _ = write!(text, "{b:02x}");
        }
        text.push('\n');
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        tmp.write_all(text.as_bytes()).map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    pub fn read(path: &Path) -> Result<State> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        State::parse(&text).map_err(|reason| Error::ReadInput {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, reason),
        })
    }

    /// A state file's text (untrusted: the fuzz target `state` feeds it arbitrary bytes).
    pub fn parse(text: &str) -> std::result::Result<State, String> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(format!("not a sweep state file (expected '{MAGIC}')"));
        }
        let mut field = |name: &str| -> std::result::Result<String, String> {
            let line = lines.next().ok_or(format!("missing '{name}'"))?;
            line.strip_prefix(name)
                .and_then(|v| v.strip_prefix(' '))
                .map(str::to_string)
                .ok_or(format!("expected '{name}', found '{line}'"))
        };
        let num = |v: String, radix| {
            u64::from_str_radix(&v, radix).map_err(|_| format!("bad number '{v}'"))
        };
        let seed = num(field("seed")?, 10)?;
        let fingerprint = num(field("fingerprint")?, 16)?;
        let round = num(field("round")?, 10)?;
        let pos = num(field("position")?, 10)?;
        let hex = field("answered")?;
        if hex.len() % 2 != 0 {
            return Err("odd-length answered bitmap".into());
        }
        let answered = (0..hex.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&hex[i..i + 2], 16)
                    .map_err(|_| "bad answered bitmap".to_string())
            })
            .collect::<std::result::Result<Vec<u8>, String>>()?;
        Ok(State {
            seed,
            fingerprint,
            position: Position {
                round: u8::try_from(round).map_err(|_| format!("bad round {round}"))?,
                pos,
            },
            answered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_a_file() {
        let table = Table::new(20, false);
        table.record_reply(3, 1, 64, 0);
        table.mark_prior(17);
        let s = State::capture(42, 0xabc, Position { round: 1, pos: 9 }, &table);
        assert!(s.is_answered(3) && s.is_answered(17) && !s.is_answered(4));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.state");
        s.write(&p).unwrap();
        assert_eq!(State::read(&p).unwrap(), s);
    }

    proptest::proptest! {
        /// What the fuzz target `state` does, for machines without cargo-fuzz.
        #[test]
        fn arbitrary_text_never_panics(
            tail in "[a-z0-9 \n]{0,120}",
            any in ".{0,120}",
        ) {
            for text in [format!("{MAGIC}\n{tail}"), any] {
                if let Ok(s) = State::parse(&text) {
                    let _ = s.is_answered(usize::MAX);
                }
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(State::parse("hello").is_err());
        assert!(State::parse(&format!("{MAGIC}\nseed x\n")).is_err());
        assert!(State::parse(&format!(
            "{MAGIC}\nseed 1\nfingerprint 0\nround 0\nposition 0\nanswered 0g\n"
        ))
        .is_err());
    }
}
