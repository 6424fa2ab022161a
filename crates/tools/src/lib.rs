//! The command-line tools that ship in the `kafkatx` binary beside the gateway.
//!
//! They are clients of what the other crates build, never part of it: nothing in the gateway,
//! the pool or the engine depends on this crate.
//!
//! - [`load`]: `kafkatx load`, HTTP load against a gateway and the exactly-once judge of what it
//!   wrote (our read_committed reader and `kcat` must agree).
//! - [`perf`]: `kafkatx perf`, produce throughput with the flags and summary line of Kafka's
//!   `ProducerPerformance`.
//! - [`consume`]: `kafkatx consume`, a topic's records printed up to its end.
//!
//! Each tool has its clap `…Args` and a `run` that the binary calls; errors are [`ToolError`].

#![warn(missing_docs)]

pub mod consume;
mod error;
pub mod load;
pub mod perf;

pub use error::ToolError;
