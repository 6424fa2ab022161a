//! Settings of the HTTP layer: topics of the pair endpoints, limits and timeouts.
//!
//! Kafka and pool settings live with the backend; this is only what the gateway itself enforces.

use std::sync::Arc;
use std::time::Duration;

use crate::http::auth::SharedAccess;

/// Everything the HTTP layer enforces, with production defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Topic written by `GET /errors/{id}`.
    pub errors_topic: String,
    /// Topic written by `GET /warnings/{id}`.
    pub warnings_topic: String,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Most records in one request; more get 400.
    pub max_records: usize,
    /// Largest record (key + value + headers) in bytes; larger ones get 400.
    pub max_record_bytes: usize,
    /// Longest path id (after percent-decoding) of the pair endpoints, in bytes.
    pub max_id_bytes: usize,
    /// Transactions admitted at once (running or waiting for a producer); more get 503.
    pub max_pending_transactions: usize,
    /// How long a client may take to send the request headers.
    pub header_read_timeout: Duration,
    /// How long a client may take to send the request body.
    pub body_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests before closing the backend anyway.
    pub shutdown_timeout: Duration,
    /// Seconds advertised in `Retry-After` on 503 answers.
    pub retry_after_secs: u32,
    /// Origins allowed to call the gateway from a browser (CORS); empty turns CORS off, `*`
    /// allows any origin.
    pub cors_origins: Vec<String>,
    /// Who may call, and what each caller may write (`--api-keys`, reloaded on SIGHUP);
    /// `None` lets anyone write anything (authentication off, or done by a required client
    /// certificate alone).
    pub access: Option<Arc<SharedAccess>>,
    /// `/metrics` answers only callers with the `metrics` right (`--metrics-require-key`).
    pub metrics_require_key: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            errors_topic: "errors-topic".to_owned(),
            warnings_topic: "warnings-topic".to_owned(),
            max_connections: 1024,
            max_body_bytes: 1024 * 1024,
            max_records: 500,
            max_record_bytes: 256 * 1024,
            max_id_bytes: 256,
            max_pending_transactions: 256,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            retry_after_secs: 1,
            cors_origins: Vec::new(),
            access: None,
            metrics_require_key: false,
        }
    }
}
