//! `kafkatx serve`: the HTTP gateway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kafkatx_wire::compression::Compression;
use tokio::net::TcpListener;

use super::CliError;
use crate::config::ServerConfig;
use crate::kafka_backend::{self, KafkaSettings};
use crate::shutdown::termination_signal;

/// Flags of `kafkatx serve`. Every flag also reads a `KAFKATX_*` environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Brokers to bootstrap from, comma separated.
    #[arg(
        long,
        env = "KAFKATX_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// Address the HTTP gateway listens on.
    #[arg(long, env = "KAFKATX_LISTEN", default_value = "127.0.0.1:3001")]
    pub listen: SocketAddr,
    /// Transactional producers in the pool.
    #[arg(long, env = "KAFKATX_POOL_SIZE", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub pool_size: u16,
    /// Identity of this gateway instance, part of every transactional id. Must be stable across
    /// restarts of one instance (so a restart fences its own zombies) and distinct between
    /// instances (so they never fence each other). Defaults to the host name.
    #[arg(long, env = "KAFKATX_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Prefix of the transactional ids (`<prefix>-<instance>-<n>`).
    #[arg(
        long,
        env = "KAFKATX_TRANSACTIONAL_ID_PREFIX",
        default_value = "kafkatx"
    )]
    pub transactional_id_prefix: String,
    /// Topic of `GET /errors/{id}`.
    #[arg(long, env = "KAFKATX_ERRORS_TOPIC", default_value = "errors-topic")]
    pub errors_topic: String,
    /// Topic of `GET /warnings/{id}`.
    #[arg(long, env = "KAFKATX_WARNINGS_TOPIC", default_value = "warnings-topic")]
    pub warnings_topic: String,
    /// Record batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, env = "KAFKATX_COMPRESSION", default_value = "zstd")]
    pub compression: Compression,
    /// How long a request waits for a free producer before 503.
    #[arg(long, env = "KAFKATX_LEASE_TIMEOUT_MS", default_value_t = 5_000)]
    pub lease_timeout_ms: u64,
    /// Kafka `transaction.timeout.ms`: the broker aborts transactions open longer than this.
    #[arg(long, env = "KAFKATX_TRANSACTION_TIMEOUT_MS", default_value_t = 60_000)]
    pub transaction_timeout_ms: u64,
    /// Kafka `delivery.timeout.ms`: how long a record may wait for its acknowledgement, which
    /// bounds how long a request can take when a partition has no leader.
    #[arg(long, env = "KAFKATX_DELIVERY_TIMEOUT_MS", default_value_t = 120_000)]
    pub delivery_timeout_ms: u64,
    /// Any other producer setting by its Kafka name, e.g. `linger.ms=0` (repeatable; the
    /// environment variable takes a comma-separated list).
    #[arg(long = "producer-property", value_name = "KEY=VALUE", env = "KAFKATX_PRODUCER_PROPERTIES",
          value_delimiter = ',', value_parser = parse_property)]
    pub producer_properties: Vec<(String, String)>,
    /// Kafka `request.timeout.ms`: how long one broker request may take.
    #[arg(long, env = "KAFKATX_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests before aborting them.
    #[arg(long, env = "KAFKATX_SHUTDOWN_TIMEOUT_MS", default_value_t = 30_000)]
    pub shutdown_timeout_ms: u64,
    /// How long a client may take to send request headers.
    #[arg(long, env = "KAFKATX_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request body.
    #[arg(long, env = "KAFKATX_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_read_timeout_ms: u64,
    /// Connections served at once.
    #[arg(long, env = "KAFKATX_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Transactions admitted at once, running or waiting for a producer; more get 503.
    #[arg(long, env = "KAFKATX_MAX_PENDING_TRANSACTIONS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_pending_transactions: u32,
    /// Most requests that may share one Kafka transaction (group commit). 1, the default, gives
    /// every request a transaction of its own; more lets requests that wait for a producer at
    /// the same time commit together, each still all-or-nothing (see the README).
    #[arg(long, env = "KAFKATX_MAX_REQUESTS_PER_TRANSACTION", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_requests_per_transaction: u32,
    /// Largest request body in bytes.
    #[arg(long, env = "KAFKATX_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u32,
    /// Most records per request.
    #[arg(long, env = "KAFKATX_MAX_RECORDS", default_value_t = 500)]
    pub max_records: u32,
    /// Largest record (key + value + headers) in bytes.
    #[arg(long, env = "KAFKATX_MAX_RECORD_BYTES", default_value_t = 256 * 1024)]
    pub max_record_bytes: u32,
    /// Longest id of the seed endpoints, in bytes after percent-decoding.
    #[arg(long, env = "KAFKATX_MAX_ID_BYTES", default_value_t = 256)]
    pub max_id_bytes: u32,
}

impl ServeArgs {
    /// The HTTP layer's part of the flags.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            errors_topic: self.errors_topic.clone(),
            warnings_topic: self.warnings_topic.clone(),
            max_connections: to_usize(self.max_connections),
            max_body_bytes: to_usize(self.max_body_bytes),
            max_records: to_usize(self.max_records),
            max_record_bytes: to_usize(self.max_record_bytes),
            max_id_bytes: to_usize(self.max_id_bytes),
            max_pending_transactions: to_usize(self.max_pending_transactions),
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_ms),
            retry_after_secs: 1,
        }
    }

    /// The Kafka and pool part of the flags.
    pub fn kafka_settings(&self) -> KafkaSettings {
        let instance_id = self
            .instance_id
            .clone()
            .unwrap_or_else(kafkatx_pool::default_instance_id);
        KafkaSettings {
            bootstrap_servers: self
                .bootstrap_server
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            pool_size: usize::from(self.pool_size),
            instance_id,
            transactional_id_prefix: self.transactional_id_prefix.clone(),
            compression: self.compression,
            lease_timeout: Duration::from_millis(self.lease_timeout_ms),
            transaction_timeout: Duration::from_millis(self.transaction_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            delivery_timeout: Duration::from_millis(self.delivery_timeout_ms),
            producer_properties: self.producer_properties.clone(),
            max_pending_transactions: to_usize(self.max_pending_transactions),
            max_requests_per_transaction: to_usize(self.max_requests_per_transaction),
        }
    }
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `u32` always fits in `usize` on the 32- and 64-bit targets we build for.
fn to_usize(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Runs the gateway until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(args: ServeArgs) -> Result<(), CliError> {
    let config = args.server_config();
    let shutdown = termination_signal().map_err(CliError::Signals)?;
    // Bind before starting producers: a second copy started by mistake fails here, before its
    // producers could fence those of the instance already serving on this address.
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: args.listen,
            source,
        })?;
    let backend = kafka_backend::connect(args.kafka_settings()).await?;
    tracing::info!(listen = %args.listen, "kafkatx gateway serving");
    crate::server::run(listener, Arc::new(backend), config, shutdown).await;
    tracing::info!("kafkatx gateway stopped");
    Ok(())
}
