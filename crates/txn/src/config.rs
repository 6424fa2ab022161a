//! Producer configuration with the names people know from the Java client and librdkafka.
//!
//! Built through [`ProducerConfigBuilder`]: typed setters, or `set("linger.ms", "5")` string
//! pairs; `build()` rejects unknown keys, bad values and invalid combinations.

use std::time::Duration;

mod security;

/// Compression codec of produced batches (`compression.type`): the wire layer's codecs.
pub use kafkatx_wire::compression::Compression;
/// SASL credentials and mechanisms (`sasl.mechanism`, `sasl.username`, `sasl.password`).
pub use kafkatx_wire::sasl::{SaslCredentials, SaslMechanism};
/// TLS settings and configuration (`ssl.*`).
pub use kafkatx_wire::tls::{TlsConfig, TlsSettings};
use security::SecuritySettings;
pub use security::{ConnectionSecurity, SecurityProtocol};

/// Java's class name for the round-robin partitioner, accepted as a `partitioner.class` value.
pub const ROUND_ROBIN_PARTITIONER_CLASS: &str =
    "org.apache.kafka.clients.producer.RoundRobinPartitioner";

/// How records without an explicit partition are spread over their topic (`partitioner.class`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionerClass {
    /// `partitioner.class` unset: Java's built-in partitioner (KIP-480, KIP-794 without the
    /// adaptive weighting). A keyed record goes to murmur2 of its key; keyless records stick to
    /// one partition for up to `batch.size` bytes, then to another one chosen at random.
    #[default]
    BuiltIn,
    /// `org.apache.kafka.clients.producer.RoundRobinPartitioner` (alias `round_robin`): every
    /// record to the topic's next partition in turn. Like Java's class it ignores keys.
    RoundRobin,
}

/// A rejected configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a known setting.
    #[error("unknown configuration key `{0}`")]
    UnknownKey(String),
    /// The value cannot be parsed or is out of range.
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// The value given.
        value: String,
        /// Why it is wrong.
        reason: &'static str,
    },
    /// Settings that are fine alone but not together.
    #[error("invalid configuration: {0}")]
    Conflict(String),
}

/// A validated producer configuration. Idempotence is always on and acks is always `all`.
///
/// Built by [`ProducerConfigBuilder`], which validates every setting and their
/// combinations; read through the getters, named like the fields of Java's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port` list.
    pub(crate) bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub(crate) client_id: String,
    /// `transactional.id`; `None` makes an idempotent-only producer.
    pub(crate) transactional_id: Option<String>,
    /// `transaction.timeout.ms`.
    pub(crate) transaction_timeout: Duration,
    /// `linger.ms`.
    pub(crate) linger: Duration,
    /// `batch.size` in bytes.
    pub(crate) batch_size: usize,
    /// `compression.type`.
    pub(crate) compression: Compression,
    /// `delivery.timeout.ms`: bound on the time a record may wait for an acknowledgement.
    pub(crate) delivery_timeout: Duration,
    /// `request.timeout.ms`.
    pub(crate) request_timeout: Duration,
    /// `retry.backoff.ms`.
    pub(crate) retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub(crate) retry_backoff_max: Duration,
    /// `max.in.flight.requests.per.connection` (1..=5 with idempotence).
    pub(crate) max_in_flight: usize,
    /// `metadata.max.age.ms`: periodic metadata refresh.
    pub(crate) metadata_max_age: Duration,
    /// `max.block.ms`: bound on init/commit/abort/flush calls.
    pub(crate) max_block: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub(crate) connect_timeout: Duration,
    /// `partitioner.class`.
    pub(crate) partitioner: PartitionerClass,
    /// `partitioner.ignore.keys`: the built-in partitioner places keyed records like keyless
    /// ones (no effect with round robin, which ignores keys anyway).
    pub(crate) partitioner_ignore_keys: bool,
    /// `max.request.size`: the largest Produce request, and so the largest record, in bytes.
    pub(crate) max_request_size: usize,
    /// `buffer.memory`: bytes of records held until the brokers acknowledge or refuse them;
    /// `send` waits up to `max.block.ms` for room.
    pub(crate) buffer_memory: usize,
    /// Seed of the jitter and partition-choice RNGs (`kafkatx.rng.seed`), so a run can be
    /// replayed. Random unless set: producers of one fleet sharing a seed would retry in step
    /// after a failover, all hitting the new leader at the same instants.
    pub(crate) rng_seed: u64,
    /// `security.protocol=SASL_PLAINTEXT` with `sasl.mechanism`, `sasl.username` and
    /// `sasl.password`: every connection authenticates with these. `None` is PLAINTEXT.
    /// `Debug` shows no password.
    pub(crate) sasl: Option<SaslCredentials>,
    /// `security.protocol=SSL` or `SASL_SSL` with the `ssl.*` settings: every connection speaks
    /// TLS with this configuration. `None` is plaintext.
    pub(crate) tls: Option<TlsConfig>,
    /// `allow.auto.create.topics`: whether the brokers may create a topic this producer asks
    /// metadata for (Java's producer default, true). When false, a topic the cluster does not
    /// know fails its records with [`crate::TxnError`]'s unknown-topic error soon instead of
    /// waiting for `max.block.ms` / `delivery.timeout.ms`.
    pub(crate) allow_auto_create_topics: bool,
}

impl ProducerConfig {
    /// Start building a configuration.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// `bootstrap.servers`: `host:port` list.
    pub fn bootstrap_servers(&self) -> &[String] {
        &self.bootstrap_servers
    }

    /// `client.id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `transactional.id`; `None` makes an idempotent-only producer.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }

    /// `linger.ms`.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// `batch.size` in bytes.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// `compression.type`.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// `delivery.timeout.ms`: bound on the time a record may wait for an acknowledgement.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `retry.backoff.ms`.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// `retry.backoff.max.ms`.
    pub fn retry_backoff_max(&self) -> Duration {
        self.retry_backoff_max
    }

    /// `max.in.flight.requests.per.connection` (1..=5 with idempotence).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// `metadata.max.age.ms`: periodic metadata refresh.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }

    /// `max.block.ms`: bound on init/commit/abort/flush calls.
    pub fn max_block(&self) -> Duration {
        self.max_block
    }

    /// `socket.connection.setup.timeout.ms`.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `partitioner.class`.
    pub fn partitioner(&self) -> PartitionerClass {
        self.partitioner
    }

    /// `partitioner.ignore.keys`: the built-in partitioner places keyed records like keyless
    /// ones (no effect with round robin, which ignores keys anyway).
    pub fn partitioner_ignore_keys(&self) -> bool {
        self.partitioner_ignore_keys
    }

    /// `max.request.size`: the largest Produce request, and so the largest record, in bytes.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// `buffer.memory`: bytes of records held until the brokers acknowledge or refuse them;
    /// `send` waits up to `max.block.ms` for room.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// Seed of the jitter and partition-choice RNGs (`kafkatx.rng.seed`), so a run can be
    /// replayed. Random unless set: producers of one fleet sharing a seed would retry in step
    /// after a failover, all hitting the new leader at the same instants.
    pub fn rng_seed(&self) -> u64 {
        self.rng_seed
    }

    /// `security.protocol=SASL_PLAINTEXT` with `sasl.mechanism`, `sasl.username` and
    /// `sasl.password`: every connection authenticates with these. `None` is PLAINTEXT.
    /// `Debug` shows no password.
    pub fn sasl(&self) -> Option<&SaslCredentials> {
        self.sasl.as_ref()
    }

    /// `security.protocol=SSL` or `SASL_SSL` with the `ssl.*` settings: every connection speaks
    /// TLS with this configuration. `None` is plaintext.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// `allow.auto.create.topics`: whether the brokers may create a topic this producer asks
    /// metadata for (Java's producer default, true). When false, a topic the cluster does not
    /// know fails its records with [`crate::TxnError`]'s unknown-topic error soon instead of
    /// waiting for `max.block.ms` / `delivery.timeout.ms`.
    pub fn allow_auto_create_topics(&self) -> bool {
        self.allow_auto_create_topics
    }

    /// The same configuration with `transactional.id` set to `id` (a pool gives each of its
    /// producers its own id); refused like the builder refuses it when empty.
    pub fn with_transactional_id(mut self, id: impl Into<String>) -> Result<Self, ConfigError> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(ConfigError::Conflict(
                "transactional.id must not be empty".into(),
            ));
        }
        self.transactional_id = Some(id);
        Ok(self)
    }

    /// Whether this is a transactional producer.
    pub fn is_transactional(&self) -> bool {
        self.transactional_id.is_some()
    }

    /// `security.protocol`.
    pub fn security_protocol(&self) -> SecurityProtocol {
        match (self.sasl.is_some(), self.tls.is_some()) {
            (false, false) => SecurityProtocol::Plaintext,
            (true, false) => SecurityProtocol::SaslPlaintext,
            (false, true) => SecurityProtocol::Ssl,
            (true, true) => SecurityProtocol::SaslSsl,
        }
    }

    /// SASL credentials and TLS, as the connections use them.
    pub fn connection_security(&self) -> ConnectionSecurity {
        ConnectionSecurity {
            sasl: self.sasl.clone(),
            tls: self.tls.clone(),
        }
    }
}

/// Only the security settings (`security.protocol`, `sasl.*`, `ssl.*`), for tools that read
/// rather than produce (`kafkatx consume`, the load checker's read-back, the readiness
/// probe): any other key is refused as unknown.
pub fn connection_security<'a>(
    properties: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ConnectionSecurity, ConfigError> {
    let mut security = SecuritySettings::default();
    for (key, value) in properties {
        match security.apply(key, value) {
            Some(result) => result?,
            None => return Err(ConfigError::UnknownKey(key.to_owned())),
        }
    }
    security.build()
}

/// A seed from the operating system's randomness (std seeds every `RandomState` from it).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Builder for [`ProducerConfig`].
#[derive(Debug, Clone)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    security: SecuritySettings,
    first_error: Option<ConfigError>,
}

impl Default for ProducerConfigBuilder {
    fn default() -> Self {
        Self {
            config: ProducerConfig {
                bootstrap_servers: Vec::new(),
                client_id: "kafkatx".to_owned(),
                transactional_id: None,
                transaction_timeout: Duration::from_secs(60),
                linger: Duration::from_millis(5),
                batch_size: 16_384,
                compression: Compression::None,
                delivery_timeout: Duration::from_secs(120),
                request_timeout: Duration::from_secs(30),
                retry_backoff: Duration::from_millis(100),
                retry_backoff_max: Duration::from_secs(1),
                max_in_flight: 5,
                metadata_max_age: Duration::from_secs(300),
                max_block: Duration::from_secs(60),
                connect_timeout: Duration::from_secs(10),
                partitioner: PartitionerClass::BuiltIn,
                partitioner_ignore_keys: false,
                max_request_size: 1_048_576,
                buffer_memory: 33_554_432,
                rng_seed: random_seed(),
                sasl: None,
                tls: None,
                allow_auto_create_topics: true,
            },
            security: SecuritySettings::default(),
            first_error: None,
        }
    }
}

fn split_servers(servers: &str) -> Vec<String> {
    servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_millis(key: &'static str, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| ConfigError::InvalidValue {
            key,
            value: value.to_owned(),
            reason: "expected a non-negative number of milliseconds",
        })
}

fn parse_number<T: std::str::FromStr>(key: &'static str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| ConfigError::InvalidValue {
            key,
            value: value.to_owned(),
            reason: "expected a non-negative integer",
        })
}

fn parse_compression(value: &str) -> Result<Compression, ConfigError> {
    value.parse().map_err(|_| ConfigError::InvalidValue {
        key: "compression.type",
        value: value.to_owned(),
        reason: "expected none, gzip, snappy, lz4 or zstd",
    })
}

fn parse_partitioner(value: &str) -> Result<PartitionerClass, ConfigError> {
    match value.trim() {
        // Empty means unset, so a templated `partitioner.class=` keeps Java's default.
        "" => Ok(PartitionerClass::BuiltIn),
        ROUND_ROBIN_PARTITIONER_CLASS | "round_robin" => Ok(PartitionerClass::RoundRobin),
        _ => Err(ConfigError::InvalidValue {
            key: "partitioner.class",
            value: value.to_owned(),
            reason: "expected unset or empty (the built-in sticky partitioner), \
                     org.apache.kafka.clients.producer.RoundRobinPartitioner or round_robin",
        }),
    }
}

fn parse_bool(key: &'static str, value: &str) -> Result<bool, ConfigError> {
    let value_lower = value.trim().to_ascii_lowercase();
    match value_lower.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::InvalidValue {
            key,
            value: value.to_owned(),
            reason: "expected true or false",
        }),
    }
}

impl ProducerConfigBuilder {
    /// `bootstrap.servers` from a comma-separated list.
    pub fn bootstrap_servers(mut self, servers: &str) -> Self {
        self.config.bootstrap_servers = split_servers(servers);
        self
    }
    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }
    /// `transactional.id`.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.config.transactional_id = Some(id.into());
        self
    }
    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(mut self, value: Duration) -> Self {
        self.config.transaction_timeout = value;
        self
    }
    /// `linger.ms`.
    pub fn linger(mut self, value: Duration) -> Self {
        self.config.linger = value;
        self
    }
    /// `batch.size`.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.config.batch_size = bytes;
        self
    }
    /// `compression.type`.
    pub fn compression(mut self, codec: Compression) -> Self {
        self.config.compression = codec;
        self
    }
    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, value: Duration) -> Self {
        self.config.delivery_timeout = value;
        self
    }
    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, value: Duration) -> Self {
        self.config.request_timeout = value;
        self
    }
    /// `retry.backoff.ms`.
    pub fn retry_backoff(mut self, value: Duration) -> Self {
        self.config.retry_backoff = value;
        self
    }
    /// `max.block.ms`.
    pub fn max_block(mut self, value: Duration) -> Self {
        self.config.max_block = value;
        self
    }
    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight(mut self, value: usize) -> Self {
        self.config.max_in_flight = value;
        self
    }
    /// `partitioner.class`.
    pub fn partitioner(mut self, class: PartitionerClass) -> Self {
        self.config.partitioner = class;
        self
    }
    /// `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(mut self, ignore: bool) -> Self {
        self.config.partitioner_ignore_keys = ignore;
        self
    }
    /// Seed for retry jitter and partition choice.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.config.rng_seed = seed;
        self
    }
    /// `security.protocol=SASL_PLAINTEXT` with these credentials; a later `sasl.*` string
    /// setting replaces them.
    pub fn sasl(mut self, credentials: SaslCredentials) -> Self {
        self.security.set_credentials(credentials);
        self
    }
    /// `security.protocol=SSL` (or `SASL_SSL` with [`Self::sasl`]) with this configuration; a
    /// later `ssl.*` string setting replaces it.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.security.set_tls(tls);
        self
    }
    /// `allow.auto.create.topics`.
    pub fn allow_auto_create_topics(mut self, allow: bool) -> Self {
        self.config.allow_auto_create_topics = allow;
        self
    }

    /// Set one setting from its Java/librdkafka name. Errors are reported by `build()` too,
    /// so a chain of `set` calls can be checked once.
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, ConfigError> {
        if let Err(error) = self.apply(key, value) {
            self.first_error.get_or_insert(error.clone());
            return Err(error);
        }
        Ok(self)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if let Some(applied) = self.security.apply(key, value) {
            return applied;
        }
        let c = &mut self.config;
        match key {
            "bootstrap.servers" | "metadata.broker.list" => {
                c.bootstrap_servers = split_servers(value)
            }
            "client.id" => c.client_id = value.to_owned(),
            "transactional.id" => c.transactional_id = Some(value.to_owned()),
            "transaction.timeout.ms" => {
                c.transaction_timeout = parse_millis("transaction.timeout.ms", value)?
            }
            "linger.ms" | "queue.buffering.max.ms" => c.linger = parse_millis("linger.ms", value)?,
            "batch.size" => c.batch_size = parse_number("batch.size", value)?,
            "max.request.size" | "message.max.bytes" => {
                c.max_request_size = parse_number("max.request.size", value)?;
            }
            "buffer.memory" => c.buffer_memory = parse_number("buffer.memory", value)?,
            "compression.type" | "compression.codec" => c.compression = parse_compression(value)?,
            "delivery.timeout.ms" | "message.timeout.ms" => {
                c.delivery_timeout = parse_millis("delivery.timeout.ms", value)?;
            }
            "request.timeout.ms" => c.request_timeout = parse_millis("request.timeout.ms", value)?,
            "retry.backoff.ms" => c.retry_backoff = parse_millis("retry.backoff.ms", value)?,
            "retry.backoff.max.ms" => {
                c.retry_backoff_max = parse_millis("retry.backoff.max.ms", value)?
            }
            "max.in.flight.requests.per.connection" | "max.in.flight" => {
                c.max_in_flight = parse_number("max.in.flight.requests.per.connection", value)?;
            }
            "metadata.max.age.ms" => {
                c.metadata_max_age = parse_millis("metadata.max.age.ms", value)?
            }
            "max.block.ms" => c.max_block = parse_millis("max.block.ms", value)?,
            "socket.connection.setup.timeout.ms" => {
                c.connect_timeout = parse_millis("socket.connection.setup.timeout.ms", value)?;
            }
            "partitioner.class" => c.partitioner = parse_partitioner(value)?,
            "partitioner.ignore.keys" => {
                c.partitioner_ignore_keys = parse_bool("partitioner.ignore.keys", value)?;
            }
            "kafkatx.rng.seed" => c.rng_seed = parse_number("kafkatx.rng.seed", value)?,
            "allow.auto.create.topics" => {
                c.allow_auto_create_topics = parse_bool("allow.auto.create.topics", value)?;
            }
            // Fixed by design; accepted only with the one value we implement.
            "acks" | "request.required.acks" => {
                if !matches!(value.trim(), "all" | "-1") {
                    return Err(ConfigError::InvalidValue {
                        key: "acks",
                        value: value.to_owned(),
                        reason: "kafkatx always uses acks=all",
                    });
                }
            }
            "enable.idempotence" => {
                if value.trim() != "true" {
                    return Err(ConfigError::InvalidValue {
                        key: "enable.idempotence",
                        value: value.to_owned(),
                        reason: "kafkatx producers are always idempotent",
                    });
                }
            }
            other => return Err(ConfigError::UnknownKey(other.to_owned())),
        }
        Ok(())
    }

    /// Validate and produce the configuration.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        if let Some(error) = self.first_error {
            return Err(error);
        }
        let mut c = self.config;
        let security = self.security.build()?;
        c.sasl = security.sasl;
        c.tls = security.tls;
        if c.bootstrap_servers.is_empty() {
            return Err(ConfigError::Conflict(
                "bootstrap.servers must name at least one broker".into(),
            ));
        }
        if c.transactional_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err(ConfigError::Conflict(
                "transactional.id must not be empty".into(),
            ));
        }
        if !(1..=5).contains(&c.max_in_flight) {
            return Err(ConfigError::Conflict(format!(
                "max.in.flight.requests.per.connection must be 1..=5 with idempotence, got {}",
                c.max_in_flight
            )));
        }
        if c.batch_size == 0 {
            return Err(ConfigError::Conflict("batch.size must be positive".into()));
        }
        if c.max_request_size == 0 || c.buffer_memory == 0 {
            return Err(ConfigError::Conflict(
                "max.request.size and buffer.memory must be positive".into(),
            ));
        }
        // A full batch must fit in a request, or it could never be sent.
        if c.batch_size > c.max_request_size {
            return Err(ConfigError::Conflict(format!(
                "batch.size ({}) must not exceed max.request.size ({})",
                c.batch_size, c.max_request_size
            )));
        }
        if c.request_timeout.is_zero() || c.transaction_timeout.is_zero() {
            return Err(ConfigError::Conflict(
                "request.timeout.ms and transaction.timeout.ms must be positive".into(),
            ));
        }
        // Java's rule: a record must be allowed to wait for linger and one full request.
        if c.delivery_timeout < c.linger + c.request_timeout {
            return Err(ConfigError::Conflict(format!(
                "delivery.timeout.ms ({:?}) must be at least linger.ms + request.timeout.ms ({:?})",
                c.delivery_timeout,
                c.linger + c.request_timeout
            )));
        }
        if i32::try_from(c.transaction_timeout.as_millis()).is_err() {
            return Err(ConfigError::Conflict(
                "transaction.timeout.ms does not fit in an i32".into(),
            ));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producers_get_their_own_jitter_seed_unless_one_is_set() {
        let seed = |builder: ProducerConfigBuilder| builder.build().unwrap().rng_seed;
        let base = || ProducerConfig::builder().bootstrap_servers("a:1");
        assert_ne!(seed(base()), seed(base()));
        assert_eq!(seed(base().rng_seed(5)), 5);
    }

    #[test]
    fn string_pairs_set_typed_fields() {
        let config = ProducerConfig::builder()
            .set("bootstrap.servers", "a:9092, b:9092")
            .and_then(|b| b.set("linger.ms", "7"))
            .and_then(|b| b.set("compression.type", "zstd"))
            .and_then(|b| b.set("transactional.id", "tx-1"))
            .and_then(|b| b.set("acks", "all"))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(config.bootstrap_servers, vec!["a:9092", "b:9092"]);
        assert_eq!(config.linger, Duration::from_millis(7));
        assert_eq!(config.compression, Compression::Zstd);
        assert!(config.is_transactional());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let base = ProducerConfig::builder().bootstrap_servers("a:1");
        assert_eq!(
            base.clone().set("linger.msec", "5").unwrap_err(),
            ConfigError::UnknownKey("linger.msec".into())
        );
        assert!(matches!(
            base.clone().set("linger.ms", "soon"),
            Err(ConfigError::InvalidValue {
                key: "linger.ms",
                ..
            })
        ));
        assert!(base.clone().set("acks", "1").is_err());
    }

    #[test]
    fn the_partitioner_defaults_to_built_in_and_takes_java_names() {
        let base = ProducerConfig::builder().bootstrap_servers("a:1");
        let default = base.clone().build().unwrap();
        assert_eq!(default.partitioner, PartitionerClass::BuiltIn);
        assert!(!default.partitioner_ignore_keys);
        let with = |key: &str, value: &str| base.clone().set(key, value).unwrap().build().unwrap();
        for name in [
            ROUND_ROBIN_PARTITIONER_CLASS,
            "round_robin",
            " round_robin ",
        ] {
            assert_eq!(
                with("partitioner.class", name).partitioner,
                PartitionerClass::RoundRobin,
                "{name}"
            );
        }
        assert_eq!(
            with("partitioner.class", "").partitioner,
            PartitionerClass::BuiltIn
        );
        assert!(with("partitioner.ignore.keys", "TRUE").partitioner_ignore_keys);
        assert!(!with("partitioner.ignore.keys", "false").partitioner_ignore_keys);
        let typed = base
            .clone()
            .partitioner(PartitionerClass::RoundRobin)
            .partitioner_ignore_keys(true)
            .build()
            .unwrap();
        assert_eq!(
            (typed.partitioner, typed.partitioner_ignore_keys),
            (PartitionerClass::RoundRobin, true)
        );
    }

    #[test]
    fn an_unknown_partitioner_is_refused_naming_the_accepted_values() {
        let base = ProducerConfig::builder().bootstrap_servers("a:1");
        let refused = base
            .clone()
            .set(
                "partitioner.class",
                "org.apache.kafka.clients.producer.internals.DefaultPartitioner",
            )
            .unwrap_err();
        assert!(matches!(
            refused,
            ConfigError::InvalidValue {
                key: "partitioner.class",
                ..
            }
        ));
        let message = refused.to_string();
        for accepted in [
            "built-in sticky",
            ROUND_ROBIN_PARTITIONER_CLASS,
            "round_robin",
        ] {
            assert!(message.contains(accepted), "{message}");
        }
        assert!(base.clone().set("partitioner.class", "RoundRobin").is_err());
        assert!(base.set("partitioner.ignore.keys", "yes").is_err());
    }

    #[test]
    fn invalid_combinations_are_rejected() {
        let base = ProducerConfig::builder().bootstrap_servers("a:1");
        assert!(matches!(
            base.clone().max_in_flight(6).build(),
            Err(ConfigError::Conflict(_))
        ));
        let too_short = base
            .clone()
            .delivery_timeout(Duration::from_secs(10))
            .request_timeout(Duration::from_secs(30))
            .build();
        assert!(
            matches!(too_short, Err(ConfigError::Conflict(msg)) if msg.contains("delivery.timeout.ms"))
        );
        assert!(ProducerConfig::builder().build().is_err());
        assert!(base.transactional_id(" ").build().is_err());
    }
}
