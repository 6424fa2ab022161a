//! The kafkatx HTTP gateway and the `kafkatx` command line.
//!
//! # Layout
//! - [`server::run`] serves HTTP until a shutdown future completes, then drains (mini-redis style:
//!   tests embed it with any future; the binary passes [`shutdown::termination_signal`]).
//! - [`backend::Backend`] is the seam to the producer pool; handlers only see this trait.
//! - [`routes`] declares and maps paths, `handlers` answers them, [`body`] parses and validates
//!   JSON, [`error`] maps failures to statuses, [`metrics`] exposes Prometheus text, [`cors`]
//!   answers browsers, [`openapi`] embeds the OpenAPI document of all of it.
//! - [`tls`] serves HTTPS (certificates reloaded while running), [`auth`] reads the
//!   `--api-keys` access file; the handlers check a request's caller and rights before any
//!   producer is leased.
//! - [`cli`] holds the subcommands; `main.rs` only parses flags and starts a runtime.

pub mod auth;
pub mod backend;
pub mod body;
pub mod cli;
pub mod config;
pub mod cors;
pub mod error;
pub mod group_commit;
mod group_runner;
mod handlers;
pub mod hangup;
pub mod idempotency;
pub mod kafka_backend;
pub mod metrics;
pub mod openapi;
pub mod pool_backend;
pub mod pool_metrics;
pub mod probe;
pub mod record_sink;
pub mod response;
pub mod routes;
pub mod server;
pub mod shutdown;
mod state;
pub mod tls;
pub mod txn_failure;

pub use backend::{
    Backend, Committed, MetadataError, OutRecord, PartitionInfo, Placed, ProducerInfo, Readiness,
    TopicInfo, TxnFailure,
};
pub use config::ServerConfig;
pub use server::{Peer, run, run_with_tls};
