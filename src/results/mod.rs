//! What a scan found, as rows: the row status (`row`), CSV/JSON formatting, atomic
//! output, the summary, reverse DNS, reading sweep CSVs back, and the `merge` and `diff`
//! commands over them.

pub mod diff;
pub mod merge;
pub mod output;
pub mod path;
pub mod prom;
pub mod rdns;
pub mod reader;
pub mod row;
pub mod sink;
pub mod summary;

use output::{Format, Layout, Results};
use std::io::{self, Write};

/// Writes the hosts in `layout`'s format: CSV, JSON and NDJSON rows (`output`), or
/// Prometheus text (`prom`), which adds the scan's own metrics from `facts`.
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
        Format::Csv | Format::Json | Format::Ndjson => output::write(out, layout, r),
    }
}
