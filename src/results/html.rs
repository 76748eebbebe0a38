//! `--format html` and `sweep report`: one self-contained page (inline CSS, script and
//! data; nothing fetched) that opens from disk: the summary, a Hilbert-curve map of each
//! IPv4 range (one cell an address up to a /16, a /24 beyond, as ipv4-heatmap does)
//! coloured by status and RTT with prefix labels and a text alternative, the RTT
//! distribution, the vendors, and the host table — sortable, filterable and paged, so
//! 65,000 rows stay usable. Light and dark follow the reader's system setting.
//!
//! The counts, histogram, vendor list and map layout are computed here; the script only
//! paints the map cells and pages the table, from the rows embedded as JSON.

use crate::results::column::Field;
use crate::results::row::{Row, Status};
use crate::results::xml::escape;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// What the page says about the run besides its rows.
pub struct Info<'a> {
    /// The command line, or the CSV files a report was made from.
    pub source: &'a str,
    pub started: Option<SystemTime>,
    pub elapsed: Option<Duration>,
    /// Targets scanned, when known (a CSV without `--all` lists only the hosts up).
    pub targets: Option<u64>,
}

/// What an inventory's page adds (`sweep inventory report`): each row's first and last
/// sighting, the new and gone hosts of the last run and of the last 7 days, and the
/// hosts up per run. Plain text: the page escapes it.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// `(first_seen, last_seen)` per row, in the rows' order.
    pub seen: Vec<(String, String)>,
    /// The last run's start and its changes, `(addr, event)`.
    pub last_run: Option<(String, Vec<(String, String)>)>,
    /// The last 7 days' new and gone events, `(at, addr, event)`, oldest first.
    pub week: Vec<(String, String, String)>,
    /// Hosts up per run, `(start, up)`, oldest first.
    pub runs: Vec<(String, u64)>,
}

/// Changes listed per table on the page; the rest are counted.
const CHANGES_SHOWN: usize = 500;

/// The table's columns, in order (each rendered by its codec).
const COLUMNS: [Field; 9] = [
    Field::Addr,
    Field::Status,
    Field::RttMs,
    Field::Ttl,
    Field::Responder,
    Field::Detail,
    Field::Mac,
    Field::Vendor,
    Field::Hostname,
];

/// One map: the IPv4 block `base/prefix` on a Hilbert curve of `side`×`side` cells, each
/// cell `2^cell_bits` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    pub base: u32,
    pub prefix: u8,
    pub cell_bits: u8,
    pub side: u32,
}

impl Map {
    /// The map for IPv4 addresses `lo..=hi` (one /8 at most): the smallest block covering
    /// them (at least a /24), with an even number of cell bits so the curve fills a square.
    pub fn covering(lo: u32, hi: u32) -> Map {
        let differ = 32 - (lo ^ hi).leading_zeros();
        let mut prefix = (32 - differ).min(24) as u8;
        let cell_bits = if prefix >= 16 { 0 } else { 8 };
        if (32 - u32::from(prefix) - cell_bits) % 2 == 1 {
            prefix -= 1;
        }
        let bits = 32 - u32::from(prefix) - cell_bits;
        Map {
            base: lo & (u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)),
            prefix,
            cell_bits: cell_bits as u8,
            side: 1 << (bits / 2),
        }
    }

    /// The 16 sub-blocks the map labels (prefix + 4), each with its square's corner and
    /// side in cells.
    pub fn labels(&self) -> Vec<(u32, u32, u32, String)> {
        let cells = self.side * self.side;
        let per = cells / 16;
        let side = self.side / 4;
        (0..16)
            .map(|k| {
                let (x, y) = d2xy(self.side, k * per);
                let first = self.base + ((k * per) << self.cell_bits);
                let (x0, y0) = (x - x % side, y - y % side);
                let net = std::net::Ipv4Addr::from(first);
                (x0, y0, side, format!("{net}/{}", self.prefix + 4))
            })
            .collect()
    }
}

/// Cell `d`'s position on the Hilbert curve filling an `n`×`n` square (n a power of 2).
pub fn d2xy(n: u32, d: u32) -> (u32, u32) {
    let (mut x, mut y, mut t) = (0u32, 0u32, d);
    let mut s = 1;
    while s < n {
        let rx = 1 & (t / 2);
        let ry = 1 & (t ^ rx);
        if ry == 0 {
            if rx == 1 {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        x += s * rx;
        y += s * ry;
        t /= 4;
        s *= 2;
    }
    (x, y)
}

/// One map per /8 the IPv4 rows fall in, covering their span.
pub fn maps(rows: &[Row]) -> Vec<Map> {
    let mut spans: BTreeMap<u8, (u32, u32)> = BTreeMap::new();
    for r in rows {
        if let IpAddr::V4(a) = r.addr {
            let a = u32::from(a);
            let e = spans.entry((a >> 24) as u8).or_insert((a, a));
            e.0 = e.0.min(a);
            e.1 = e.1.max(a);
        }
    }
    spans
        .values()
        .map(|&(lo, hi)| Map::covering(lo, hi))
        .collect()
}

/// Upper bounds (ms) of the RTT histogram's bins; the last bin is open.
const BINS_MS: [f64; 11] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
];

fn histogram(rows: &[Row]) -> [u64; 12] {
    let mut h = [0u64; 12];
    for us in rows.iter().filter(|r| r.echo_up()).filter_map(|r| r.rtt_us) {
        let ms = us as f64 / 1000.0;
        let bin = BINS_MS.iter().position(|&b| ms < b).unwrap_or(11);
        h[bin] += 1;
    }
    h
}

fn histogram_svg(h: &[u64; 12]) -> String {
    let max = h.iter().copied().max().unwrap_or(0).max(1);
    let (w, bar_h) = (48u64, 160u64);
    let mut s = format!(
        "<svg class=\"hist\" viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"hist-title\"><title id=\"hist-title\">Hosts by first-reply RTT</title>",
        w * 12,
        bar_h + 40
    );
    for (k, &n) in h.iter().enumerate() {
        let label = match k {
            0 => "<0.5".to_string(),
            11 => "≥1000".to_string(),
            k => format!("<{}", BINS_MS[k]),
        };
        let bh = n * bar_h / max;
        let x = k as u64 * w;
        s.push_str(&format!(
            "<g><title>{label} ms: {n} hosts</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{bh}\"/>\
             <text x=\"{}\" y=\"{}\">{n}</text><text x=\"{}\" y=\"{}\">{}</text></g>",
            x + 4,
            bar_h - bh + 14,
            w - 8,
            x + w / 2,
            bar_h - bh + 10,
            x + w / 2,
            bar_h + 30,
            escape(&label)
        ));
    }
    s.push_str("</svg>");
    s
}

/// The rows as a JSON array of arrays (the table's columns), safe inside `<script>`.
fn rows_json(rows: &[Row], seen: Option<&[(String, String)]>) -> String {
    let mut out = String::with_capacity(rows.len() * 80);
    out.push('[');
    for (k, r) in rows.iter().enumerate() {
        if k > 0 {
            out.push_str(",\n");
        }
        let mut cells: Vec<serde_json::Value> = COLUMNS
            .iter()
            .map(|f| serde_json::Value::from(f.csv(r, true).into_owned()))
            .collect();
        if let Some(seen) = seen {
            let (first, last) = seen.get(k).cloned().unwrap_or_default();
            cells.push(first.into());
            cells.push(last.into());
        }
        out.push_str(&serde_json::Value::from(cells).to_string());
    }
    out.push(']');
    // `<` only occurs inside strings: escaped, no text can close the script element.
    out.replace('<', "\\u003c")
}

/// Writes the page for `rows` (in address order).
pub fn write<W: Write + ?Sized>(out: &mut W, rows: &[Row], info: &Info) -> io::Result<()> {
    page(out, rows, info, None)
}

/// Writes the inventory's page: `write`'s, with `history` added.
pub fn write_history<W: Write + ?Sized>(
    out: &mut W,
    rows: &[Row],
    info: &Info,
    history: &History,
) -> io::Result<()> {
    page(out, rows, info, Some(history))
}

/// The changes and the hosts-up chart of an inventory's page.
fn history_sections<W: Write + ?Sized>(out: &mut W, h: &History) -> io::Result<()> {
    // Hosts up per run: one bar each, oldest left.
    write!(
        out,
        "<section aria-labelledby=\"s-runs\"><h2 id=\"s-runs\">Hosts up per run</h2>"
    )?;
    let max = h.runs.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let n = h.runs.len().max(1) as f64;
    let (w, ht) = (800.0, 160.0);
    write!(
        out,
        "<svg class=\"runs\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"Hosts up in each of {} runs, at most {max}: see the table below\">",
        ht + 16.0,
        h.runs.len()
    )?;
    for (k, (at, up)) in h.runs.iter().enumerate() {
        let bh = ht * (*up as f64) / (max as f64);
        write!(
            out,
            "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\"><title>{}: {up} up</title></rect>",
            k as f64 * w / n,
            ht - bh,
            (w / n * 0.8).max(0.5),
            escape(at)
        )?;
    }
    write!(
        out,
        "<text x=\"0\" y=\"{}\" text-anchor=\"start\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">max {max}</text></svg>",
        ht + 14.0,
        escape(h.runs.first().map_or("", |r| r.0.as_str())),
        ht + 14.0
    )?;
    write!(
        out,
        "<details><summary>Runs as a table</summary><table><thead><tr><th>run start</th><th>up</th></tr></thead><tbody>"
    )?;
    for (at, up) in &h.runs {
        write!(out, "<tr><td>{}</td><td>{up}</td></tr>", escape(at))?;
    }
    writeln!(out, "</tbody></table></details></section>")?;
    write!(
        out,
        "<section aria-labelledby=\"s-chg\"><h2 id=\"s-chg\">Changes</h2><div class=\"two\">"
    )?;
    let table = |out: &mut W, caption: &str, rows: &[(&str, &str, &str)]| -> io::Result<()> {
        write!(out, "<div><h3>{}</h3>", escape(caption))?;
        if rows.is_empty() {
            return write!(out, "<p>No host new or gone.</p></div>");
        }
        write!(
            out,
            "<div class=\"scroll\"><table class=\"changes\"><thead><tr><th>when</th><th>addr</th><th>event</th></tr></thead><tbody>"
        )?;
        for (at, addr, ev) in rows.iter().take(CHANGES_SHOWN) {
            write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"ev-{}\">{}</td></tr>",
                escape(at),
                escape(addr),
                escape(ev),
                escape(ev)
            )?;
        }
        write!(out, "</tbody></table></div>")?;
        if rows.len() > CHANGES_SHOWN {
            write!(
                out,
                "<p>… and {} more (sweep inventory events)</p>",
                rows.len() - CHANGES_SHOWN
            )?;
        }
        write!(out, "</div>")
    };
    let (when, last) = h
        .last_run
        .as_ref()
        .map_or(("", &[][..]), |(w, l)| (w.as_str(), l.as_slice()));
    let last: Vec<(&str, &str, &str)> = last
        .iter()
        .map(|(a, e)| (when, a.as_str(), e.as_str()))
        .collect();
    table(out, &format!("Last run ({when})"), &last)?;
    let week: Vec<(&str, &str, &str)> = h
        .week
        .iter()
        .map(|(t, a, e)| (t.as_str(), a.as_str(), e.as_str()))
        .collect();
    table(out, "Last 7 days", &week)?;
    writeln!(out, "</div></section>")
}

fn page<W: Write + ?Sized>(
    out: &mut W,
    rows: &[Row],
    info: &Info,
    history: Option<&History>,
) -> io::Result<()> {
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count() as u64;
    let (up, unreach, down) = (
        count(Status::Up),
        count(Status::Unreachable),
        count(Status::Down),
    );
    let mut vendors: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        for k in 0..r.macs.len() {
            let v = r.vendors.get(k).map_or("", String::as_str);
            *vendors
                .entry(if v.is_empty() { "(unregistered)" } else { v })
                .or_default() += 1;
        }
    }
    let mut vendors: Vec<(&str, u64)> = vendors.into_iter().collect();
    vendors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let maps = maps(rows);

    out.write_all(HEAD.as_bytes())?;
    write!(
        out,
        "<header><h1>sweep report</h1><p class=\"src\">{}</p></header>\n<main>\n",
        escape(info.source)
    )?;
    // Summary.
    write!(
        out,
        "<section aria-labelledby=\"s-sum\"><h2 id=\"s-sum\">Summary</h2><dl class=\"sum\">"
    )?;
    if let Some(t) = info.targets {
        write!(
            out,
            "<div><dt>targets</dt><dd id=\"targets\">{t}</dd></div>"
        )?;
    }
    write!(
        out,
        "<div class=\"up\"><dt>up</dt><dd id=\"up-count\">{up}</dd></div>\
         <div class=\"unreach\"><dt>unreachable</dt><dd id=\"unreach-count\">{unreach}</dd></div>\
         <div class=\"down\"><dt>down (listed)</dt><dd id=\"down-count\">{down}</dd></div>\
         <div><dt>rows</dt><dd>{}</dd></div>",
        rows.len()
    )?;
    if let Some(t) = info.started {
        write!(
            out,
            "<div><dt>started</dt><dd>{}</dd></div>",
            humantime::format_rfc3339_seconds(t)
        )?;
    }
    if let Some(e) = info.elapsed {
        write!(
            out,
            "<div><dt>elapsed</dt><dd>{:.3} s</dd></div>",
            e.as_secs_f64()
        )?;
    }
    writeln!(out, "</dl></section>")?;
    if let Some(h) = history {
        history_sections(out, h)?;
    }
    // Maps.
    writeln!(
        out,
        "<section aria-labelledby=\"s-map\"><h2 id=\"s-map\">Map</h2>\
         <p class=\"legend\" aria-hidden=\"true\"><span class=\"sw\" style=\"background:#1a9850\"></span>up &lt;1 ms \
         <span class=\"sw\" style=\"background:#91cf60\"></span>&lt;10 ms <span class=\"sw\" style=\"background:#fee08b\"></span>&lt;100 ms \
         <span class=\"sw\" style=\"background:#fc8d59\"></span>≥100 ms or no echo <span class=\"sw\" style=\"background:#8e44ad\"></span>unreachable \
         <span class=\"sw\" style=\"background:#7f8c8d\"></span>down</p>"
    )?;
    if maps.is_empty() {
        write!(out, "<p>No IPv4 rows: nothing to map.</p>")?;
    }
    for (k, m) in maps.iter().enumerate() {
        let net = std::net::Ipv4Addr::from(m.base);
        let cell = if m.cell_bits == 0 {
            "one address"
        } else {
            "one /24"
        };
        write!(
            out,
            "<figure class=\"map\"><figcaption>{net}/{} on a Hilbert curve, {side}×{side} cells, each {cell}</figcaption>\
             <canvas id=\"map{k}\" class=\"mapc\" role=\"img\" aria-label=\"Map of {net}/{}: see the table of its blocks below\" \
             data-base=\"{}\" data-prefix=\"{}\" data-cellbits=\"{}\" data-side=\"{side}\" data-labels=\"{}\"></canvas>",
            m.prefix,
            m.prefix,
            m.base,
            m.prefix,
            m.cell_bits,
            escape(&serde_json::to_string(&m.labels()).unwrap_or_default()),
            side = m.side,
        )?;
        // The text alternative: each labelled block's counts.
        write!(out, "<details><summary>Blocks of {net}/{} as a table</summary><table class=\"blocks\"><thead><tr><th>block</th><th>up</th><th>unreachable</th><th>down</th></tr></thead><tbody>", m.prefix)?;
        let span = 32 - u32::from(m.prefix) - 4;
        for (_, _, _, label) in m.labels() {
            let first = label
                .split('/')
                .next()
                .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
                .map_or(0, u32::from);
            let inside = |r: &&Row| match r.addr {
                IpAddr::V4(a) => (u32::from(a) >> span) == (first >> span),
                IpAddr::V6(_) => false,
            };
            let n = |s: Status| rows.iter().filter(inside).filter(|r| r.status == s).count();
            write!(
                out,
                "<tr><td>{label}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                n(Status::Up),
                n(Status::Unreachable),
                n(Status::Down)
            )?;
        }
        writeln!(out, "</tbody></table></details></figure>")?;
    }
    writeln!(out, "</section>")?;
    // RTT distribution and vendors.
    write!(
        out,
        "<div class=\"two\"><section aria-labelledby=\"s-rtt\"><h2 id=\"s-rtt\">RTT distribution (ms)</h2>{}</section>\n\
         <section aria-labelledby=\"s-ven\"><h2 id=\"s-ven\">Vendors</h2>",
        histogram_svg(&histogram(rows))
    )?;
    if vendors.is_empty() {
        write!(out, "<p>No MAC addresses (no on-link targets).</p>")?;
    } else {
        write!(
            out,
            "<table class=\"vendors\"><thead><tr><th>vendor</th><th>MACs</th></tr></thead><tbody>"
        )?;
        for (v, n) in &vendors {
            write!(out, "<tr><td>{}</td><td>{n}</td></tr>", escape(v))?;
        }
        write!(out, "</tbody></table>")?;
    }
    writeln!(out, "</section></div>")?;
    // Host table.
    let mut names: Vec<&str> = COLUMNS.iter().map(|f| f.name()).collect();
    if history.is_some() {
        names.extend(["first_seen", "last_seen"]);
    }
    let heads: String = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            format!(
                "<th scope=\"col\"><button type=\"button\" data-col=\"{k}\">{name}</button></th>"
            )
        })
        .collect();
    write!(
        out,
        "<section aria-labelledby=\"s-hosts\"><h2 id=\"s-hosts\">Hosts</h2>\
         <p><label>Filter <input id=\"filter\" type=\"search\" placeholder=\"address, status, vendor, name…\"></label> \
         <button type=\"button\" id=\"prev\">previous</button> <button type=\"button\" id=\"next\">next</button> \
         <span id=\"pageinfo\" aria-live=\"polite\"></span></p>\
         <table id=\"hosts\"><thead><tr>{heads}</tr></thead><tbody></tbody></table></section>\n</main>\n\
         <pre id=\"errors\" hidden></pre>\n<script id=\"data\" type=\"application/json\">"
    )?;
    out.write_all(rows_json(rows, history.map(|h| h.seen.as_slice())).as_bytes())?;
    out.write_all(b"</script>\n<script>")?;
    out.write_all(SCRIPT.as_bytes())?;
    out.write_all(b"</script>\n</body>\n</html>\n")?;
    out.flush()
}

const HEAD: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>sweep report</title>
<style>
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--card:#f6f8fa;--bar:#2f81f7;--empty:#eef1f4}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;--card:#161b22;--bar:#58a6ff;--empty:#1c2128}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header,main{max-width:1200px;margin:0 auto;padding:0 16px}
h1{margin:16px 0 0;font-size:22px}h2{font-size:17px;margin:20px 0 8px}
.src{color:var(--muted);font-family:ui-monospace,monospace;word-break:break-all;margin:4px 0 0}
.sum{display:flex;flex-wrap:wrap;gap:8px;margin:0}
.sum div{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:110px}
.sum dt{color:var(--muted);font-size:12px}.sum dd{margin:0;font-size:20px;font-weight:600}
.sum .up dd{color:#1a9850}.sum .unreach dd{color:#8e44ad}
.legend{color:var(--muted)}.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin:0 3px 0 10px}
.map{margin:0 0 16px}.mapc{background:var(--empty);border:1px solid var(--line);image-rendering:pixelated;max-width:100%}
figcaption{color:var(--muted);margin-bottom:4px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:24px}@media (max-width:800px){.two{grid-template-columns:1fr}}
.hist{width:100%;max-width:600px}.hist rect{fill:var(--bar)}
.runs{width:100%;max-width:800px}.runs rect{fill:#1a9850}.runs text{fill:var(--muted);font-size:11px}
h3{font-size:15px;margin:8px 0}.scroll{max-height:360px;overflow:auto;border:1px solid var(--line)}.ev-new,.ev-back{color:#1a9850}.ev-gone{color:#c0392b}.hist text{fill:var(--fg);font-size:11px;text-anchor:middle}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:3px 6px;text-align:left;white-space:nowrap}
#hosts td{font-family:ui-monospace,monospace;font-size:12.5px}
th button{all:unset;cursor:pointer;font-weight:600}th button:focus-visible{outline:2px solid var(--bar)}
th[aria-sort=ascending] button::after{content:" ▲"}th[aria-sort=descending] button::after{content:" ▼"}
#hosts tbody tr:nth-child(even){background:var(--card)}
input,button{font:inherit;color:inherit;background:var(--card);border:1px solid var(--line);border-radius:4px;padding:2px 8px}
#errors{color:#c0392b}
.st-up{color:#1a9850}.st-unreachable{color:#8e44ad}.st-down{color:var(--muted)}
</style>
</head>
<body>
"##;

const SCRIPT: &str = r##"
"use strict";
(function () {
  var errs = document.getElementById("errors");
  window.addEventListener("error", function (e) {
    errs.hidden = false;
    errs.textContent += "script error: " + e.message + "\n";
  });
  var rows = JSON.parse(document.getElementById("data").textContent);
  function ip4(a) {
    var p = a.split(".");
    if (p.length !== 4) return -1;
    return ((+p[0] * 256 + +p[1]) * 256 + +p[2]) * 256 + +p[3];
  }
  function d2xy(n, d) {
    var x = 0, y = 0, t = d, rx, ry, s, tmp;
    for (s = 1; s < n; s *= 2) {
      rx = 1 & Math.floor(t / 2);
      ry = 1 & (t ^ rx);
      if (ry === 0) {
        if (rx === 1) { x = s - 1 - x; y = s - 1 - y; }
        tmp = x; x = y; y = tmp;
      }
      x += s * rx; y += s * ry; t = Math.floor(t / 4);
    }
    return [x, y];
  }
  var RANK = { down: 1, unreachable: 2, up: 3 };
  function colour(rank, rtt) {
    if (rank === 3) {
      if (rtt === "") return "#fc8d59";
      var ms = parseFloat(rtt);
      return ms < 1 ? "#1a9850" : ms < 10 ? "#91cf60" : ms < 100 ? "#fee08b" : "#fc8d59";
    }
    return rank === 2 ? "#8e44ad" : "#7f8c8d";
  }
  var keys = rows.map(function (r) { return ip4(r[0]); });
  document.querySelectorAll("canvas.mapc").forEach(function (cv) {
    var base = +cv.dataset.base, bits = +cv.dataset.cellbits, side = +cv.dataset.side;
    var span = side * side * Math.pow(2, bits);
    var scale = Math.max(1, Math.floor(512 / side));
    cv.width = side * scale; cv.height = side * scale;
    var g = cv.getContext("2d");
    var best = new Map();
    for (var i = 0; i < rows.length; i++) {
      var a = keys[i];
      if (a < base || a >= base + span) continue;
      var cell = Math.floor((a - base) / Math.pow(2, bits));
      var rank = RANK[rows[i][1]] || 0, rtt = rows[i][2];
      var cur = best.get(cell);
      if (!cur || rank > cur[0] || (rank === cur[0] && rtt !== "" && (cur[1] === "" || parseFloat(rtt) < parseFloat(cur[1])))) {
        best.set(cell, [rank, rtt]);
      }
    }
    best.forEach(function (v, cell) {
      var xy = d2xy(side, cell);
      g.fillStyle = colour(v[0], v[1]);
      g.fillRect(xy[0] * scale, xy[1] * scale, scale, scale);
    });
    var labels = JSON.parse(cv.dataset.labels);
    g.font = "12px system-ui, sans-serif";
    g.lineWidth = 3;
    labels.forEach(function (l) {
      var x = l[0] * scale, y = l[1] * scale, w = l[2] * scale;
      g.strokeStyle = "rgba(127,127,127,0.55)";
      g.lineWidth = 1;
      g.strokeRect(x + 0.5, y + 0.5, w - 1, w - 1);
      g.lineWidth = 3;
      g.strokeStyle = "rgba(0,0,0,0.7)";
      g.strokeText(l[3], x + 4, y + 14);
      g.fillStyle = "#fff";
      g.fillText(l[3], x + 4, y + 14);
    });
    cv.dataset.painted = String(best.size);
  });

  var PAGE = 200, page = 0, view = rows.map(function (_, i) { return i; });
  var sortCol = -1, sortDir = 1;
  var tbody = document.querySelector("#hosts tbody");
  var info = document.getElementById("pageinfo");
  var filter = document.getElementById("filter");
  var text = null;
  function num(s) { return s === "" ? Infinity : parseFloat(s); }
  function render() {
    var frag = document.createDocumentFragment();
    var end = Math.min(view.length, (page + 1) * PAGE);
    for (var k = page * PAGE; k < end; k++) {
      var r = rows[view[k]], tr = document.createElement("tr");
      for (var c = 0; c < r.length; c++) {
        var td = document.createElement("td");
        td.textContent = r[c];
        if (c === 1) td.className = "st-" + r[c];
        tr.appendChild(td);
      }
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    info.textContent = view.length === 0 ? "no rows match" :
      "rows " + (page * PAGE + 1) + "–" + end + " of " + view.length + (view.length < rows.length ? " (filtered from " + rows.length + ")" : "");
  }
  function apply() {
    var q = filter.value.trim().toLowerCase();
    if (q && !text) text = rows.map(function (r) { return r.join(" ").toLowerCase(); });
    view = [];
    for (var i = 0; i < rows.length; i++) if (!q || text[i].indexOf(q) >= 0) view.push(i);
    if (sortCol >= 0) {
      var c = sortCol;
      view.sort(function (a, b) {
        var x = rows[a][c], y = rows[b][c], d;
        if (c === 0) d = (keys[a] - keys[b]) || (x < y ? -1 : x > y ? 1 : 0);
        else if (c === 2 || c === 3) d = num(x) - num(y);
        else d = x < y ? -1 : x > y ? 1 : 0;
        return (d || a - b) * sortDir;
      });
    }
    page = 0;
    render();
  }
  document.querySelectorAll("#hosts th button").forEach(function (b) {
    b.addEventListener("click", function () {
      var c = +b.dataset.col;
      sortDir = sortCol === c ? -sortDir : 1;
      sortCol = c;
      document.querySelectorAll("#hosts th").forEach(function (th) { th.removeAttribute("aria-sort"); });
      b.parentNode.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      apply();
    });
  });
  filter.addEventListener("input", apply);
  document.getElementById("prev").addEventListener("click", function () { if (page > 0) { page--; render(); } });
  document.getElementById("next").addEventListener("click", function () { if ((page + 1) * PAGE < view.length) { page++; render(); } });
  render();
  document.body.dataset.ready = "1";
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn row(a: [u8; 4], s: Status, rtt: Option<u64>) -> Row {
        let mut r = Row::new(Ipv4Addr::from(a), s);
        r.rtt_us = rtt;
        r
    }

    #[test]
    fn hilbert_visits_every_cell_once_with_unit_steps() {
        for n in [2, 16, 256] {
            let mut seen = std::collections::HashSet::new();
            let mut prev = d2xy(n, 0);
            for d in 0..n * n {
                let p = d2xy(n, d);
                assert!(p.0 < n && p.1 < n && seen.insert(p));
                assert!(d == 0 || prev.0.abs_diff(p.0) + prev.1.abs_diff(p.1) == 1);
                prev = p;
            }
        }
    }

    #[test]
    fn maps_cover_the_rows_span() {
        for (lo, hi, want) in [
            (0xC612_0001, 0xC612_00FE, (0xC612_0000, 24, 0, 16)),
            (0xC612_0000, 0xC612_FFFF, (0xC612_0000, 16, 0, 256)),
            // A /15 has 512 /24s: odd cell bits, so the map widens to a /14 of /24s.
            (0xC612_0000, 0xC613_FFFF, (0xC610_0000, 14, 8, 32)),
            (0x0A00_0000, 0x0AFF_FFFF, (0x0A00_0000, 8, 8, 256)),
        ] {
            let m = Map::covering(lo, hi);
            assert_eq!((m.base, m.prefix, m.cell_bits, m.side), want);
        }
        let labels = Map::covering(0xC612_0000, 0xC612_FFFF).labels();
        assert_eq!(labels.len(), 16);
        assert_eq!(labels[0], (0, 0, 64, "198.18.0.0/20".to_string()));
        assert!(labels.iter().all(|l| l.0 % 64 == 0 && l.1 % 64 == 0));
        let corners: std::collections::HashSet<_> = labels.iter().map(|l| (l.0, l.1)).collect();
        assert_eq!(corners.len(), 16);
        let two = maps(&[
            row([10, 0, 0, 1], Status::Up, Some(5)),
            row([198, 18, 0, 1], Status::Up, Some(5)),
        ]);
        assert_eq!(two.len(), 2);
    }

    #[test]
    fn the_history_adds_seen_columns_changes_and_a_bar_per_run() {
        let rows = vec![row([198, 18, 0, 1], Status::Up, None)];
        let info = Info {
            source: "sweep inventory report",
            started: None,
            elapsed: None,
            targets: None,
        };
        let h = History {
            seen: vec![("2026-03-01T00:00:00Z".into(), "2026-03-05T00:00:00Z".into())],
            last_run: Some((
                "2026-03-05T00:00:00Z".into(),
                vec![("198.18.0.1".into(), "<b>new".into())],
            )),
            week: vec![],
            runs: vec![("a".into(), 1), ("b".into(), 0), ("c".into(), 1)],
        };
        let mut out = Vec::new();
        write_history(&mut out, &rows, &info, &h).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains(">first_seen</button>") && page.contains(">last_seen</button>"));
        assert!(
            page.contains("\"2026-03-01T00:00:00Z\",\"2026-03-05T00:00:00Z\"]"),
            "rows carry first/last seen"
        );
        assert!(page.contains("&lt;b&gt;new") && !page.contains("<b>new"));
        assert_eq!(page.matches("</rect>").count(), 3);
        assert!(
            page.contains("No host new or gone."),
            "the empty week says so"
        );
        // The scan's page is unchanged: no history columns.
        let mut plain = Vec::new();
        write(&mut plain, &rows, &info).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert!(!plain.contains("first_seen") && !plain.contains("Hosts up per run"));
    }

    #[test]
    fn page_holds_counts_and_no_live_markup_from_the_data() {
        let mut evil = row([198, 18, 0, 1], Status::Up, Some(1500));
        evil.hostname = "</script><script>alert(1)</script>".into();
        evil.macs = vec!["b8:27:eb:01:02:03".parse().unwrap()];
        evil.vendors = vec!["Raspberry <Pi>".into()];
        let rows = vec![
            evil,
            row([198, 18, 0, 2], Status::Unreachable, None),
            row([198, 18, 0, 3], Status::Down, None),
        ];
        let info = Info {
            source: "sweep 198.18.0.0/24 --format html & more",
            started: None,
            elapsed: Some(Duration::from_millis(1250)),
            targets: Some(254),
        };
        let mut out = Vec::new();
        write(&mut out, &rows, &info).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("<dd id=\"up-count\">1</dd>"));
        assert!(page.contains("<dd id=\"unreach-count\">1</dd>"));
        assert!(page.contains("<dd id=\"targets\">254</dd>"));
        assert!(page.contains("--format html &amp; more"));
        assert!(page.contains("<td>Raspberry &lt;Pi&gt;</td><td>1</td>"));
        assert!(
            !page.contains("<script>alert"),
            "data closes no script element"
        );
        assert!(page.contains("\\u003c/script>\\u003cscript>alert(1)"));
        assert!(page.contains("data-prefix=\"24\""));
        assert!(page.contains("<tr><td>198.18.0.0/28</td><td>1</td><td>1</td><td>1</td></tr>"));
        // Self-contained: nothing to fetch.
        for needle in ["src=\"http", "href=\"http", "url(", "@import", "fetch("] {
            assert!(!page.contains(needle), "{needle}");
        }
    }
}
