//! What a scan found, as rows: the row model (`row`) and one codec per column (`column`);
//! the scan's rows (`output`) and their writers — CSV/JSON/NDJSON (`text`, in the CSV
//! `dialect`), Prometheus text (`prom`), nmap's XML (`xml`) and grepable lines (`grep`), the HTML report (`html`, also
//! from saved CSVs: `report`); atomic output (`sink`), the summary, reverse DNS,
//! reading sweep CSVs back (`reader`), and the `merge` and `diff` commands over them.

pub mod column;
pub mod dialect;
pub mod diff;
pub mod grep;
pub mod html;
pub mod merge;
pub mod output;
pub mod path;
pub mod prom;
pub mod rdns;
pub mod reader;
pub mod report;
pub mod row;
pub mod sink;
pub mod summary;
pub mod text;
pub mod xml;

use output::{Format, Layout, Results};
use std::io::{self, Write};
use text::Text;

/// Writes the hosts in `layout`'s format; Prometheus text and nmap's XML add the scan's
/// own facts.
pub fn write(
    out: &mut dyn Write,
    layout: &Layout,
    r: &Results,
    facts: &prom::ScanFacts,
) -> io::Result<()> {
    match layout.format {
        Format::Prometheus => {
            prom::write_hosts(out, layout, r)?;
            prom::write_scan(out, facts)
        }
        Format::Csv => text::write(out, Text::Csv, layout, r),
        Format::Json => text::write(out, Text::Json, layout, r),
        Format::Ndjson => text::write(out, Text::Ndjson, layout, r),
        Format::NmapXml => {
            let args = crate::redact::command_line();
            let run = xml::Run {
                args: &args,
                started: facts.started,
                elapsed: facts.elapsed,
                total: facts.targets,
                up: facts.up,
            };
            xml::write(out, layout, r, &run)
        }
        Format::Grepable => {
            let args = crate::redact::command_line();
            let run = xml::Run {
                args: &args,
                started: facts.started,
                elapsed: facts.elapsed,
                total: facts.targets,
                up: facts.up,
            };
            grep::write(out, layout, r, &run)
        }
        Format::Html => {
            let args = crate::redact::command_line();
            let rows: Vec<row::Row> = output::rows(layout, r).collect();
            let info = html::Info {
                source: &args,
                started: Some(facts.started),
                elapsed: Some(facts.elapsed),
                targets: Some(facts.targets),
            };
            html::write(out, &rows, &info)
        }
    }
}
