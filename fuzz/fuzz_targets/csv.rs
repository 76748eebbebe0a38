//! Untrusted bytes as a sweep CSV read back by `sweep merge` / `sweep diff`: the header
//! check and every row must either parse or give an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use std::path::Path;
use sweep::results::reader::Reader;

fuzz_target!(|data: &[u8]| {
    let input = Box::new(Cursor::new(data.to_vec()));
    let Ok(mut reader) = Reader::new(Path::new("fuzz.csv"), input) else {
        return;
    };
    // Each row consumes input, so this ends; the bound is a second guard.
    for _ in 0..=data.len() {
        match reader.next_row() {
            Ok(Some(row)) => {
                let _ = row.fields(reader.header());
            }
            Ok(None) | Err(_) => break,
        }
    }
});
