//! The questions' answers as a table: CSV in sweep's dialect (formula guard on), a JSON
//! array, or NDJSON, written atomically; a failure part-way leaves no half a file.

use crate::error::{Error, Result};
use crate::results::dialect::CsvOut;
use crate::results::sink::Sink;
use std::io;
use std::path::Path;

/// An answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Json,
    Ndjson,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Num(u64),
    Empty,
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => s.clone().into(),
            Cell::Num(n) => (*n).into(),
            Cell::Empty => serde_json::Value::Null,
        }
    }
}

/// Where a question hands its rows, one at a time.
pub type RowOut<'a> = dyn FnMut(Vec<Cell>) -> io::Result<()> + 'a;

/// Writes `columns` and the rows `fill` hands over to `output` (stdout when `None`);
/// returns how many rows. An error of `fill` discards the output.
pub fn write(
    format: TableFormat,
    columns: &[&str],
    output: Option<&Path>,
    fill: &mut dyn FnMut(&mut RowOut) -> Result<u64>,
) -> Result<u64> {
    let sink = Sink::prepare(output)?;
    let mut failed: Option<Error> = None;
    let mut rows = 0;
    let written = sink.finish(|w| {
        let result = match format {
            TableFormat::Csv => {
                let mut c = CsvOut::new(&mut *w, false);
                c.record(columns).map_err(io::Error::other)?;
                let r = fill(&mut |cells| {
                    c.record(cells.iter().map(Cell::text))
                        .map_err(io::Error::other)
                });
                c.flush()?;
                r
            }
            TableFormat::Json | TableFormat::Ndjson => {
                let array = format == TableFormat::Json;
                let mut first = true;
                let r = fill(&mut |cells| {
                    let obj: serde_json::Map<String, serde_json::Value> = columns
                        .iter()
                        .zip(&cells)
                        .map(|(k, v)| ((*k).to_string(), v.json()))
                        .collect();
                    if array {
                        w.write_all(if first { b"[\n" } else { b",\n" })?;
                    }
                    first = false;
                    serde_json::to_writer(&mut *w, &obj)?;
                    if !array {
                        w.write_all(b"\n")?;
                    }
                    Ok(())
                });
                if array {
                    w.write_all(if first { b"[]\n" } else { b"\n]\n" })?;
                }
                r
            }
        };
        match result {
            Ok(n) => {
                rows = n;
                Ok(())
            }
            Err(e) => {
                failed = Some(e);
                Err(io::Error::other("stopped"))
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    written.map(|()| rows)
}
