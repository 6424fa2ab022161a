//! The transaction engine of kafkatx.
//!
//! - [`machine::TxnMachine`]: the sans-IO core (no sockets, no clock, no tokio).
//! - [`classify`]: the one table that decides how every failure is handled.
//! - [`state`]: transaction states and allowed transitions.
//! - `driver`/`handle`: the thin tokio layer and the public async API.

pub mod backoff;
pub mod batch;
pub mod classify;
pub mod config;
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

pub use config::{CompressionType, ConfigError, ProducerConfig, ProducerConfigBuilder};
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
