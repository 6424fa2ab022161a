//! HTTP: the accept loop, routing, request bodies, answers and their errors, HTTPS and who
//! may call.
//!
//! - [`run`] serves until a shutdown future completes, then drains (mini-redis style: tests
//!   embed it with any future; the binary passes `shutdown::termination_signal`).
//! - [`routes`] declares and maps paths, `handlers` answers them (they only see the
//!   [`Backend`](crate::Backend) trait), [`body`] parses and validates JSON, [`error`] maps
//!   failures to statuses and stable codes, `metrics` exposes Prometheus text, `cors` answers
//!   browsers, [`openapi`] embeds the OpenAPI document of all of it.
//! - [`tls`] serves HTTPS (certificates reloaded while running), [`auth`] reads the
//!   `--api-keys` access file; the handlers check a request's caller and rights before any
//!   producer is leased.

pub mod auth;
pub mod body;
pub(crate) mod config;
pub(crate) mod cors;
pub mod error;
pub(crate) mod handlers;
pub(crate) mod metrics;
pub mod openapi;
pub(crate) mod response;
pub mod routes;
pub(crate) mod server;
pub(crate) mod state;
pub mod tls;

pub use config::ServerConfig;
pub use server::{Peer, run, run_with_tls};
