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
use crate::error::{Action, Operation, TxnError};
use crate::machine::TxnMachine;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::state::{StateCell, TxnState};
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

/// How [`TransactionalProducer::end_transaction`] ended the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The transaction committed.
    Committed,
    /// The transaction was aborted: nothing of it is visible to read_committed consumers.
    Aborted {
        /// Why a commit became an abort: the error that failed the transaction. `None` when
        /// an abort was asked for, or when an abort already under way was resumed.
        cause: Option<TxnError>,
    },
}

#[derive(Debug)]
struct Shared {
    commands: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    config: Arc<ProducerConfig>,
    state: Arc<StateCell>,
}

impl Shared {
    fn start(
        config: ProducerConfig,
        transport: Option<Arc<dyn Transport>>,
    ) -> Result<Self, TxnError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| TxnError::NoRuntime)?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let transport = transport.unwrap_or_else(|| {
            Arc::new(
                WireTransport::new(
                    &config.client_id,
                    config.connect_timeout,
                    config.request_timeout,
                )
                .with_sasl(config.sasl.clone())
                .with_tls(config.tls.clone()),
            )
        });
        let machine = TxnMachine::new(Arc::clone(&config), Arc::clone(&metrics));
        let state = Arc::new(StateCell::new(machine.state()));
        let (commands, receiver) = mpsc::channel(1024);
        runtime.spawn(Driver::new(machine, transport, Arc::clone(&state)).run(receiver));
        Ok(Self {
            commands,
            metrics,
            config,
            state,
        })
    }

    /// Commit or abort as [`TransactionalProducer::end_transaction`] asks (or resume the
    /// one under way): the operation that ran and its result.
    async fn end(&self, commit: bool) -> Result<(Operation, Result<(), TxnError>), TxnError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::End { commit, reply })
            .await
            .map_err(|_| TxnError::Closed)?;
        answer.await.map_err(|_| TxnError::Closed)
    }

    async fn op(&self, op: Operation) -> Result<(), TxnError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Op(op, reply))
            .await
            .map_err(|_| TxnError::Closed)?;
        answer.await.unwrap_or(Err(TxnError::Closed))
    }

    async fn close(&self, timeout: std::time::Duration) -> Result<(), TxnError> {
        let (reply, answer) = oneshot::channel();
        // A driver already gone has closed: closing again is not an error.
        if self
            .commands
            .send(Command::Close { timeout, reply })
            .await
            .is_err()
        {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
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
    /// Must run inside a tokio runtime ([`TxnError::NoRuntime`] otherwise). Async like
    /// [`Producer::new`], which also gets its producer id; this one leaves that to
    /// [`Self::init_transactions`], which fences older instances and so is a call of its own.
    pub async fn new(config: ProducerConfig) -> Result<Self, TxnError> {
        Self::start(config, None)
    }

    /// Start over a custom transport (tests, simulations).
    #[cfg(any(test, feature = "test-util"))]
    #[cfg_attr(not(feature = "test-util"), allow(private_interfaces))]
    pub async fn with_transport(
        config: ProducerConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, TxnError> {
        Self::start(config, Some(transport))
    }

    fn start(
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
    /// [`Self::end_transaction`] does both, and resumes a commit that timed out.
    pub async fn commit_transaction(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Commit).await
    }

    /// Abort the open transaction.
    pub async fn abort_transaction(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Abort).await
    }

    /// End the open transaction, committing it if `commit` and it can commit: franz-go's
    /// `EndTransaction(ctx, TryCommit)`. The one call that needs no retry loop around it:
    ///
    /// - a commit or abort already under way (its call timed out) is resumed, whatever
    ///   `commit` asks, and the result says which of the two it was;
    /// - a transaction that failed (an [`Action::AbortThenRetry`] or
    ///   [`Action::AbortThenFixRecords`] error, before or during the commit) is aborted:
    ///   [`Ended::Aborted`] with the error as its `cause`;
    /// - `Timeout { op: Commit | Abort }`: call it again to resume;
    /// - [`TxnError::OutcomeUnknown`]: the commit may or may not have happened; a following
    ///   `end_transaction(false)` makes the producer usable again (its [`Ended::Aborted`]
    ///   then says nothing about that transaction).
    ///
    /// Other errors are those of [`Self::commit_transaction`] and [`Self::abort_transaction`].
    pub async fn end_transaction(&self, commit: bool) -> Result<Ended, TxnError> {
        let (op, result) = self.shared.end(commit).await?;
        match (op, result) {
            (Operation::Commit, Ok(())) => Ok(Ended::Committed),
            (_, Ok(())) => Ok(Ended::Aborted { cause: None }),
            (Operation::Commit, Err(cause))
                if matches!(
                    cause.action(),
                    Action::AbortThenRetry | Action::AbortThenFixRecords
                ) =>
            {
                let (_, aborted) = self.shared.end(false).await?;
                aborted.map(|()| Ended::Aborted { cause: Some(cause) })
            }
            (_, Err(error)) => Err(error),
        }
    }

    /// The producer's state as its driver last published it: a cheap snapshot that never
    /// waits for the driver, and may be out of date by the time it is read. After an answer
    /// (of any call) it is at least as new as that answer.
    pub fn state(&self) -> TxnState {
        self.shared.state.get()
    }

    /// Send everything buffered and wait for the answers.
    pub async fn flush(&self) -> Result<(), TxnError> {
        self.shared.op(Operation::Flush).await
    }

    /// Close gracefully within `max.block.ms`: an open transaction is aborted (so
    /// read_committed consumers do not wait for its timeout), a commit or abort under way
    /// finishes. See [`Self::close_timeout`].
    pub async fn close(&self) -> Result<(), TxnError> {
        self.shared.close(self.shared.config.max_block).await
    }

    /// Close gracefully within `timeout`, then by force: records never sent fail with
    /// `Closed`, records (or a commit) sent and not answered with `OutcomeUnknown`, and
    /// this returns `Timeout { op: Close }`.
    pub async fn close_timeout(&self, timeout: std::time::Duration) -> Result<(), TxnError> {
        self.shared.close(timeout).await
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
    /// Start the driver and get a producer id. Must run inside a tokio runtime
    /// ([`TxnError::NoRuntime`] otherwise).
    pub async fn new(config: ProducerConfig) -> Result<Self, TxnError> {
        Self::start(config, None).await
    }

    /// Start over a custom transport (tests, simulations).
    #[cfg(any(test, feature = "test-util"))]
    #[cfg_attr(not(feature = "test-util"), allow(private_interfaces))]
    pub async fn with_transport(
        config: ProducerConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, TxnError> {
        Self::start(config, Some(transport)).await
    }

    async fn start(
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

    /// Close gracefully within `max.block.ms`: buffered records are sent and answered first.
    /// See [`Self::close_timeout`].
    pub async fn close(&self) -> Result<(), TxnError> {
        self.shared.close(self.shared.config.max_block).await
    }

    /// Close gracefully within `timeout`, then by force: records never sent fail with
    /// `Closed`, records sent and not answered with `OutcomeUnknown` (they may be in the
    /// log), and this returns `Timeout { op: Close }`.
    pub async fn close_timeout(&self, timeout: std::time::Duration) -> Result<(), TxnError> {
        self.shared.close(timeout).await
    }

    /// Counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// The producer's state as its driver last published it (see
    /// [`TransactionalProducer::state`]): `Ready` once it has a producer id, `FatalError`
    /// once it can no longer be used.
    pub fn state(&self) -> TxnState {
        self.shared.state.get()
    }
}
