//! The transaction engine of kafkatx: an idempotent and transactional Kafka producer.
//!
//! # What a user needs
//! - Handles: [`TransactionalProducer`] (one `transactional.id`, one transaction at a time)
//!   and [`Producer`] (idempotent only); [`DeliveryFuture`] per sent record, [`Ended`] from
//!   [`TransactionalProducer::end_transaction`].
//! - Configuration: [`ProducerConfig`] built by [`ProducerConfigBuilder`] with the Java and
//!   librdkafka names; the [`config`] module has the security settings too.
//! - Records: [`ProducerRecord`], [`RecordHeader`], [`RecordMetadata`], [`TopicPartition`],
//!   and for consume-transform-produce [`OffsetAndMetadata`] and [`ConsumerGroupMetadata`];
//!   [`partition_for_key`] is Java's choice of partition for a key.
//! - Errors: [`TxnError`], whose [`TxnError::action`] says what to do about it ([`Action`]);
//!   [`UsageError`], [`Operation`], and [`TxnState`] (also read with the handles' `state()`).
//! - Metrics: [`MetricsSnapshot`].
//!
//! # Inside
//! The sans-IO core (`machine`: commands, typed broker responses, transport failures and
//! the current time in; typed requests, a timer and events out; no sockets, no clock, no
//! tokio), the one error table (`classify`), the state table (`state`), metadata,
//! partitioners, backoff and record batches are private. A thin tokio driver feeds the core
//! from `kafkatx-wire` connections; the `test-util` feature makes its transport replaceable
//! (`TransactionalProducer::with_transport`). Waits shorter than tokio's 1 ms timer tick
//! (the pause before a reused producer's first Produce) are woken by one process-wide thread,
//! `kafkatx-fine-timer`, started on first use.
//!
//! With the default `runtime` feature off, only the sans-IO core builds: no tokio, no sockets.
//!
#![warn(unreachable_pub, missing_docs)]
// Without `runtime` nothing drives the (private) machine: that build only proves the core
// compiles without tokio, so its unused code is expected.
#![cfg_attr(not(feature = "runtime"), allow(dead_code))]
#![cfg_attr(
    feature = "runtime",
    doc = r##"
# Example: consume, transform, produce
Two records and the input offset they came from, committed atomically (the offsets become
the group's committed offsets only if the transaction commits):

```no_run
use kafkatx_txn::{
    Action, ConsumerGroupMetadata, Ended, OffsetAndMetadata, ProducerConfig, ProducerRecord,
    TopicPartition, TransactionalProducer, TxnError,
};

# async fn example() -> Result<(), TxnError> {
let config = ProducerConfig::builder()
    .bootstrap_servers("127.0.0.1:9092")
    .transactional_id("orders-enricher-1")
    .set("linger.ms", "5")?
    .build()?;
let producer = TransactionalProducer::new(config).await?;
producer.init_transactions().await?;

producer.begin_transaction().await?;
let first = producer
    .send(ProducerRecord::new("orders-enriched", "order 17").with_key("17"))
    .await?;
producer
    .send(ProducerRecord::new("audit", "order 17 enriched"))
    .await?;
let consumed = vec![(TopicPartition::new("orders", 0), OffsetAndMetadata::new(4711))];
producer
    .send_offsets_to_transaction(consumed, ConsumerGroupMetadata::new("enricher"))
    .await?;
// Commits, or aborts a transaction that failed; a commit that timed out is resumed by
// calling it again.
let ended = loop {
    match producer.end_transaction(true).await {
        Err(error) if error.action() == Action::Retry => continue,
        other => break other?,
    }
};
match ended {
    Ended::Committed => println!("order 17 landed at offset {}", first.await?.offset),
    // Nothing of it is visible: rewind the input and process it again.
    Ended::Aborted { cause } => println!("aborted: {cause:?}"),
}
# Ok(())
# }
```
"##
)]

mod backoff;
mod batch;
mod classify;
pub mod config;
mod consumer_group;
#[cfg(feature = "runtime")]
mod driver;
mod error;
#[cfg(feature = "runtime")]
mod fine_timer;
#[cfg(feature = "runtime")]
mod handle;
mod machine;
mod metadata;
mod metrics;
mod partitioner;
mod state;
#[cfg(feature = "test-util")]
pub mod transport;
#[cfg(all(feature = "runtime", not(feature = "test-util")))]
mod transport;
mod types;

pub use config::{
    Compression, ConfigError, PartitionerClass, ProducerConfig, ProducerConfigBuilder,
};
pub use consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
pub use error::{Action, Operation, TxnError, UsageError};
#[cfg(feature = "runtime")]
pub use handle::{DeliveryFuture, Ended, Producer, TransactionalProducer};
pub use metrics::MetricsSnapshot;
pub use partitioner::partition_for_key;
pub use state::TxnState;
pub use types::{ProducerRecord, RecordHeader, RecordMetadata, TopicPartition};

#[cfg(test)]
mod tests;
