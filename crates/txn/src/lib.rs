//! The transaction engine of kafkatx: an idempotent and transactional Kafka producer.
//!
//! # Layout
//! - [`machine::TxnMachine`]: the sans-IO core. Inputs are commands, typed broker responses,
//!   transport failures and the current time; outputs are typed requests ([`types::Transmit`]),
//!   a timer and [`types::TxnEvent`]s. No sockets, no clock, no tokio.
//! - [`classify`]: the one table deciding how every failure is handled.
//! - [`state`]: transaction states and the allowed transitions.
//! - [`config`]: Java/librdkafka-named settings with validation.
//! - [`consumer_group`]: what `send_offsets_to_transaction` commits (offsets, group member).
//! - [`metadata`], [`partitioner`], [`backoff`], [`batch`]: cluster view, Java's partitioning
//!   (murmur2 for keys, sticky for keyless records; round robin opt-in), seeded jitter, record
//!   batches via `kafkatx-wire`.
//! - [`handle`] ([`TransactionalProducer`], [`Producer`]) over a private tokio driver and a
//!   [`transport::Transport`] (real: `kafkatx-wire` connections).
//! - [`perf`]: a ProducerPerformance-style benchmark.
//! - [`metrics`]: counters as plain atomics.
//!
//! # Example: consume, transform, produce
//! Two records and the input offset they came from, committed atomically (the offsets become
//! the group's committed offsets only if the transaction commits):
//!
//! ```no_run
//! use kafkatx_txn::{
//!     ConsumerGroupMetadata, OffsetAndMetadata, ProducerConfig, ProducerRecord,
//!     TransactionalProducer, TxnError, types::TopicPartition,
//! };
//!
//! # async fn example() -> Result<(), TxnError> {
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("127.0.0.1:9092")
//!     .transactional_id("orders-enricher-1")
//!     .set("linger.ms", "5")?
//!     .build()?;
//! let producer = TransactionalProducer::new(config)?;
//! producer.init_transactions().await?;
//!
//! producer.begin_transaction().await?;
//! let first = producer
//!     .send(ProducerRecord::new("orders-enriched", "order 17").with_key("17"))
//!     .await?;
//! producer
//!     .send(ProducerRecord::new("audit", "order 17 enriched"))
//!     .await?;
//! let consumed = vec![(TopicPartition::new("orders", 0), OffsetAndMetadata::new(4711))];
//! producer
//!     .send_offsets_to_transaction(consumed, ConsumerGroupMetadata::new("enricher"))
//!     .await?;
//! match producer.commit_transaction().await {
//!     Ok(()) => println!("order 17 landed at offset {}", first.await?.offset),
//!     // Fenced, fatal: this producer is done. Anything else: abort and try again.
//!     Err(error) if error.is_fatal() => return Err(error),
//!     Err(_) => producer.abort_transaction().await?,
//! }
//! # Ok(())
//! # }
//! ```

pub mod backoff;
pub mod batch;
pub mod classify;
pub mod config;
pub mod consumer_group;
mod driver;
pub mod error;
pub mod handle;
pub mod machine;
pub mod metadata;
pub mod metrics;
pub mod partitioner;
pub mod perf;
pub mod state;
pub mod transport;
pub mod types;

pub use config::{
    Compression, ConfigError, PartitionerClass, ProducerConfig, ProducerConfigBuilder,
};
pub use consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
pub use error::{Operation, TxnError, UsageError};
pub use handle::{DeliveryFuture, Producer, TransactionalProducer};
pub use machine::TxnMachine;
pub use metrics::{Metrics, MetricsSnapshot};
pub use state::TxnState;
pub use types::{
    ProducerIdentity, ProducerRecord, RecordHeader, RecordMetadata, RecordToken, TopicPartition,
};

#[cfg(test)]
mod tests;
