//! The kafkatx HTTP gateway and the `kafkatx` command line.
//!
//! # Layout
//! - [`server::run`] serves HTTP until a shutdown future completes, then drains (mini-redis style:
//!   tests embed it with any future; the binary passes [`shutdown::termination_signal`]).
//! - [`backend::Backend`] is the seam to the producer pool; handlers only see this trait.
//! - [`routes`] maps paths, `handlers` answers them, [`body`] parses and validates JSON,
//!   [`error`] maps failures to statuses, [`metrics`] exposes Prometheus text.
//! - [`cli`] holds the subcommands; `main.rs` only parses flags and starts a runtime.

pub mod backend;
pub mod body;
pub mod cli;
pub mod config;
pub mod error;
pub mod group_commit;
mod group_runner;
mod handlers;
pub mod kafka_backend;
pub mod load;
pub mod metrics;
pub mod pool_backend;
pub mod pool_metrics;
pub mod probe;
pub mod record_sink;
pub mod response;
pub mod routes;
pub mod server;
pub mod shutdown;
mod state;
pub mod txn_failure;

pub use backend::{Backend, Committed, OutRecord, Placed, ProducerInfo, Readiness, TxnFailure};
pub use config::ServerConfig;
pub use server::run;
