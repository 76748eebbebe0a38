//! What a scan found, as rows: the row status (`row`), CSV/JSON formatting, atomic
//! output, the summary, reverse DNS, reading sweep CSVs back, and the `merge` and `diff`
//! commands over them.

pub mod diff;
pub mod merge;
pub mod output;
pub mod prom;
pub mod rdns;
pub mod reader;
pub mod row;
pub mod sink;
pub mod summary;
