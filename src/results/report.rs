//! `sweep report CSV… [-o FILE]`: the HTML report (`html`) made from saved sweep CSVs —
//! a merged set of shards, or an old run. The inputs are merged as `sweep merge` merges
//! them (the best status per address), so shards make one page.

use crate::error::{Error, Result};
use crate::results::html::{self, Info};
use crate::results::merge::{Merger, Output};
use crate::results::reader::Reader;
use crate::results::row::{Row, Status};
use std::path::{Path, PathBuf};

/// What a report held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reported {
    pub rows: u64,
    pub up: u64,
}

/// Every input is opened and its header checked before the output is touched; `-o` is
/// written to a temp file renamed into place only when complete.
pub fn run(inputs: &[PathBuf], output: Option<&Path>) -> Result<Reported> {
    let readers = inputs
        .iter()
        .map(|p| Reader::open(p))
        .collect::<Result<Vec<_>>>()?;
    let mut merger = Merger::new(readers)?;
    let source = std::iter::once("sweep report".to_string())
        .chain(inputs.iter().map(|p| p.display().to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    Output::prepare(output)?.fill(|out| {
        let mut rows: Vec<Row> = Vec::new();
        while let Some(row) = merger.next_row()? {
            rows.push(row);
        }
        let info = Info {
            source: &source,
            started: None,
            elapsed: None,
            targets: None,
        };
        html::write(out, &rows, &info).map_err(Error::Write)?;
        Ok(Reported {
            rows: rows.len() as u64,
            up: rows.iter().filter(|r| r.status == Status::Up).count() as u64,
        })
    })
}
