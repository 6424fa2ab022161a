//! The real backend: the producer pool of `kafkatx-pool` on producers of `kafkatx-txn`.
//!
//! Turns the command-line settings into a pool configuration, the producers' configuration and a
//! readiness probe, and starts the pool.

use std::time::Duration;

use kafkatx_pool::{ConfigError, KafkaProducerFactory, Pool, PoolConfig};
use kafkatx_txn::{ProducerConfig, TxnError};
use kafkatx_wire::ConnectOptions;
use kafkatx_wire::compression::Compression;

use crate::backend::idempotency::{MarkerLog, MarkerSettings, OpenError};
use crate::backend::pool::PoolBackend;
use crate::backend::probe::BootstrapProbe;

/// How long closing the pool waits for producers still leased. The pool is closed only after the
/// HTTP drain (bounded by `--shutdown-timeout-ms`), so whatever is still leased then is stuck and
/// is aborted after this short grace.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `/readyz` waits for a broker to answer.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Why the backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A producer setting is unusable.
    #[error("invalid producer settings: {0}")]
    ProducerConfig(String),
    /// The pool settings are unusable.
    #[error("invalid pool settings: {0}")]
    PoolConfig(ConfigError),
    /// No bootstrap broker was given.
    #[error("--bootstrap-server names no broker")]
    NoBootstrapServers,
    /// The producer pool could not start.
    #[error("cannot start the producer pool: {0}")]
    PoolStart(kafkatx_pool::StartError),
    /// Idempotency keys were asked for and their marker topic cannot be used.
    #[error("idempotency keys: {0}")]
    Idempotency(String),
}

/// What the pool and its producers need from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap brokers, `host:port`.
    pub bootstrap_servers: Vec<String>,
    /// Producers in the pool.
    pub pool_size: usize,
    /// This instance's identity inside transactional ids.
    pub instance_id: String,
    /// Prefix of transactional ids.
    pub transactional_id_prefix: String,
    /// Record batch compression.
    pub compression: Compression,
    /// How long a transaction waits for a free producer.
    pub lease_timeout: Duration,
    /// Kafka `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// Kafka `request.timeout.ms`.
    pub request_timeout: Duration,
    /// Kafka `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// Further producer settings by their Kafka names.
    pub producer_properties: Vec<(String, String)>,
    /// Upper bound of lease waiters (the server admits no more transactions than this).
    pub max_pending_transactions: usize,
    /// Most requests sharing one transaction; 1 turns group commit off.
    pub max_requests_per_transaction: usize,
    /// `allow.auto.create.topics` of the producers. The gateway passes false unless
    /// `--allow-auto-create-topics`: a request must never create a topic (a typo in a path
    /// would), so an unknown topic answers 404 instead.
    pub allow_auto_create_topics: bool,
}

impl KafkaSettings {
    /// The pool configuration these settings describe, validated.
    pub fn pool_config(&self) -> Result<PoolConfig, ConfigError> {
        let config = PoolConfig {
            size: self.pool_size,
            transactional_id_prefix: self.transactional_id_prefix.clone(),
            instance_id: self.instance_id.clone(),
            lease_timeout: self.lease_timeout,
            max_waiters: self.max_pending_transactions,
            close_timeout: POOL_CLOSE_TIMEOUT,
            ..PoolConfig::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// What every producer of the pool shares; the pool gives each its own transactional id.
    pub fn producer_config(&self) -> Result<ProducerConfig, TxnError> {
        let mut builder = ProducerConfig::builder()
            .bootstrap_servers(&self.bootstrap_servers.join(","))
            .client_id(format!(
                "{}-{}",
                self.transactional_id_prefix, self.instance_id
            ))
            // Validation needs an id; the pool's factory replaces it per slot.
            .transactional_id(format!(
                "{}-{}-0",
                self.transactional_id_prefix, self.instance_id
            ))
            .compression(self.compression)
            .transaction_timeout(self.transaction_timeout)
            .request_timeout(self.request_timeout)
            .delivery_timeout(self.delivery_timeout)
            .allow_auto_create_topics(self.allow_auto_create_topics);
        for (key, value) in &self.producer_properties {
            builder = builder.set(key, value)?;
        }
        Ok(builder.build()?)
    }

    /// The readiness probe of these brokers, authenticating (and speaking TLS) as the
    /// producers do.
    pub fn probe(&self) -> BootstrapProbe {
        // A configuration error surfaces when the pool starts; the probe then is plaintext.
        let security = self
            .producer_config()
            .map(|config| config.connection_security())
            .unwrap_or_default();
        BootstrapProbe::new(self.bootstrap_servers.clone(), PROBE_TIMEOUT)
            .with_sasl(security.sasl)
            .with_tls(security.tls)
    }
}

/// Opens (creating it when missing) the marker topic of idempotency keys, connecting as the
/// producers do (SASL, TLS). A cluster that refuses the topic stops the start; one that does
/// not answer yet does not (the topic is opened on the first keyed request then).
pub async fn marker_log(
    settings: &KafkaSettings,
    markers: MarkerSettings,
) -> Result<MarkerLog, StartError> {
    let security = settings
        .producer_config()
        .map_err(|e| StartError::ProducerConfig(e.to_string()))?
        .connection_security();
    let options = ConnectOptions {
        client_id: format!(
            "{}-{}-idempotency",
            settings.transactional_id_prefix, settings.instance_id
        ),
        connect_timeout: settings.request_timeout,
        request_timeout: settings.request_timeout,
        sasl: security.sasl,
        tls: security.tls,
        ..ConnectOptions::default()
    };
    let log = MarkerLog::new(markers, settings.bootstrap_servers.clone(), options);
    match log.open().await {
        Ok(()) => {}
        // Like the producers, keyed requests wait for the cluster: they answer 503 until then.
        Err(OpenError::Unreachable(detail)) => {
            tracing::warn!(%detail, "idempotency topic not reachable yet; keyed requests get 503 until it is");
        }
        Err(refused @ OpenError::Refused(_)) => {
            return Err(StartError::Idempotency(refused.to_string()));
        }
    }
    Ok(log)
}

/// The gateway backend on a pool of the engine's transactional producers.
pub type KafkaBackend = PoolBackend<KafkaProducerFactory, BootstrapProbe>;

/// Starts the pool. Returns once every producer made its first attempt to initialise (or the
/// pool's startup timeout passed); producers that failed keep retrying in the background and
/// `/readyz` reports 503 until one is ready.
pub async fn connect(settings: KafkaSettings) -> Result<KafkaBackend, StartError> {
    let pool_config = settings.pool_config().map_err(StartError::PoolConfig)?;
    if settings.bootstrap_servers.is_empty() {
        return Err(StartError::NoBootstrapServers);
    }
    // Producers are created in the background; a bad setting must stop us here instead.
    let producer_config = settings
        .producer_config()
        .map_err(|e| StartError::ProducerConfig(e.to_string()))?;
    let factory = KafkaProducerFactory::new(producer_config);
    let pool = Pool::new(pool_config, factory)
        .await
        .map_err(StartError::PoolStart)?;
    Ok(PoolBackend::with_group_commit(
        pool,
        settings.probe(),
        settings.max_requests_per_transaction,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: vec!["127.0.0.1:9092".to_owned()],
            pool_size: 5,
            instance_id: "gw-1".to_owned(),
            transactional_id_prefix: "kafkatx".to_owned(),
            compression: Compression::Zstd,
            lease_timeout: Duration::from_millis(250),
            transaction_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            producer_properties: vec![("linger.ms".to_owned(), "0".to_owned())],
            max_pending_transactions: 64,
            max_requests_per_transaction: 1,
            allow_auto_create_topics: false,
        }
    }

    #[test]
    fn the_pool_gets_the_gateway_limits_and_ids() {
        let config = settings().pool_config().unwrap();
        assert_eq!(config.size, 5);
        assert_eq!(config.max_waiters, 64);
        assert_eq!(config.lease_timeout, Duration::from_millis(250));
        assert_eq!(config.transactional_id(2), "kafkatx-gw-1-2");
    }

    #[test]
    fn producer_settings_reach_the_config_and_bad_ones_are_refused() {
        let config = settings().producer_config().unwrap();
        assert_eq!(config.client_id(), "kafkatx-gw-1");
        assert_eq!(config.bootstrap_servers(), ["127.0.0.1:9092"]);
        assert_eq!(config.compression(), Compression::Zstd);
        assert_eq!(config.request_timeout(), Duration::from_secs(30));
        assert_eq!(config.delivery_timeout(), Duration::from_secs(120));
        assert_eq!(
            config.linger(),
            Duration::ZERO,
            "producer properties apply last"
        );
        let bad = KafkaSettings {
            producer_properties: vec![("linger.mss".to_owned(), "0".to_owned())],
            ..settings()
        };
        assert!(bad.producer_config().is_err());
    }
}
