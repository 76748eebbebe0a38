//! sweep: host discovery with ICMP echo (and ARP / neighbour discovery on the local
//! segment). The data flows one way, one folder a stage:
//! `targets` → `probe` → `engine` (sender) → `net` → (wire) → `net` → `engine` (receiver,
//! validated by `probe`) → `results`; `run` is a whole run, `cli` its command line.
//! docs/ARCHITECTURE.md has the map.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod net;
pub mod probe;
pub mod redact;
pub mod results;
pub mod run;
pub mod store;
pub mod targets;
pub mod wire;

pub use cli::{parse, Command, Config};
pub use error::{Error, Result};
pub use run::{run, Outcome};
