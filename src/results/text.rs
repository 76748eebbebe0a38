//! The row formats: CSV (RFC 4180: header row, CRLF line ends, formula guard unless raw),
//! a JSON array, or NDJSON; one record per row with the chosen fields, each rendered by
//! its column codec.

use crate::results::column::Field;
use crate::results::dialect::csv_writer;
use crate::results::output::{each_chunk, Layout, Results};
use crate::results::row::Row;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Csv,
    Json,
    Ndjson,
}

/// One chunk's rows as CSV records.
fn csv_rows(rows: &[Row], fields: &[Field], raw: bool) -> io::Result<Vec<u8>> {
    let mut w = csv_writer(Vec::new());
    for row in rows {
        w.write_record(fields.iter().map(|f| f.csv(row, raw).into_owned()))?;
    }
    w.into_inner().map_err(|e| e.into_error())
}

/// One row as a JSON object of the chosen fields.
pub fn json_object(row: &Row, fields: &[Field]) -> serde_json::Map<String, serde_json::Value> {
    fields
        .iter()
        .map(|&f| (f.name().to_string(), f.get(row).json()))
        .collect()
}

/// One chunk's rows as JSON objects, each followed by `sep` but the last (JSON) or each
/// followed by a newline (NDJSON).
fn json_rows(rows: &[Row], fields: &[Field], array: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (k, row) in rows.iter().enumerate() {
        if array && k > 0 {
            out.extend_from_slice(b",\n");
        }
        serde_json::to_writer(&mut out, &json_object(row, fields))?;
        if !array {
            out.push(b'\n');
        }
    }
    Ok(out)
}

/// Writes every wanted row, with the header (CSV) or brackets (JSON) around them.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    kind: Text,
    layout: &Layout,
    r: &Results,
) -> io::Result<()> {
    let fields = &layout.fields;
    match kind {
        Text::Csv => {
            let mut head = csv_writer(Vec::new());
            head.write_record(fields.iter().map(|f| f.name()))?;
            out.write_all(&head.into_inner().map_err(|e| e.into_error())?)?;
        }
        Text::Json => out.write_all(b"[\n")?,
        Text::Ndjson => {}
    }
    let mut wrote_any = false;
    each_chunk(
        layout,
        r,
        |rows| match kind {
            Text::Csv => csv_rows(rows, fields, layout.csv_raw),
            Text::Json => json_rows(rows, fields, true),
            Text::Ndjson => json_rows(rows, fields, false),
        },
        |t| {
            if wrote_any && kind == Text::Json {
                out.write_all(b",\n")?;
            }
            wrote_any = true;
            out.write_all(&t)
        },
    )?;
    if kind == Text::Json {
        out.write_all(if wrote_any { b"\n]\n" } else { b"]\n" })?;
    }
    out.flush()
}
