//! The seam between HTTP and Kafka: what the gateway needs from a pool of transactional
//! producers, and the implementation of it on `kafkatx-pool`.
//!
//! The server is generic over [`Backend`] so that the HTTP layer can be tested with a fake and the
//! real pool + transaction engine can be plugged in without touching handlers.
//!
//! - [`pool`]: [`Backend`] on a `kafkatx_pool::Pool`, one transaction per request or, with group
//!   commit, the queue of `group_commit` drained by one `group_runner` per producer; both run
//!   a leased producer's transaction with `transaction`; `record_sink` turns HTTP records into
//!   engine records, `txn_failure` turns an engine
//!   error's `Action` at a stage into what the client is told.
//! - [`kafka`]: settings to pool and producer configuration; starts the pool.
//! - [`probe`]: readiness and topic metadata straight from the brokers.
//! - [`idempotency`]: `Idempotency-Key`, the marker topic and the keyed transaction.
//! - `pool_metrics`: the pool's numbers, read at scrape time.

pub mod group_commit;
pub(crate) mod group_runner;
pub mod idempotency;
pub mod kafka;
pub mod pool;
pub(crate) mod pool_metrics;
pub mod probe;
pub(crate) mod record_sink;
pub(crate) mod transaction;
pub(crate) mod txn_failure;

use std::future::Future;

use bytes::Bytes;
use prometheus_client::registry::Registry;

use crate::backend::idempotency::IdempotentRequest;

/// One record to write inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// Destination topic; its existence is checked by the backend.
    pub topic: String,
    /// Explicit partition, or `None` to let the backend's partitioner choose.
    pub partition: Option<i32>,
    /// Record key; `None` is a Kafka null key.
    pub key: Option<Bytes>,
    /// Record value; `None` is a Kafka null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Record headers in order; names may repeat, as Kafka allows.
    pub headers: Vec<(String, Bytes)>,
    /// Record timestamp in milliseconds since the epoch (> 0), or `None` to stamp it when sent.
    pub timestamp_ms: Option<i64>,
}

/// A topic as the cluster's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Its partitions, ordered by index.
    pub partitions: Vec<PartitionInfo>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Broker id of the leader; -1 while there is none.
    pub leader: i32,
    /// Broker ids of the replicas.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub in_sync_replicas: Vec<i32>,
}

/// Why cluster metadata could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// No broker answered.
    #[error("kafka cluster unavailable: {0}")]
    Unavailable(String),
}

/// Where a committed record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Topic the record was written to.
    pub topic: String,
    /// Partition the record was written to.
    pub partition: i32,
    /// Offset of the record in that partition.
    pub offset: i64,
}

/// What the record builder may know about the producer that runs its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerInfo {
    /// The leased producer's `transactional.id`; the pair endpoints embed it in their values.
    pub transactional_id: String,
}

/// A committed transaction: the producer that ran it and where each record landed, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The `transactional.id` of the producer that committed.
    pub transactional_id: String,
    /// One entry per record, in the order the builder returned them.
    pub placed: Vec<Placed>,
}

/// Why a transaction did not commit, with what a client may conclude about its records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnFailure {
    /// The request can never succeed as written (unknown topic, partition out of range).
    /// Nothing was written.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A topic of the request does not exist, and the gateway never creates topics. Nothing
    /// was written.
    #[error("unknown topic: {0}")]
    UnknownTopic(String),
    /// Too many transactions are already waiting; nothing was attempted.
    #[error("too many transactions are waiting for a producer")]
    Saturated,
    /// No producer became free within the lease timeout; nothing was attempted.
    #[error("no producer became free within the lease timeout")]
    LeaseTimeout,
    /// The cluster could not be reached; nothing was committed.
    #[error("kafka cluster unavailable: {0}")]
    Unavailable(String),
    /// The transaction was aborted; none of its records are visible to read_committed consumers.
    #[error("transaction aborted: {0}")]
    Aborted(String),
    /// The commit was sent but its answer was lost: the records may or may not be visible.
    #[error("transaction outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The idempotency key was first used for a different request. Nothing was written.
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    /// An earlier attempt with the same idempotency key is still running. Nothing was written.
    #[error("an earlier request with this Idempotency-Key is still in progress")]
    InProgress,
}

/// What became of a request with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// This attempt ran and committed.
    Ran(Committed),
    /// An earlier attempt had committed: its result, and nothing written now.
    Replayed(Committed),
}

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Producers that could take a lease now or after their current transaction.
    pub producers_ready: usize,
    /// Whether the cluster answered recently.
    pub cluster_reachable: bool,
    /// Human-readable reason when not ready.
    pub detail: Option<String>,
}

impl Readiness {
    /// Ready means at least one producer can serve and the cluster is reachable.
    pub fn is_ready(&self) -> bool {
        self.producers_ready > 0 && self.cluster_reachable
    }
}

/// A pool of transactional producers as the gateway sees it.
pub trait Backend: Send + Sync + 'static {
    /// Runs the records returned by `build` atomically: all of them become visible to
    /// read_committed consumers in one Kafka transaction, or none do.
    ///
    /// `build` receives the producer that runs the transaction so that values may include its
    /// transactional id (the pair endpoints do). It may be called more than once (a request is
    /// retried alone when a transaction it shared with others failed), always for the producer
    /// that will send what it returns. The returned `placed` list has one entry per built record,
    /// in order.
    ///
    /// # Cancellation
    /// Dropping the future after the commit was sent leaves the outcome unknown; the server
    /// therefore runs it on its own task so that a client disconnect cannot cancel it.
    fn transact<F>(&self, build: F) -> impl Future<Output = Result<Committed, TxnFailure>> + Send
    where
        F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static;

    /// Like [`Backend::transact`], at most once per idempotency key: when an earlier attempt
    /// of `request`'s key committed, nothing is written and its result comes back as
    /// [`Once::Replayed`]. Backends without idempotency support refuse every such request.
    fn transact_once<F>(
        &self,
        request: IdempotentRequest,
        build: F,
    ) -> impl Future<Output = Result<Once, TxnFailure>> + Send
    where
        F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
    {
        let _ = (request, build);
        std::future::ready(Err(TxnFailure::Unavailable(
            "idempotency keys are not enabled on this gateway".to_owned(),
        )))
    }

    /// The cluster's topics, without internal ones (`__consumer_offsets`,
    /// `__transaction_state`), sorted by name: all of them, or only `topic` (then an empty list
    /// means it does not exist). Never creates a topic.
    fn topics(
        &self,
        topic: Option<String>,
    ) -> impl Future<Output = Result<Vec<TopicInfo>, MetadataError>> + Send;

    /// Whether the backend can serve transactions now.
    fn ready(&self) -> impl Future<Output = Readiness> + Send;

    /// Registers the backend's own metrics (pool gauges and counters), read at scrape time.
    fn register_metrics(&self, registry: &mut Registry);

    /// Finishes or aborts transactions in progress and closes every producer.
    fn close(&self) -> impl Future<Output = ()> + Send;
}
