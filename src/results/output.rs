//! What to write and what it is made of: the format and columns (`Layout`), the scan's
//! facts (`Results`), and the scan's rows built from them — in ascending address order,
//! in parallel chunks (rayon) handed to the writer in order, a bounded number at a time,
//! so a /8 never holds all its text at once. The writers (`text`, `prom`, `xml`, `html`)
//! render these rows through the column codecs.

use crate::engine::count::CountTable;
use crate::engine::receiver::Heard;
use crate::engine::table::{Status, Table};
pub use crate::results::column::Field;
use crate::results::row::{
    neighbour_only_detail, Counted, Macs, Row, Status as RowStatus, CONFLICT, PROXY_ARP,
};
use crate::targets::Targets;
use crate::wire::ether::Mac;
use crate::wire::Detail;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
    /// Prometheus text exposition (see `prom`).
    Prometheus,
    /// The XML nmap writes for a ping scan (see `xml`).
    NmapXml,
    /// The self-contained HTML report (see `html`).
    Html,
    /// nmap's grepable ping-scan output (see `grep`).
    Grepable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub format: Format,
    pub fields: Vec<Field>,
    /// A row for every target in scope, not only those up.
    pub all: bool,
    /// CSV fields exactly as they are, without the spreadsheet-formula guard (`--csv-raw`).
    pub csv_raw: bool,
}

/// Everything a row is made from.
pub struct Results<'a> {
    pub targets: &'a Targets,
    pub table: &'a Table,
    pub heard: &'a Heard,
    pub started: SystemTime,
    pub hostnames: &'a HashMap<u32, String>,
    /// Sharded, interrupted or resumed: targets this run never probed get no row.
    pub partial: bool,
    /// The MACs the layer-2 path resolved, and those the resumed run's journal kept.
    pub macs: &'a Macs,
    /// Count mode's statistics.
    pub count: Option<&'a CountTable>,
}

/// The IEEE registry's name for the MAC's OUI; empty for locally administered or
/// unregistered prefixes.
pub fn vendor(mac: Mac) -> Option<&'static str> {
    if !mac.is_universal_unicast() {
        return None;
    }
    let hex: String = mac.0.iter().map(|b| format!("{b:02X}")).collect();
    oui_data::lookup(&hex).map(|r| r.organization())
}

/// Target `i`'s row, if `layout` wants one.
pub fn row(i: u32, layout: &Layout, r: &Results) -> Option<Row> {
    let c = r.table.get(i);
    let l2 = r.macs.get(&i);
    let macs = l2.map_or(&[][..], |n| &n.macs);
    // Present on the segment (it answered ARP / NDP) but silent to echo: up, as nmap
    // reports it.
    let present = c.status == Status::Down && !macs.is_empty();
    let wanted = c.status == Status::Up
        || present
        || (layout.all && c.status != Status::Prior && (c.in_scope() || !r.partial));
    if !wanted {
        return None;
    }
    // `wanted` writes no row for a `Prior` cell, the one without a row status.
    let status = RowStatus::of_cell(c.status, present)?;
    let addr = r.targets.addr_at(u64::from(i));
    let mut row = Row::new(addr, status);
    row.probes = u64::from(c.probes);
    row.dups = u64::from(c.dups);
    row.macs = macs.to_vec();
    row.vendors = macs
        .iter()
        .map(|&m| vendor(m).unwrap_or_default().to_string())
        .collect();
    match c.status {
        Status::Up => {
            row.rtt_us = Some(u64::from(c.rtt_us));
            row.ttl = Some(c.ttl);
            row.responder = Some(addr);
        }
        Status::Unreachable => {
            row.responder = r.heard.responders.get(&i).copied();
            row.detail = c.detail.as_str().into();
        }
        _ if present => {
            row.responder = Some(addr);
            row.detail = neighbour_only_detail(addr).into();
        }
        _ if l2.is_some_and(|n| n.proxied) => row.detail = PROXY_ARP.into(),
        _ => {}
    }
    // A conflict lists every MAC (and vendor) that answered, the first first.
    if macs.len() > 1 && status == RowStatus::Up {
        row.detail = CONFLICT.into();
    }
    // An answer whose echo data came back changed: up (or not), and said so.
    if c.detail == Detail::BAD_DATA {
        row.detail = c.detail.as_str().into();
    }
    if let Some(ms) = r.table.seen_ms(i) {
        let t = r.started + Duration::from_millis(u64::from(ms));
        row.seen_at = humantime::format_rfc3339_millis(t).to_string();
    }
    if let Some(h) = r.hostnames.get(&i) {
        row.hostname = h.clone();
    }
    if let Some(ct) = r.count {
        let s = ct.stats(i);
        let us = |v: Option<u32>| v.map(u64::from);
        row.probes = u64::from(s.sent);
        row.count = Counted {
            sent: Some(u64::from(s.sent)),
            received: Some(u64::from(s.received)),
            loss_permille: s.loss_permille(),
            min_us: us(s.min_us),
            avg_us: us(s.avg_us),
            max_us: us(s.max_us),
            stddev_us: us(s.stddev_us),
            rtts: ct
                .rtts(i)
                .map(|v| v.into_iter().map(|r| r.map(u64::from)).collect()),
            sum_us: s.sum_us,
        };
    }
    Some(row)
}

/// The rows `layout` wants, in address order, one at a time.
pub fn rows<'a>(layout: &'a Layout, r: &'a Results) -> impl Iterator<Item = Row> + 'a {
    (0..r.targets.len()).filter_map(move |i| row(i as u32, layout, r))
}

const CHUNK: u64 = 1 << 16;
/// Rows built at a time inside a chunk: a `Row` is a few hundred bytes, so a whole
/// chunk of them per core would cost tens of MB; its text is far smaller.
const BATCH: u64 = 1 << 10;

/// Renders the wanted rows chunk by chunk in parallel (`render` turns a batch of rows,
/// in address order, into bytes) and hands every non-empty text to `emit` in order.
pub fn each_chunk(
    layout: &Layout,
    r: &Results,
    render: impl Fn(&[Row]) -> io::Result<Vec<u8>> + Sync,
    mut emit: impl FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<()> {
    let n = r.targets.len();
    let chunks = n.div_ceil(CHUNK);
    // Chunks formatted per parallel step, one per core: a few MB of text in flight.
    let step = std::thread::available_parallelism().map_or(1, |c| c.get()) as u64;
    let mut first = 0;
    while first < chunks {
        let last = (first + step).min(chunks);
        let texts: Vec<io::Result<Vec<Vec<u8>>>> = (first..last)
            .into_par_iter()
            .map(|c| {
                let end = ((c + 1) * CHUNK).min(n);
                let mut texts = Vec::new();
                let mut rows: Vec<Row> = Vec::with_capacity(BATCH as usize);
                for b in (c * CHUNK..end).step_by(BATCH as usize) {
                    rows.clear();
                    rows.extend((b..(b + BATCH).min(end)).filter_map(|i| row(i as u32, layout, r)));
                    if !rows.is_empty() {
                        texts.push(render(&rows)?);
                    }
                }
                Ok(texts)
            })
            .collect();
        for t in texts {
            for t in t? {
                if !t.is_empty() {
                    emit(t)?;
                }
            }
        }
        first = last;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::dialect::unguard;
    use crate::results::text::{self, Text};
    use std::net::{IpAddr, Ipv4Addr};

    /// What the layer-2 path learned about a host that answered from `macs`.
    pub(crate) fn host(macs: &[&str]) -> crate::results::row::Neighbour {
        crate::results::row::Neighbour {
            macs: macs.iter().map(|m| m.parse().unwrap()).collect(),
            proxied: false,
        }
    }

    /// The row formats' writer, picked by `layout.format`.
    pub(crate) fn write(out: &mut Vec<u8>, layout: &Layout, r: &Results) -> io::Result<()> {
        let kind = match layout.format {
            Format::Csv => Text::Csv,
            Format::Json => Text::Json,
            Format::Ndjson => Text::Ndjson,
            f => panic!("{f:?} is not a row format"),
        };
        text::write(out, kind, layout, r)
    }

    /// A scan's results with nothing but targets, table, ICMP error senders and names:
    /// the tests' base, changed with struct update syntax where a test needs more.
    pub(crate) fn bare<'a>(
        targets: &'a Targets,
        table: &'a Table,
        heard: &'a Heard,
        hostnames: &'a HashMap<u32, String>,
    ) -> Results<'a> {
        static NO_MACS: std::sync::LazyLock<Macs> = std::sync::LazyLock::new(HashMap::new);
        Results {
            targets,
            table,
            heard,
            started: SystemTime::UNIX_EPOCH,
            hostnames,
            partial: false,
            macs: &NO_MACS,
            count: None,
        }
    }

    fn fixture() -> (Targets, Table, Heard) {
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0004)], vec![]);
        let table = Table::new(4, false);
        for i in 0..4 {
            table.add_probe(i);
        }
        table.add_probe(2);
        table.record_reply(0, 1234, 63, 0);
        table.record_reply(0, 1, 1, 0);
        table.record_error(1, Detail::of(3, 1));
        let mut heard = Heard::default();
        heard.responders.insert(1, IpAddr::from([192, 0, 2, 2]));
        (targets, table, heard)
    }

    fn render(layout: &Layout, t: &Targets, table: &Table, heard: &Heard) -> String {
        let names = HashMap::from([(0, "gw.lab".to_string())]);
        let r = bare(t, table, heard, &names);
        let mut out = Vec::new();
        write(&mut out, layout, &r).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn layout(format: Format, fields: &[Field], all: bool) -> Layout {
        Layout {
            format,
            fields: fields.to_vec(),
            all,
            csv_raw: false,
        }
    }

    #[test]
    fn a_conflict_is_up_with_every_mac_in_csv_and_a_list_in_json() {
        let (t, table, heard) = fixture();
        // .1 answered echo, .3 only ARP: both claimed by two MACs.
        let both = host(&["b8:27:eb:01:02:03", "02:42:ac:11:00:02"]);
        let macs = Macs::from([(0, both.clone()), (2, both)]);
        let names = HashMap::new();
        let r = Results {
            macs: &macs,
            ..bare(&t, &table, &heard, &names)
        };
        let fields = [
            Field::Addr,
            Field::Status,
            Field::Detail,
            Field::Mac,
            Field::Vendor,
        ];
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, &fields, false), &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,status,detail,mac,vendor\r\n\
             198.18.0.1,up,conflict,b8:27:eb:01:02:03;02:42:ac:11:00:02,Raspberry Pi Foundation;\r\n\
             198.18.0.3,up,conflict,b8:27:eb:01:02:03;02:42:ac:11:00:02,Raspberry Pi Foundation;\r\n"
        );
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Ndjson, &fields, false), &r).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(
            first["mac"],
            serde_json::json!(["b8:27:eb:01:02:03", "02:42:ac:11:00:02"])
        );
        assert_eq!(first["detail"], "conflict");
    }

    #[test]
    fn a_proxys_claims_are_down_proxy_arp_or_up_without_its_mac() {
        let n = 12;
        let t = Targets::from_v4(vec![(0xC612_0101, 0xC612_0100 + n)], vec![]);
        let table = Table::new(n as usize, false);
        for i in 0..n {
            table.add_probe(i);
        }
        // .1 is the router itself (TTL 64), .2 a host behind it (TTL 63); the rest silent.
        table.record_reply(0, 1000, 64, 0);
        table.record_reply(1, 2000, 63, 0);
        let proxied = crate::results::row::Neighbour {
            macs: Vec::new(),
            proxied: true,
        };
        let mut macs: Macs = (1..n).map(|i| (i, proxied.clone())).collect();
        macs.insert(0, host(&["00:00:0c:01:02:03"]));
        let (heard, names) = (Heard::default(), HashMap::new());
        let r = Results {
            macs: &macs,
            ..bare(&t, &table, &heard, &names)
        };
        let mut out = Vec::new();
        let fields = [
            Field::Addr,
            Field::Status,
            Field::Ttl,
            Field::Detail,
            Field::Mac,
        ];
        write(&mut out, &layout(Format::Csv, &fields, true), &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().take(4).collect();
        assert_eq!(
            rows,
            [
                "addr,status,ttl,detail,mac",
                "198.18.1.1,up,64,,00:00:0c:01:02:03",
                "198.18.1.2,up,63,,",
                "198.18.1.3,down,,proxy-arp,",
            ]
        );
        assert_eq!(text.matches("proxy-arp").count(), n as usize - 2);
        // Without --all, only the two that answered echo.
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, &fields, false), &r).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
    }

    #[test]
    fn on_link_hosts_carry_mac_vendor_and_arp_only() {
        let (t, table, heard) = fixture();
        // .1 answered echo from a Raspberry Pi; .3 answered only ARP, from a locally
        // administered MAC (no vendor); .4 never resolved.
        let macs = Macs::from([
            (0, host(&["b8:27:eb:01:02:03"])),
            (2, host(&["02:42:ac:11:00:02"])),
        ]);
        let names = HashMap::new();
        let r = Results {
            macs: &macs,
            ..bare(&t, &table, &heard, &names)
        };
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, Field::DEFAULT, false), &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor\r\n\
             198.18.0.1,up,1.234,63,198.18.0.1,1,1,,b8:27:eb:01:02:03,Raspberry Pi Foundation\r\n\
             198.18.0.3,up,,,198.18.0.3,2,0,arp-only,02:42:ac:11:00:02,\r\n"
        );
        assert_eq!(
            vendor("00:1b:21:00:00:01".parse().unwrap()),
            Some("Intel Corporate")
        );
        assert_eq!(
            vendor("01:1b:21:00:00:01".parse().unwrap()),
            None,
            "multicast"
        );
    }

    #[test]
    fn csv_rows_follow_the_schema() {
        let (t, table, heard) = fixture();
        assert_eq!(
            render(
                &layout(Format::Csv, Field::DEFAULT, true),
                &t,
                &table,
                &heard
            ),
            "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor\r\n\
             198.18.0.1,up,1.234,63,198.18.0.1,1,1,,,\r\n\
             198.18.0.2,unreachable,,,192.0.2.2,1,0,host-unreachable,,\r\n\
             198.18.0.3,down,,,,2,0,,,\r\n\
             198.18.0.4,down,,,,1,0,,,\r\n"
        );
        let up = render(
            &layout(Format::Csv, Field::DEFAULT, false),
            &t,
            &table,
            &heard,
        );
        assert_eq!(up.lines().count(), 2);
    }

    #[test]
    fn a_host_that_echoed_wrong_data_is_up_with_bad_data() {
        let (t, table, heard) = fixture();
        assert!(table.mark_bad_data(0));
        let csv = render(
            &layout(
                Format::Csv,
                &[Field::Addr, Field::Status, Field::Detail],
                false,
            ),
            &t,
            &table,
            &heard,
        );
        assert_eq!(csv, "addr,status,detail\r\n198.18.0.1,up,bad-data\r\n");
    }

    #[test]
    fn json_and_ndjson_are_typed() {
        let (t, table, heard) = fixture();
        let fields = [Field::Addr, Field::RttMs, Field::Ttl, Field::Hostname];
        let json = render(&layout(Format::Json, &fields, true), &t, &table, &heard);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 4);
        assert_eq!(v[0]["rtt_ms"], 1.234);
        assert_eq!(v[0]["ttl"], 63);
        assert_eq!(v[0]["hostname"], "gw.lab");
        assert!(v[1]["rtt_ms"].is_null());
        let nd = render(&layout(Format::Ndjson, &fields, false), &t, &table, &heard);
        assert_eq!(
            nd,
            "{\"addr\":\"198.18.0.1\",\"rtt_ms\":1.234,\"ttl\":63,\"hostname\":\"gw.lab\"}\n"
        );
        assert_eq!(
            render(
                &layout(Format::Json, &fields, false),
                &Targets::from_v4(vec![(5, 5)], vec![]),
                &Table::new(1, false),
                &heard
            ),
            "[\n]\n"
        );
    }

    #[test]
    fn chosen_fields_and_timestamps() {
        let (t, _, heard) = fixture();
        let table = Table::new(4, true);
        table.record_reply(2, 10, 64, 0);
        table.set_seen_ms(2, 1500);
        let csv = render(
            &layout(Format::Csv, &[Field::Status, Field::SeenAt], false),
            &t,
            &table,
            &heard,
        );
        assert_eq!(csv, "status,seen_at\r\nup,1970-01-01T00:00:01.500Z\r\n");
    }

    /// Every field of a CSV, read back with a real CSV reader.
    fn cells(text: &str) -> Vec<Vec<String>> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn formula_starts_are_guarded_unless_raw() {
        let (t, table, heard) = fixture();
        let evil = [
            "=HYPERLINK(\"http://x.test\",\"y\")",
            "+1",
            "-2+3",
            "@SUM(1+1)",
            "\tx",
            "\rx",
            "'=already",
            "plain.lab",
        ];
        let fields = [Field::Addr, Field::Ttl, Field::Hostname];
        for (k, name) in evil.iter().enumerate() {
            let names = HashMap::from([(0, name.to_string())]);
            let r = bare(&t, &table, &heard, &names);
            for raw in [false, true] {
                let mut lay = layout(Format::Csv, &fields, false);
                lay.csv_raw = raw;
                let mut out = Vec::new();
                write(&mut out, &lay, &r).unwrap();
                let text = String::from_utf8(out).unwrap();
                let got = &cells(&text)[0];
                assert_eq!(got[1], "63", "numbers are never guarded");
                let want = if raw || k == evil.len() - 1 {
                    name.to_string()
                } else {
                    format!("'{name}")
                };
                assert_eq!(got[2], want, "{name:?} raw={raw}");
                assert_eq!(unguard(&got[2]), if raw { unguard(name) } else { *name });
            }
            let mut json = Vec::new();
            write(&mut json, &layout(Format::Ndjson, &fields, false), &r).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["hostname"], *name, "JSON is unchanged");
        }
    }

    #[test]
    fn chunks_keep_address_order() {
        let n = 3 * CHUNK + 5;
        let targets = Targets::from_v4(vec![(1, n as u32)], vec![]);
        let table = Table::new(n as usize, false);
        (0..n as u32).for_each(|i| table.add_probe(i));
        let text = render(
            &layout(Format::Csv, Field::DEFAULT, true),
            &targets,
            &table,
            &Heard::default(),
        );
        let addrs: Vec<u32> = text
            .lines()
            .skip(1)
            .map(|l| u32::from(l.split(',').next().unwrap().parse::<Ipv4Addr>().unwrap()))
            .collect();
        assert_eq!(addrs.len() as u64, n);
        assert!(addrs.windows(2).all(|w| w[0] < w[1]));
    }

    /// Targets .1 (answered 3 of 4 probes: 1, 2, 4 ms) and .2 (none of 4).
    pub(crate) fn count_fixture() -> (Targets, Table, CountTable) {
        use crate::engine::count::CountOptions;
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0002)], vec![]);
        let table = Table::new(2, false);
        let o = CountOptions {
            count: 4,
            period: Duration::from_secs(1),
            keep_rtts: true,
        };
        let ct = CountTable::new(crate::engine::Slots::whole(2), &o);
        for r in 0..4u8 {
            for i in 0..2 {
                ct.begin(i);
            }
            if r != 2 {
                ct.record(0, r, 1000 * (u32::from(r) + 1), 1_000_000);
            }
        }
        table.add_probe(0);
        table.add_probe(1);
        table.record_reply(0, 1000, 64, 0);
        (targets, table, ct)
    }

    #[test]
    fn count_mode_columns_and_rtts() {
        let (t, table, ct) = count_fixture();
        let heard = Heard::default();
        let names = HashMap::new();
        let r = Results {
            count: Some(&ct),
            ..bare(&t, &table, &heard, &names)
        };
        let mut fields = vec![Field::Addr, Field::Status, Field::RttMs, Field::Probes];
        fields.extend_from_slice(Field::COUNT);
        fields.push(Field::Rtts);
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, &fields, true), &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,status,rtt_ms,probes,sent,received,loss_pct,rtt_min_ms,rtt_avg_ms,rtt_max_ms,rtt_stddev_ms,rtts\r\n\
             198.18.0.1,up,1.000,4,4,3,25.0,1.000,2.333,4.000,1.247,1.000 2.000 - 4.000\r\n\
             198.18.0.2,down,,4,4,0,100.0,,,,,- - - -\r\n"
        );
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Ndjson, &fields, true), &r).unwrap();
        let rows: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows[0]["loss_pct"], 25.0);
        assert_eq!(rows[0]["rtts"], serde_json::json!([1.0, 2.0, null, 4.0]));
        assert_eq!(rows[1]["rtt_avg_ms"], serde_json::Value::Null);
        assert_eq!(rows[1]["received"], 0);
    }
}
