//! The public async API: [`TransactionalProducer`] and the idempotent-only [`Producer`].
//!
//! Both are cheap-to-clone handles to one driver task. Every call is a message to the driver;
//! a call that is invalid in the current state fails at once with a usage error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};

use crate::config::{ConfigError, ProducerConfig};
use crate::consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::driver::{Command, Driver};
use crate::error::{Operation, TxnError};
use crate::machine::TxnMachine;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::transport::{Transport, WireTransport};
use crate::types::{ProducerRecord, RecordMetadata, TopicPartition};

/// Resolves when a sent record is acknowledged (or fails).
#[derive(Debug)]
pub struct DeliveryFuture {
    receiver: oneshot::Receiver<Result<RecordMetadata, TxnError>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, TxnError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(TxnError::Closed)))
    }
}

#[derive(Debug)]
struct Shared {
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    config: Arc<ProducerConfig>,
}

impl Shared {
    fn start(
        config: ProducerConfig,
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<Self, TxnError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| TxnError::Fatal {
            code: -1,
            reason: "a producer must be created inside a tokio runtime".into(),
        })?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let transport = transport.unwrap_or_else(|| {
            Arc::new(
                WireTransport::new(
                    &config.client_id,
                    config.connect_timeout,
                    config.request_timeout,
                )
                .with_sasl(config.sasl.clone()),
            )
        });
        let machine = TxnMachine::new(Arc::clone(&config), Arc::clone(&metrics));
        let (commands, receiver) = mpsc::channel(1024);
        runtime.spawn(Driver::new(machine, transport).run(receiver));
        Ok(Self {
            commands,
            metrics,
            config,
        })
    }

    async fn op(&self, op: Operation) -> Result<(), TxnError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Op(op, reply))
            .await
            .map_err(|_| TxnError::Closed)?;
        answer.await.unwrap_or(Err(TxnError::Closed))
    }

    async fn send_offsets(
        &self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::SendOffsets {
                offsets,
                group,
                reply,
            })
            .await
            .map_err(|_| TxnError::Closed)?;
        answer.await.unwrap_or(Err(TxnError::Closed))
    }

    async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, TxnError> {
        let (queued, queued_answer) = oneshot::channel();
        let (delivered, receiver) = oneshot::channel();
        self.commands
            .send(Command::Send {
                record,
                queued,
                delivered,
            })
            .await
            .map_err(|_| TxnError::Closed)?;
        queued_answer.await.unwrap_or(Err(TxnError::Closed))?;
        Ok(DeliveryFuture { receiver })
    }
}

/// A transactional producer (one `transactional.id`, one transaction at a time).
#[derive(Debug, Clone)]
pub struct TransactionalProducer {
    shared: Arc<Shared>,
}

impl TransactionalProducer {
    /// Start the driver over real connections. Call [`Self::init_transactions`] next.
    /// Must run inside a tokio runtime.
    pub fn new(config: ProducerConfig) -> Result<Self, TxnError> {
        Self::with_transport(config, None)
    }

    /// Start over a custom transport (tests, simulations).
    pub fn with_transport(
        config: ProducerConfig,
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<Self, TxnError> {
        if config.transactional_id.is_none() {
            return Err(ConfigError::Conflict(
                "a TransactionalProducer needs transactional.id".into(),
            )
            .into());
        }
        Ok(Self {
            shared: Arc::new(Shared::start(config, transport)?),
        })
    }

    /// Find the coordinator and get a producer id; fences older instances with the same id
    /// and aborts their open transaction.
    pub async fn init_transactions(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Init).await
    }

    /// Start a transaction (local only).
    pub async fn begin_transaction(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Begin).await
    }

    /// Queue a record in the open transaction; the returned future resolves on acknowledgement.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, TxnError> {
        self.shared.send(record).await
    }

    /// Commit a consumer group's positions as part of the open transaction (Java
    /// `sendOffsetsToTransaction`): the consume-transform-produce step. Each offset is the
    /// *next* one to consume. They become the group's committed offsets only if the
    /// transaction commits; an abort discards them.
    ///
    /// Resolves once the group coordinator holds the offsets. Errors: a usage error outside a
    /// transaction or for arguments that can never be sent (empty group id, negative offset);
    /// [`TxnError::requires_abort`] when the transaction failed, e.g. the group coordinator
    /// fenced a member of an older generation (KIP-447); `Timeout` after `max.block.ms`, when
    /// the same call resumes it and `commit_transaction` / `abort_transaction` take it over.
    /// An empty `offsets` does nothing.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        self.shared.send_offsets(offsets, group).await
    }

    /// Flush and commit. On [`TxnError::requires_abort`] errors call `abort_transaction`.
    pub async fn commit_transaction(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Commit).await
    }

    /// Abort the open transaction.
    pub async fn abort_transaction(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Abort).await
    }

    /// Send everything buffered and wait for the answers.
    pub async fn flush(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Flush).await
    }

    /// Stop the producer; pending records fail with `Closed`. An open transaction is left to
    /// the coordinator's timeout (or the next instance's `init_transactions`).
    pub async fn close(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Close).await
    }

    /// Counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// The configuration in use.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }
}

/// An idempotent (non-transactional) producer: exactly-once per partition, no transactions.
#[derive(Debug, Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

impl Producer {
    /// Start the driver and get a producer id. Must run inside a tokio runtime.
    pub async fn new(config: ProducerConfig) -> Result<Self, TxnError> {
        Self::with_transport(config, None).await
    }

    /// Start over a custom transport (tests, simulations).
    pub async fn with_transport(
        config: ProducerConfig,
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<Self, TxnError> {
        if config.transactional_id.is_some() {
            return Err(ConfigError::Conflict(
                "use TransactionalProducer with a transactional.id".into(),
            )
            .into());
        }
        let shared = Arc::new(Shared::start(config, transport)?);
        shared.op(Operation::Init).await?;
        Ok(Self { shared })
    }

    /// Queue a record; the returned future resolves on acknowledgement.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, TxnError> {
        self.shared.send(record).await
    }

    /// Send everything buffered and wait for the answers.
    pub async fn flush(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Flush).await
    }

    /// Stop the producer.
    pub async fn close(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Close).await
    }

    /// Counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }
}
