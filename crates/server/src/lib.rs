//! The kafkatx HTTP gateway and the `kafkatx` command line.
//!
//! # Layout
//! - [`http`]: the HTTP layer ([`run`] serves until a shutdown future completes, then drains).
//! - [`backend`]: the [`Backend`] seam the handlers see, and its implementation on the producer
//!   pool (group commit, idempotency keys, readiness probes).
//! - [`cli`] holds `serve` and `hash-key` (the other subcommands come from `kafkatx-tools`);
//!   `main.rs` only parses flags and starts a runtime. [`shutdown`] and [`hangup`] are the
//!   process's signals.

#![warn(missing_docs)]

pub mod backend;
pub mod cli;
pub mod hangup;
pub mod http;
pub mod shutdown;

pub use backend::{
    Backend, Committed, MetadataError, OutRecord, PartitionInfo, Placed, ProducerInfo, Readiness,
    TopicInfo, TxnFailure,
};
pub use http::{Peer, ServerConfig, run, run_with_tls};
