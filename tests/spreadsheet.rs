//! A real spreadsheet importer (gnumeric's `ssconvert`) reads sweep's CSV: text that
//! would start a formula stays text, with its original value, and `--csv-raw` output is
//! evaluated (so the check can fail). No network, no root. Reported ignored when
//! `ssconvert` is missing, and failed instead with SWEEP_REQUIRE_LAB=1 (CI installs it).

mod common;

use std::path::Path;
use std::process::Command;

use common::{parse_csv, path_str as s, plain_trial, run_trials};
use libtest_mimic::{Completion, Failed, Trial};

const INPUT: &str = "addr,status,probes,detail,hostname\r\n\
    10.0.0.1,unreachable,1,@SUM(1+1),\"=HYPERLINK(\"\"http://x.test\"\",\"\"y\"\")\"\r\n\
    10.0.0.2,down,1,,=1+1\r\n\
    10.0.0.3,down,1,,+7*6\r\n\
    10.0.0.4,down,2,,plain.lab\r\n";

fn have_ssconvert() -> bool {
    Command::new("ssconvert")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `sweep merge IN [extra]` → CSV → ssconvert (recalculated) → its cells.
fn through_spreadsheet(dir: &Path, extra: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let input = dir.join("in.csv");
    std::fs::write(&input, INPUT).map_err(|e| e.to_string())?;
    let merged = dir.join("merged.csv");
    let st = Command::new(common::sweep_bin())
        .args(["merge", s(&input), "-o", s(&merged)])
        .args(extra)
        .status()
        .map_err(|e| e.to_string())?;
    if st.code() != Some(1) {
        return Err(format!("sweep merge exited {st}, want 1 (no host up)"));
    }
    let back = dir.join("back.csv");
    let out = Command::new("ssconvert")
        .args([
            "--recalc",
            "-I",
            "Gnumeric_stf:stf_csvtab",
            "-T",
            "Gnumeric_stf:stf_csv",
            s(&merged),
            s(&back),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "ssconvert failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = std::fs::read_to_string(&back).map_err(|e| e.to_string())?;
    Ok(parse_csv(&text)?.1)
}

fn guarded_text_stays_text() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rows = through_spreadsheet(dir.path(), &[])?;
    let cells: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[3].as_str(), r[4].as_str()))
        .collect();
    let want = [
        ("@SUM(1+1)", "=HYPERLINK(\"http://x.test\",\"y\")"),
        ("", "=1+1"),
        ("", "+7*6"),
        ("", "plain.lab"),
    ];
    if cells != want {
        return Err(format!("spreadsheet cells {cells:?}, want {want:?}"));
    }
    Ok(())
}

fn raw_output_is_evaluated() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rows = through_spreadsheet(dir.path(), &["--csv-raw"])?;
    let names: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    // Gnumeric evaluates `=` on import (Excel and LibreOffice also take + - @).
    if names[..2] != ["y", "2"] {
        return Err(format!(
            "raw cells {names:?}: the spreadsheet did not evaluate them"
        ));
    }
    Ok(())
}

fn needs_ssconvert(name: &str, body: fn() -> Result<(), String>) -> Trial {
    if have_ssconvert() {
        return plain_trial(name, body);
    }
    let required = std::env::var("SWEEP_REQUIRE_LAB").is_ok_and(|v| v == "1");
    Trial::ignorable_test(name, move || {
        if required {
            Err(Failed::from(
                "ssconvert (gnumeric) is not installed (SWEEP_REQUIRE_LAB=1 makes this a failure)",
            ))
        } else {
            Ok(Completion::ignored_with(
                "needs ssconvert (apt-get install gnumeric)",
            ))
        }
    })
}

fn main() {
    run_trials(vec![
        needs_ssconvert(
            "ssconvert_reads_guarded_fields_as_text",
            guarded_text_stays_text,
        ),
        needs_ssconvert("ssconvert_evaluates_csv_raw", raw_output_is_evaluated),
    ])
}
