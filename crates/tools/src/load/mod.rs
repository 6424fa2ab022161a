//! The HTTP load generator behind `kafkatx load` and its exactly-once checker.
//!
//! - [`ids`]: per-run request ids and the message values that carry them.
//! - [`generator`]: drives C keep-alive connections and records every request.
//! - [`outcome`]: what one HTTP answer means for the records it asked for.
//! - [`stats`]: percentiles and the run summary.
//! - [`readback`]: reads the topic back with read_committed (our reader and `kcat`).
//! - [`checker`]: judges the requests against what the readers saw.
//! - [`report`]: prints all of it as text or JSON.
//! - [`tls`]: the client side of `https://` targets.
//! - `cli`: the flags of `kafkatx load` ([`LoadArgs`]) and the run that ties the rest together.

pub mod checker;
mod cli;
pub mod generator;
pub mod ids;
pub mod outcome;
pub mod readback;
pub mod report;
pub mod stats;
pub mod tls;

pub use cli::{Endpoint, LoadArgs, execute, execute_until, run};

/// Why a load run could not be carried out (anomalies are not errors: they are results).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `--url` is not an `http://host:port[/prefix]` URL.
    #[error("unusable --url {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `--ca` cannot be used.
    #[error("--ca: {0}")]
    Tls(String),
    /// A request could not be built (e.g. a header value the URL made invalid).
    #[error("cannot build a request: {0}")]
    Request(String),
    /// A worker task failed.
    #[error("a load worker failed: {0}")]
    Worker(String),
    /// Reading the topic back with our reader failed.
    #[error("reading {topic} back with the kafkatx reader failed: {source}")]
    ReadBack {
        /// The topic.
        topic: String,
        /// The reader's error.
        source: kafkatx_wire::reader::ReadError,
    },
    /// Reading the topic back with `kcat` failed.
    #[error("reading {topic} back with kcat failed: {reason}")]
    Kcat {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
}
