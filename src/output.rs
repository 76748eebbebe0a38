//! The CSV sink (RFC 4180: header row, CRLF line ends, quoting where needed), rows in
//! ascending address order. Rows are formatted in parallel chunks (rayon) and written in
//! order, a bounded number of chunks at a time, so a /8 never holds all its text at once.

use crate::receiver::Heard;
use crate::table::{Cell, Status, Table};
use crate::targets::Targets;
use rayon::prelude::*;
use std::io::{self, Write};
use std::net::Ipv4Addr;

pub const HEADER: [&str; 8] = [
    "addr",
    "status",
    "rtt_ms",
    "ttl",
    "responder",
    "probes",
    "dups",
    "detail",
];
const CHUNK: u64 = 1 << 16;
/// Chunks formatted per parallel step: bounds memory to a few MB of text.
const STEP: u64 = 16;

pub fn status_str(s: Status) -> &'static str {
    match s {
        Status::Up => "up",
        Status::Unreachable => "unreachable",
        Status::Down => "down",
    }
}

fn writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w)
}

/// One CSV row's fields for target `addr`.
fn write_row<W: Write>(
    w: &mut csv::Writer<W>,
    addr: Ipv4Addr,
    c: &Cell,
    responder: Option<Ipv4Addr>,
) -> csv::Result<()> {
    let up = c.status == Status::Up;
    let rtt = if up {
        format!("{}.{:03}", c.rtt_us / 1000, c.rtt_us % 1000)
    } else {
        String::new()
    };
    let ttl = if up { c.ttl.to_string() } else { String::new() };
    let responder = match (c.status, responder) {
        (Status::Up, _) => addr.to_string(),
        (Status::Unreachable, Some(r)) => r.to_string(),
        _ => String::new(),
    };
    w.write_record([
        addr.to_string().as_str(),
        status_str(c.status),
        &rtt,
        &ttl,
        &responder,
        &c.probes.to_string(),
        &c.dups.to_string(),
        c.detail.as_str(),
    ])
}

/// Writes the header and a row per target (`all`) or per target that answered.
pub fn write_csv<W: Write + ?Sized>(
    out: &mut W,
    targets: &Targets,
    table: &Table,
    heard: &Heard,
    all: bool,
) -> io::Result<()> {
    let mut head = writer(Vec::new());
    head.write_record(HEADER)?;
    out.write_all(&head.into_inner().map_err(|e| e.into_error())?)?;
    let n = targets.len();
    let chunks = n.div_ceil(CHUNK);
    let mut first = 0;
    while first < chunks {
        let last = (first + STEP).min(chunks);
        let texts: Vec<io::Result<Vec<u8>>> = (first..last)
            .into_par_iter()
            .map(|c| {
                let mut w = writer(Vec::new());
                for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                    let cell = table.get(i as u32);
                    if !all && cell.status != Status::Up {
                        continue;
                    }
                    let responder = heard.responders.get(&(i as u32)).copied();
                    write_row(&mut w, targets.addr_at(i), &cell, responder)?;
                }
                w.into_inner().map_err(|e| e.into_error())
            })
            .collect();
        for t in texts {
            out.write_all(&t?)?;
        }
        first = last;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Detail;

    #[test]
    fn rows_follow_the_schema() {
        let targets = Targets::new(vec![(0xC612_0001, 0xC612_0004)], vec![]);
        let table = Table::new(4);
        for i in 0..4 {
            table.add_probe(i);
        }
        table.add_probe(2);
        table.record_reply(0, 1234, 63, 0);
        table.record_reply(0, 1, 1, 0);
        table.record_error(1, Detail::of(3, 1));
        let mut heard = Heard::default();
        heard.responders.insert(1, Ipv4Addr::new(192, 0, 2, 2));
        let mut all = Vec::new();
        write_csv(&mut all, &targets, &table, &heard, true).unwrap();
        assert_eq!(
            String::from_utf8(all).unwrap(),
            "addr,status,rtt_ms,ttl,responder,probes,dups,detail\r\n\
             198.18.0.1,up,1.234,63,198.18.0.1,1,1,\r\n\
             198.18.0.2,unreachable,,,192.0.2.2,1,0,host-unreachable\r\n\
             198.18.0.3,down,,,,2,0,\r\n\
             198.18.0.4,down,,,,1,0,\r\n"
        );
        let mut up = Vec::new();
        write_csv(&mut up, &targets, &table, &heard, false).unwrap();
        assert_eq!(String::from_utf8(up).unwrap().lines().count(), 2);
    }

    #[test]
    fn chunks_keep_address_order() {
        let n = 3 * CHUNK + 5;
        let targets = Targets::new(vec![(1, n as u32)], vec![]);
        let table = Table::new(n as usize);
        let mut out = Vec::new();
        write_csv(&mut out, &targets, &table, &Heard::default(), true).unwrap();
        let text = String::from_utf8(out).unwrap();
        let addrs: Vec<u32> = text
            .lines()
            .skip(1)
            .map(|l| u32::from(l.split(',').next().unwrap().parse::<Ipv4Addr>().unwrap()))
            .collect();
        assert_eq!(addrs.len() as u64, n);
        assert!(addrs.windows(2).all(|w| w[0] < w[1]));
    }
}
