//! The engine's [`TransactionalProducer`] as a pool member: [`TxnPoolProducer`] and its factory.
//!
//! The pool asks a producer for its [`Health`] after every transaction. The engine does not expose
//! its state, so the adapter derives health from the errors of its own calls: it sees every call,
//! because a leased producer is only ever used through it.

use std::sync::Mutex;
use std::time::Duration;

use kafkatx_pool::{Health, ProducerFactory, TxnProducer};
use kafkatx_txn::{
    CompressionType, Operation, ProducerConfig, ProducerRecord, RecordHeader,
    TransactionalProducer, TxnError,
};
use kafkatx_wire::compression::Compression;

use crate::backend::{OutRecord, Placed};
use crate::pool_backend::{FailureKind, RecordSink, Stage};
use crate::txn_failure;

/// Settings every producer of the pool shares; the transactional id differs per slot.
#[derive(Debug, Clone)]
pub struct ProducerTemplate {
    /// Bootstrap brokers, `host:port`.
    pub bootstrap_servers: Vec<String>,
    /// `client.id` of every producer.
    pub client_id: String,
    /// Record batch compression.
    pub compression: Compression,
    /// Kafka `transaction.timeout.ms`.
    pub transaction_timeout: Duration,
    /// Kafka `request.timeout.ms`.
    pub request_timeout: Duration,
    /// Kafka `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// Further settings by their Kafka names, applied last.
    pub properties: Vec<(String, String)>,
}

/// Creates and initialises one [`TxnPoolProducer`] per pool slot.
#[derive(Debug)]
pub struct TxnProducerFactory {
    template: ProducerTemplate,
}

impl TxnProducerFactory {
    /// A factory of producers configured from `template`.
    pub fn new(template: ProducerTemplate) -> Self {
        Self { template }
    }

    /// Checks that the template makes a valid producer configuration.
    pub fn validate(&self) -> Result<(), TxnError> {
        self.config("kafkatx-config-check").map(|_| ())
    }

    fn config(&self, transactional_id: &str) -> Result<ProducerConfig, TxnError> {
        let t = &self.template;
        let mut builder = ProducerConfig::builder()
            .bootstrap_servers(&t.bootstrap_servers.join(","))
            .client_id(t.client_id.clone())
            .transactional_id(transactional_id)
            .compression(compression_type(t.compression))
            .transaction_timeout(t.transaction_timeout)
            .request_timeout(t.request_timeout)
            .delivery_timeout(t.delivery_timeout);
        for (key, value) in &t.properties {
            builder = builder.set(key, value)?;
        }
        Ok(builder.build()?)
    }
}

fn compression_type(compression: Compression) -> CompressionType {
    match compression {
        Compression::None => CompressionType::None,
        Compression::Gzip => CompressionType::Gzip,
        Compression::Snappy => CompressionType::Snappy,
        Compression::Lz4 => CompressionType::Lz4,
        Compression::Zstd => CompressionType::Zstd,
    }
}

impl ProducerFactory for TxnProducerFactory {
    type Producer = TxnPoolProducer;

    async fn create(&self, transactional_id: &str) -> Result<TxnPoolProducer, TxnError> {
        let producer = TransactionalProducer::new(self.config(transactional_id)?)?;
        if let Err(error) = producer.init_transactions().await {
            // Stop the driver task; a new attempt starts a fresh producer.
            let _closed = producer.close().await;
            return Err(error);
        }
        Ok(TxnPoolProducer {
            producer,
            health: Mutex::new(Health::Ready),
        })
    }
}

/// One engine producer with the health the pool needs.
#[derive(Debug)]
pub struct TxnPoolProducer {
    producer: TransactionalProducer,
    /// Only written right after a call returns; a std mutex, as it is never held across `.await`.
    health: Mutex<Health>,
}

impl TxnPoolProducer {
    fn set_health(&self, health: Health) {
        let mut guard = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = health;
    }

    /// Records the health that `result` of an `op` call implies, and passes it through.
    fn track<T>(&self, op: Operation, result: Result<T, TxnError>) -> Result<T, TxnError> {
        match &result {
            // A record queued or delivered says nothing about how the transaction will end.
            Ok(_) if op == Operation::Send => {}
            Ok(_) => self.set_health(Health::Ready),
            Err(error) => self.set_health(health_after(op, error)),
        }
        result
    }
}

/// What the pool should do with a producer whose `op` failed with `error`.
fn health_after(op: Operation, error: &TxnError) -> Health {
    match error {
        TxnError::Fenced => Health::Fatal { fenced: true },
        TxnError::Fatal { .. } | TxnError::Closed | TxnError::Config(_) => {
            Health::Fatal { fenced: false }
        }
        TxnError::OutcomeUnknown => Health::OutcomeUnknown,
        TxnError::Timeout { .. } if op == Operation::Commit => Health::OutcomeUnknown,
        // Abortable errors, failed deliveries, timeouts and usage errors leave a transaction that
        // must be aborted; if the abort fails too, the pool replaces the producer.
        _ => Health::NeedsAbort,
    }
}

impl TxnProducer for TxnPoolProducer {
    type Error = TxnError;

    async fn begin(&self) -> Result<(), TxnError> {
        let result = self.producer.begin_transaction().await;
        self.track(Operation::Begin, result)
    }

    async fn commit(&self) -> Result<(), TxnError> {
        let result = self.producer.commit_transaction().await;
        self.track(Operation::Commit, result)
    }

    async fn abort(&self) -> Result<(), TxnError> {
        let result = self.producer.abort_transaction().await;
        self.track(Operation::Abort, result)
    }

    async fn close(&self) {
        if let Err(error) = self.producer.close().await {
            tracing::debug!(%error, "closing a producer failed");
        }
    }

    fn health(&self) -> Health {
        *self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RecordSink for TxnPoolProducer {
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<Placed>, TxnError> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let queued = self.producer.send(producer_record(record)).await;
            deliveries.push(self.track(Operation::Send, queued)?);
        }
        // Without a flush the last batch would wait for linger.ms before going out.
        let flushed = self.producer.flush().await;
        self.track(Operation::Flush, flushed)?;
        let mut placed = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let metadata = self.track(Operation::Send, delivery.await)?;
            placed.push(Placed {
                topic: metadata.partition.topic,
                partition: metadata.partition.partition,
                offset: metadata.offset,
            });
        }
        Ok(placed)
    }

    fn failure_kind(error: &TxnError, stage: Stage) -> FailureKind {
        txn_failure::classify(error, stage)
    }
}

fn producer_record(record: OutRecord) -> ProducerRecord {
    ProducerRecord {
        topic: record.topic,
        partition: record.partition,
        key: record.key,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|(key, value)| RecordHeader {
                key,
                value: Some(value),
            })
            .collect(),
        // 0 lets the engine stamp the record when it is queued.
        timestamp_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_what_the_error_leaves_behind() {
        assert_eq!(
            health_after(Operation::Commit, &TxnError::Fenced),
            Health::Fatal { fenced: true }
        );
        assert_eq!(
            health_after(Operation::Commit, &TxnError::OutcomeUnknown),
            Health::OutcomeUnknown
        );
        let commit_timeout = TxnError::Timeout {
            op: Operation::Commit,
        };
        assert_eq!(
            health_after(Operation::Commit, &commit_timeout),
            Health::OutcomeUnknown
        );
        let abortable = TxnError::Abortable {
            code: 47,
            reason: "x".to_owned(),
        };
        assert_eq!(
            health_after(Operation::Send, &abortable),
            Health::NeedsAbort
        );
        assert_eq!(
            health_after(Operation::Abort, &TxnError::Closed),
            Health::Fatal { fenced: false }
        );
    }

    #[test]
    fn records_keep_their_fields_and_headers_become_non_null() {
        let record = producer_record(OutRecord {
            topic: "t".to_owned(),
            partition: Some(2),
            key: Some("k".into()),
            value: None,
            headers: vec![("h".to_owned(), "v".into())],
        });
        assert_eq!(record.partition, Some(2));
        assert_eq!(record.value, None);
        assert_eq!(record.headers[0].value.as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn every_codec_maps_to_the_engine_codec_of_the_same_name() {
        assert_eq!(compression_type(Compression::Zstd), CompressionType::Zstd);
        assert_eq!(compression_type(Compression::None), CompressionType::None);
        assert_eq!(
            compression_type(Compression::Snappy),
            CompressionType::Snappy
        );
    }

    #[tokio::test]
    async fn a_factory_config_carries_the_slot_id_and_template() {
        let factory = TxnProducerFactory::new(ProducerTemplate {
            bootstrap_servers: vec!["a:1".to_owned(), "b:2".to_owned()],
            client_id: "gw".to_owned(),
            compression: Compression::Lz4,
            transaction_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(7),
            delivery_timeout: Duration::from_secs(40),
            properties: vec![("linger.ms".to_owned(), "0".to_owned())],
        });
        let config = factory.config("kafkatx-gw-3").unwrap();
        assert_eq!(config.transactional_id.as_deref(), Some("kafkatx-gw-3"));
        assert_eq!(config.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(config.compression, CompressionType::Lz4);
        assert_eq!(config.request_timeout, Duration::from_secs(7));
        assert_eq!(config.delivery_timeout, Duration::from_secs(40));
        assert_eq!(config.linger, Duration::ZERO);
    }
}
