//! `kafkatx serve`: the HTTP gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kafkatx_wire::compression::Compression;
use tokio::net::TcpListener;

use super::CliError;
use crate::backend::idempotency::MarkerSettings;
use crate::backend::kafka::{self, KafkaSettings};
use crate::hangup::hangup_signal;
use crate::http::auth::{self, SharedAccess};
use crate::http::config::ServerConfig;
use crate::http::tls::{self, ClientAuth, ServerTls, TlsFiles};
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
          value_delimiter = ',', value_parser = parse_property, hide_env_values = true)]
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
    /// Let the brokers create a topic a request names (Kafka's `allow.auto.create.topics`).
    /// Off by default: a request to a topic that does not exist answers 404 `unknown_topic`.
    #[arg(long, env = "KAFKATX_ALLOW_AUTO_CREATE_TOPICS")]
    pub allow_auto_create_topics: bool,
    /// Topic of the markers that make requests with an `Idempotency-Key` run at most once;
    /// created (compacted, deleted after --idempotency-retention-ms) when missing. An empty
    /// value turns idempotency keys off: requests carrying one then answer 503.
    #[arg(
        long,
        env = "KAFKATX_IDEMPOTENCY_TOPIC",
        default_value = "kafkatx-idempotency"
    )]
    pub idempotency_topic: String,
    /// Partitions of the idempotency topic when the gateway creates it.
    #[arg(long, env = "KAFKATX_IDEMPOTENCY_PARTITIONS", default_value_t = 16,
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub idempotency_partitions: i32,
    /// How long an idempotency key is remembered: a retry later than this runs again.
    #[arg(
        long,
        env = "KAFKATX_IDEMPOTENCY_RETENTION_MS",
        default_value_t = 86_400_000
    )]
    pub idempotency_retention_ms: u64,
    /// How long a request waits for an earlier attempt with the same key to end before 409.
    #[arg(long, env = "KAFKATX_IDEMPOTENCY_WAIT_MS", default_value_t = 10_000)]
    pub idempotency_wait_ms: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "KAFKATX_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u32,
    /// Most records per request.
    #[arg(long, env = "KAFKATX_MAX_RECORDS", default_value_t = 500)]
    pub max_records: u32,
    /// Largest record (key + value + headers) in bytes.
    #[arg(long, env = "KAFKATX_MAX_RECORD_BYTES", default_value_t = 256 * 1024)]
    pub max_record_bytes: u32,
    /// Longest id of the pair endpoints, in bytes after percent-decoding.
    #[arg(long, env = "KAFKATX_MAX_ID_BYTES", default_value_t = 256)]
    pub max_id_bytes: u32,
    /// An origin (`https://app.example:8443`) whose browser scripts may call the gateway (CORS),
    /// or `*` for any; repeatable, the environment variable takes a comma-separated list. None
    /// (the default) turns CORS off.
    #[arg(long = "cors-origin", value_name = "ORIGIN", env = "KAFKATX_CORS_ORIGINS",
          value_delimiter = ',', value_parser = crate::http::cors::parse_origin)]
    pub cors_origins: Vec<String>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first). Reloaded
    /// on SIGHUP and when the file changes, without closing open connections.
    #[arg(
        long,
        env = "KAFKATX_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The unencrypted PEM private key of `--tls-cert`.
    #[arg(
        long,
        env = "KAFKATX_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Verify client certificates against these PEM CA certificates (mTLS). Alone, a client
    /// certificate is required and admits its holder to everything; with `--api-keys`, it is
    /// optional and the file's `cert:CN=` lines grant rights to certificate holders.
    #[arg(
        long,
        env = "KAFKATX_TLS_CLIENT_CA",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// How often the certificate files are checked for changes, in seconds.
    #[arg(long, env = "KAFKATX_TLS_RELOAD_INTERVAL_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub tls_reload_interval_secs: u64,
    /// Require callers to authenticate: the file lists the SHA-256 digests of their API keys
    /// (`kafkatx hash-key`) and the topics each may write (see the README). Read again on
    /// SIGHUP. Off by default.
    #[arg(long, env = "KAFKATX_API_KEYS", value_name = "FILE")]
    pub api_keys: Option<PathBuf>,
    /// `/metrics` answers only callers whose line has the `metrics` right.
    #[arg(long, env = "KAFKATX_METRICS_REQUIRE_KEY", requires = "api_keys")]
    pub metrics_require_key: bool,
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
            cors_origins: self.cors_origins.clone(),
            // Read by `access_list`: reading a file can fail, this cannot.
            access: None,
            metrics_require_key: self.metrics_require_key,
        }
    }

    /// The idempotency-key part of the flags; `None` when turned off.
    pub fn marker_settings(&self) -> Option<MarkerSettings> {
        (!self.idempotency_topic.is_empty()).then(|| MarkerSettings {
            topic: self.idempotency_topic.clone(),
            partitions: self.idempotency_partitions,
            retention: Duration::from_millis(self.idempotency_retention_ms),
            wait: Duration::from_millis(self.idempotency_wait_ms),
        })
    }

    /// The access file of `--api-keys`, read and checked against the TLS flags.
    pub fn access_list(&self) -> Result<Option<SharedAccess>, CliError> {
        let Some(path) = &self.api_keys else {
            return Ok(None);
        };
        SharedAccess::load(path, self.tls_client_ca.is_some())
            .map(Some)
            .map_err(|e| CliError::Usage(e.to_string()))
    }

    /// The TLS files, when HTTPS is asked for.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        let (cert, key) = (self.tls_cert.clone()?, self.tls_key.clone()?);
        // With an access file a client may use a key instead; alone, the certificate is the
        // only thing that authenticates, so it must be there.
        let mode = if self.api_keys.is_some() {
            ClientAuth::Optional
        } else {
            ClientAuth::Required
        };
        Some(TlsFiles {
            cert,
            key,
            client_ca: self.tls_client_ca.clone().map(|ca| (ca, mode)),
        })
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
            allow_auto_create_topics: self.allow_auto_create_topics,
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
    let mut config = args.server_config();
    config.access = args.access_list()?.map(Arc::new);
    let tls = match args.tls_files() {
        Some(files) => Some(ServerTls::load(&files).map_err(CliError::Tls)?),
        None => None,
    };
    warn_if_open(&args, config.access.as_deref());
    let shutdown = termination_signal().map_err(CliError::Signals)?;
    // Each watcher installs its own SIGHUP handler; every handler gets every signal.
    let mut reloaders = Vec::new();
    if let Some(tls) = &tls {
        let hangup = hangup_signal().map_err(CliError::Signals)?;
        let interval = Duration::from_secs(args.tls_reload_interval_secs);
        let store = Arc::clone(tls.store());
        reloaders.push(tokio::spawn(tls::watch(store, interval, hangup)));
    }
    if let Some(access) = &config.access {
        let hangup = hangup_signal().map_err(CliError::Signals)?;
        reloaders.push(tokio::spawn(auth::shared::watch(
            Arc::clone(access),
            hangup,
        )));
    }
    // Bind before starting producers: a second copy started by mistake fails here, before its
    // producers could fence those of the instance already serving on this address.
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: args.listen,
            source,
        })?;
    let settings = args.kafka_settings();
    let markers = match args.marker_settings() {
        Some(markers) => Some(kafka::marker_log(&settings, markers).await?),
        None => None,
    };
    let mut backend = kafka::connect(settings).await?;
    if let Some(markers) = markers {
        backend = backend.with_idempotency(markers);
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %args.listen, scheme, "kafkatx gateway serving");
    crate::http::server::run_with_tls(listener, tls, Arc::new(backend), config, shutdown).await;
    reloaders.iter().for_each(tokio::task::JoinHandle::abort);
    tracing::info!("kafkatx gateway stopped");
    Ok(())
}

/// Says loudly when anyone who can reach the address may write to any topic.
fn warn_if_open(args: &ServeArgs, access: Option<&SharedAccess>) {
    match (access, &args.tls_client_ca) {
        (Some(access), _) => tracing::info!(
            callers = access.current().len(),
            metrics_require_key = args.metrics_require_key,
            "authentication on: callers and their topics from --api-keys (SIGHUP reads it again)"
        ),
        (None, Some(ca)) => tracing::info!(
            ca = %ca.display(),
            "authentication by client certificate: every holder of a certificate from this CA \
             may write to every topic"
        ),
        (None, None) if !args.listen.ip().is_loopback() => tracing::warn!(
            listen = %args.listen,
            "AUTHENTICATION IS OFF on a non-loopback address: anyone who can reach it may write \
             to any topic; use --api-keys (and --tls-cert/--tls-key) to require keys"
        ),
        (None, None) => {}
    }
}
