//! sweep's CSV dialect: RFC 4180 with CRLF line ends, and the spreadsheet-formula guard
//! on text fields (`--csv-raw` turns it off), shared by the scan's CSV, `merge` and `diff`.

use std::io::{self, Write};

/// sweep's CSV dialect: RFC 4180 with CRLF line ends.
pub fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w)
}

/// First characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// True when `s` would start a formula, or is an already guarded one (leading `'`s before
/// a formula start), so that guarding stays reversible: `'=x` is written `''=x`.
pub fn needs_guard(s: &str) -> bool {
    s.trim_start_matches('\'').starts_with(FORMULA_START)
}

/// `s` with a leading `'` when a spreadsheet would otherwise evaluate it. Numbers sweep
/// writes are never negative, so only text (hostnames, details, foreign columns) changes.
pub fn guard(mut s: String) -> String {
    if needs_guard(&s) {
        s.insert(0, '\'');
    }
    s
}

/// The value `guard` was given: drops the `'` that `guard` added, and only that one.
pub fn unguard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if needs_guard(s) => rest,
        _ => s,
    }
}

/// A CSV writer in sweep's dialect whose text fields are guarded unless `raw`.
pub struct CsvOut<W: Write> {
    w: csv::Writer<W>,
    raw: bool,
}

impl<W: Write> CsvOut<W> {
    pub fn new(w: W, raw: bool) -> CsvOut<W> {
        CsvOut {
            w: csv_writer(w),
            raw,
        }
    }

    pub fn record<I, S>(&mut self, fields: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for f in fields {
            let f = f.as_ref();
            if !self.raw && needs_guard(f) {
                self.w.write_field(format!("'{f}"))?;
            } else {
                self.w.write_field(f)?;
            }
        }
        self.w.write_record(None::<&[u8]>)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_is_reversible() {
        for s in [
            "", "'", "''", "=", "'=", "''=x", "a=b", "-", "x", "'a", "\t",
        ] {
            assert_eq!(unguard(&guard(s.to_string())), s, "{s:?}");
        }
        assert_eq!(guard("'=x".into()), "''=x");
        assert_eq!(guard("'a".into()), "'a");
    }
}
