//! The results journal: what a scan has found so far, checkpointed beside its state file
//! so that a resumed scan writes the whole inventory, answers from before a kill included.
//! Per answered target its table word, plus who sent each ICMP error and the MACs
//! learned at layer 2. Binary and compact (12 bytes per answered target); every byte is
//! untrusted when read back, so lengths, indices and words are all checked, behind a
//! CRC-32 over the file.

use crate::engine::table::Table;
use crate::error::{Error, Result};
use crate::wire::ether::Mac;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"sweep-journal v1\n";
/// Bytes of one record: an index and a word; an index, a family and an address; an index
/// and a MAC.
const CELL: usize = 4 + 8;
const RESPONDER: usize = 4 + 1 + 16;
const MAC: usize = 4 + 6;
/// The largest journal a scan can write (every target answered, with a MAC and a
/// responder). Anything bigger is refused before it fills memory.
const MAX_FILE: u64 =
    MAGIC.len() as u64 + 32 + crate::engine::MAX_TARGETS * (CELL + RESPONDER + MAC) as u64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// The scan's fingerprint (`state::fingerprint`): a journal belongs to one scan.
    pub fingerprint: u64,
    pub targets: u64,
    /// Answered targets' table words, by ascending index.
    pub cells: Vec<(u32, u64)>,
    /// Who sent each ICMP error, by ascending index.
    pub responders: Vec<(u32, IpAddr)>,
    /// MACs learned at layer 2, by ascending index.
    pub macs: Vec<(u32, Mac)>,
}

/// The journal that goes with a state file: `X.state` → `X.journal`, else `STATE.journal`.
pub fn path_for(state: &Path) -> PathBuf {
    let name = state.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = match name.as_deref().and_then(|n| n.strip_suffix(".state")) {
        Some(stem) if !stem.is_empty() => format!("{stem}.journal"),
        _ => format!("{}.journal", name.as_deref().unwrap_or("sweep")),
    };
    state.with_file_name(name)
}

/// A writer that keeps the CRC-32 of what went through it.
struct Crc<'a> {
    w: &'a mut dyn std::io::Write,
    crc: crc32fast::Hasher,
}

impl Crc<'_> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc.update(b);
        self.w.write_all(b)
    }
}

impl Journal {
    /// What `table` holds now; `mac(i)` is target `i`'s layer-2 address, if learned.
    pub fn capture(fingerprint: u64, table: &Table, mac: &dyn Fn(u32) -> Option<Mac>) -> Journal {
        let mut j = Journal {
            fingerprint,
            targets: table.len() as u64,
            ..Journal::default()
        };
        for i in 0..table.len() as u32 {
            if table.is_answered(i) {
                let w = table.word(i);
                // Prior marks (a resumed run's unjournaled answers) are not results.
                if Table::check_word(w, u8::MAX).is_ok() {
                    j.cells.push((i, w));
                }
            }
            if let Some(m) = mac(i) {
                j.macs.push((i, m));
            }
        }
        let mut responders: Vec<_> = table.responders().into_iter().collect();
        responders.sort_unstable_by_key(|&(i, _)| i);
        j.responders = responders;
        j
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(
            64 + self.cells.len() * CELL
                + self.responders.len() * RESPONDER
                + self.macs.len() * MAC,
        );
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.fingerprint.to_le_bytes());
        b.extend_from_slice(&self.targets.to_le_bytes());
        b.extend_from_slice(&(self.cells.len() as u32).to_le_bytes());
        for &(i, w) in &self.cells {
            b.extend_from_slice(&i.to_le_bytes());
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&(self.responders.len() as u32).to_le_bytes());
        for &(i, a) in &self.responders {
            b.extend_from_slice(&i.to_le_bytes());
            // IPv4 stored IPv4-mapped: one layout for both families.
            let (family, octets) = match a {
                IpAddr::V4(a) => (4u8, a.to_ipv6_mapped().octets()),
                IpAddr::V6(a) => (6u8, a.octets()),
            };
            b.push(family);
            b.extend_from_slice(&octets);
        }
        b.extend_from_slice(&(self.macs.len() as u32).to_le_bytes());
        for &(i, m) in &self.macs {
            b.extend_from_slice(&i.to_le_bytes());
            b.extend_from_slice(&m.0);
        }
        let sum = crc32fast::hash(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    /// Writes what `table` holds now as a journal, atomically, streaming: the same bytes as
    /// `capture(…).to_bytes()` without holding them (or the cells) in memory, which on a
    /// /8 would be hundreds of MB at every checkpoint.
    /// `answered` is the bitmap of the state captured just before: exactly its targets
    /// are written (answers only accumulate, so each is still answered, and two passes
    /// over it agree on the count without a list of them in memory).
    pub fn write_table(
        path: &Path,
        fingerprint: u64,
        table: &Table,
        answered: &[u8],
        mac: &dyn Fn(u32) -> Option<Mac>,
    ) -> Result<()> {
        let n = table.len() as u32;
        let in_state = |i: u32| {
            let i = i as usize;
            answered.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
        };
        // Prior marks (a resumed run's unjournaled answers) are not results.
        let cell = |i: u32| {
            let w = table.word(i);
            (in_state(i) && table.is_answered(i) && Table::check_word(w, u8::MAX).is_ok())
                .then_some(w)
        };
        let mut responders: Vec<_> = table.responders().into_iter().collect();
        responders.sort_unstable_by_key(|&(i, _)| i);
        // The count first (the format gives it ahead of the records).
        let cells = (0..n).filter(|&i| cell(i).is_some()).count() as u32;
        let listed: Vec<(u32, Mac)> = (0..n).filter_map(|i| Some((i, mac(i)?))).collect();
        crate::results::sink::write_atomically_with(path, |w| {
            let mut h = Crc {
                w,
                crc: crc32fast::Hasher::new(),
            };
            h.put(MAGIC)?;
            h.put(&fingerprint.to_le_bytes())?;
            h.put(&u64::from(n).to_le_bytes())?;
            h.put(&cells.to_le_bytes())?;
            for (i, word) in (0..n).filter_map(|i| Some((i, cell(i)?))) {
                h.put(&i.to_le_bytes())?;
                h.put(&word.to_le_bytes())?;
            }
            h.put(&(responders.len() as u32).to_le_bytes())?;
            for &(i, a) in &responders {
                h.put(&i.to_le_bytes())?;
                let (family, octets) = match a {
                    IpAddr::V4(a) => (4u8, a.to_ipv6_mapped().octets()),
                    IpAddr::V6(a) => (6u8, a.octets()),
                };
                h.put(&[family])?;
                h.put(&octets)?;
            }
            h.put(&(listed.len() as u32).to_le_bytes())?;
            for (i, m) in listed {
                h.put(&i.to_le_bytes())?;
                h.put(&m.0)?;
            }
            let sum = h.crc.finalize();
            h.w.write_all(&sum.to_le_bytes())
        })
        .map_err(|source| Error::WriteResults {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the journal atomically (temp file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::results::sink::write_atomically(path, &self.to_bytes()).map_err(|source| {
            Error::WriteResults {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Reads and checks a journal for a scan of `rounds` rounds; `None` if there is none.
    pub fn read(path: &Path, rounds: u8) -> Result<Option<Journal>> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::ReadInput {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let bad = |reason: String| Error::BadJournal {
            path: path.to_path_buf(),
            reason,
        };
        let Some(bytes) = crate::run::state::read_capped(file, path, MAX_FILE)? else {
            return Err(bad("is larger than any journal".into()));
        };
        Journal::parse(&bytes, rounds).map(Some).map_err(bad)
    }

    pub fn parse(bytes: &[u8], rounds: u8) -> std::result::Result<Journal, String> {
        let Some(body) = bytes.strip_prefix(MAGIC) else {
            return Err("is not a sweep journal".into());
        };
        let Some((content, sum)) = body.split_last_chunk::<4>() else {
            return Err("is truncated".into());
        };
        let summed = bytes.len() - 4;
        if crc32fast::hash(&bytes[..summed]) != u32::from_le_bytes(*sum) {
            return Err("is damaged (its checksum does not match its content)".into());
        }
        let mut r = Reader(content);
        let fingerprint = r.u64()?;
        let targets = r.u64()?;
        if targets > crate::engine::MAX_TARGETS {
            return Err(format!("has {targets} targets, more than a scan can hold"));
        }
        let mut j = Journal {
            fingerprint,
            targets,
            ..Journal::default()
        };
        let index = |i: u32, last: &mut Option<u32>| {
            if u64::from(i) >= targets {
                return Err(format!("names target {i} of {targets}"));
            }
            if last.is_some_and(|l| l >= i) {
                return Err(format!("lists target {i} out of order"));
            }
            *last = Some(i);
            Ok(i)
        };
        let n = r.count(CELL)?;
        let mut last = None;
        for _ in 0..n {
            let i = index(r.u32()?, &mut last)?;
            let w = r.u64()?;
            Table::check_word(w, rounds).map_err(|e| format!("target {i}'s result {e}"))?;
            j.cells.push((i, w));
        }
        let n = r.count(RESPONDER)?;
        let mut last = None;
        for _ in 0..n {
            let i = index(r.u32()?, &mut last)?;
            let family = r.take::<1>()?[0];
            let a = Ipv6Addr::from(*r.take::<16>()?);
            let a = match family {
                4 => IpAddr::V4(a.to_ipv4_mapped().ok_or("has a bad IPv4 responder")?),
                6 => IpAddr::V6(a),
                f => return Err(format!("has address family {f}")),
            };
            j.responders.push((i, a));
        }
        let n = r.count(MAC)?;
        let mut last = None;
        for _ in 0..n {
            let i = index(r.u32()?, &mut last)?;
            j.macs.push((i, Mac(*r.take::<6>()?)));
        }
        if !r.0.is_empty() {
            return Err("has bytes after its last record".into());
        }
        Ok(j)
    }
}

/// A cursor over untrusted bytes: every read is checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> std::result::Result<&[u8; N], String> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or("is truncated")?;
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(*self.take::<4>()?))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(*self.take::<8>()?))
    }

    /// A record count, checked against the bytes left for records of `size` bytes.
    fn count(&mut self, size: usize) -> std::result::Result<usize, String> {
        let n = self.u32()? as usize;
        if n.checked_mul(size).is_none_or(|len| len > self.0.len()) {
            return Err(format!("claims {n} records; the file is shorter"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Detail;

    fn sample() -> Journal {
        let (t, mac) = sample_table();
        Journal::capture(0xfeed, &t, &mac)
    }

    fn sample_table() -> (Table, impl Fn(u32) -> Option<Mac>) {
        let t = Table::new(40, false);
        t.add_probe(3);
        t.record_reply(3, 1500, 63, 0);
        t.record_error(7, Detail::of(3, 1));
        t.set_responder(7, "203.0.113.1".parse().unwrap());
        t.record_error(9, Detail::of(1, 4));
        t.set_responder(9, "2001:db8::1".parse().unwrap());
        t.mark_prior(11);
        (t, |i: u32| (i == 3).then_some(Mac([2, 0, 0, 0, 0, 3])))
    }

    #[test]
    fn streamed_journal_is_the_captured_one() {
        let (t, mac) = sample_table();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.journal");
        let all = vec![0xffu8; 5];
        Journal::write_table(&p, 0xfeed, &t, &all, &mac).unwrap();
        let want = Journal::capture(0xfeed, &t, &mac).to_bytes();
        assert_eq!(std::fs::read(&p).unwrap(), want);
    }

    #[test]
    fn round_trips_and_skips_prior_marks() {
        let j = sample();
        assert_eq!(j.cells.iter().map(|c| c.0).collect::<Vec<_>>(), [3, 7, 9]);
        assert_eq!(j.responders.len(), 2);
        assert_eq!(j.macs, [(3, Mac([2, 0, 0, 0, 0, 3]))]);
        assert_eq!(Journal::parse(&j.to_bytes(), 3), Ok(j.clone()));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.journal");
        j.write(&p).unwrap();
        assert_eq!(Journal::read(&p, 3).unwrap(), Some(j));
        assert_eq!(Journal::read(&dir.path().join("none"), 3).unwrap(), None);
    }

    #[test]
    fn journal_goes_beside_its_state() {
        let at = |s: &str| path_for(Path::new(s));
        assert_eq!(at("out.csv.state"), PathBuf::from("out.csv.journal"));
        assert_eq!(at("/d/sweep.state"), PathBuf::from("/d/sweep.journal"));
        assert_eq!(at("/d/mystate"), PathBuf::from("/d/mystate.journal"));
        assert_eq!(at(".state"), PathBuf::from(".state.journal"));
    }

    #[test]
    fn every_truncation_and_flipped_bit_is_an_error() {
        let good = sample().to_bytes();
        for n in 0..good.len() {
            assert!(Journal::parse(&good[..n], 3).is_err(), "prefix {n}");
        }
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(Journal::parse(&b, 3).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    /// The bytes of `j` with a correct checksum, so the checks behind it are reached.
    fn summed(mut j: Journal, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        j.targets = j.targets.max(1);
        let mut b = j.to_bytes();
        b.truncate(b.len() - 4);
        edit(&mut b);
        let sum = crc32fast::hash(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    #[test]
    fn fields_are_checked_behind_a_good_checksum() {
        let err = |b: Vec<u8>| Journal::parse(&b, 3).unwrap_err();
        // A word from round 2 in a scan of 2 rounds.
        let e = Journal::parse(&sample().to_bytes(), 0).unwrap_err();
        assert!(e.contains("past the scan's last"), "{e}");
        let mut j = sample();
        j.cells.swap(0, 1);
        assert!(err(summed(j, |_| {})).contains("out of order"));
        let mut j = sample();
        j.cells[0].0 = 40;
        assert!(err(summed(j, |_| {})).contains("names target 40 of 40"));
        let mut j = sample();
        j.cells[0].1 = 0;
        assert!(err(summed(j, |_| {})).contains("not an answered"));
        let e = err(summed(sample(), |b| b.push(0)));
        assert!(e.contains("after its last record"), "{e}");
        // A huge count must not allocate or read past the end.
        let e = err(summed(Journal::default(), |b| {
            let at = MAGIC.len() + 16;
            b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }));
        assert!(e.contains("claims 4294967295 records"), "{e}");
        let e = err(summed(Journal::default(), |b| {
            let at = MAGIC.len() + 8;
            b[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        }));
        assert!(e.contains("more than a scan can hold"), "{e}");
        let mut j = sample();
        j.responders.truncate(1);
        let e = err(summed(j, |b| {
            // The responder's family byte: after the header, 3 cells, the count and index.
            let at = MAGIC.len() + 16 + 4 + 3 * CELL + 4 + 4;
            b[at] = 5;
        }));
        assert!(e.contains("address family 5"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Journal::parse(&b, 3);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&b);
            let _ = Journal::parse(&with_magic, 3);
        }
    }
}
