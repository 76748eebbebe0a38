//! sweep: ICMP echo host discovery. The data flows one way:
//! targets → probe → sender → transport → (network) → transport → receiver → table → output.

pub mod app;
pub mod cli;
pub mod count;
pub mod counters;
pub mod csvin;
pub mod diff;
pub mod error;
pub mod every;
pub mod interrupt;
pub mod merge;
pub mod net;
pub mod onlink;
pub mod output;
pub mod permute;
pub mod privs;
pub mod probe;
pub mod progress;
pub mod prom;
pub mod rate;
pub mod rdns;
pub mod receiver;
pub mod rto;
pub mod scan;
pub mod sender;
pub mod sink;
pub mod state;
pub mod subcommand;
pub mod summary;
pub mod table;
pub mod targets;
pub mod validate;
pub mod wire;
