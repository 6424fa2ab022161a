//! The pool's adapter for the real engine, [`kafkatx_txn::TransactionalProducer`].
//!
//! The engine reports problems as errors of individual calls; [`KafkaProducer`] remembers what
//! the last failing call meant for the producer (its [`Action`], read with the engine's state
//! at that moment) and answers [`Health`] from it.

use std::sync::{Mutex, PoisonError};

use kafkatx_txn::{
    Action, DeliveryFuture, MetricsSnapshot, Operation, ProducerConfig, ProducerRecord,
    TransactionalProducer, TxnError, TxnState,
};

use crate::producer::{Health, ProducerFactory, TxnProducer};

/// Builds one [`KafkaProducer`] per slot from a base configuration, overriding its
/// `transactional.id` with the slot's id.
#[derive(Debug, Clone)]
pub struct KafkaProducerFactory {
    base: ProducerConfig,
}

impl KafkaProducerFactory {
    /// A factory for producers configured like `base` (its `transactional.id`, if any, is ignored).
    pub fn new(base: ProducerConfig) -> Self {
        Self { base }
    }
}

impl ProducerFactory for KafkaProducerFactory {
    type Producer = KafkaProducer;

    async fn create(&self, transactional_id: &str) -> Result<KafkaProducer, TxnError> {
        let config = self.base.clone().with_transactional_id(transactional_id)?;
        let inner = TransactionalProducer::new(config).await?;
        if let Err(error) = inner.init_transactions().await {
            // Stop the driver task; the error that matters is the init failure.
            if let Err(close_error) = inner.close().await {
                tracing::debug!(%transactional_id, error = %close_error, "closing a producer that failed to initialise");
            }
            return Err(error);
        }
        Ok(KafkaProducer {
            inner,
            transactional_id: transactional_id.to_owned(),
            health: Mutex::new(Health::Ready),
        })
    }
}

/// A [`TransactionalProducer`] that tracks its health for the pool.
///
/// Send records through [`send`](Self::send) (not through [`inner`](Self::inner)) so that a failed
/// send is taken into account when the lease ends.
#[derive(Debug)]
pub struct KafkaProducer {
    inner: TransactionalProducer,
    transactional_id: String,
    health: Mutex<Health>,
}

impl KafkaProducer {
    /// Queues a record in the open transaction; the future resolves on acknowledgement.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, TxnError> {
        let result = self.inner.send(record).await;
        self.observe(Operation::Send, &result);
        result
    }

    /// Sends everything buffered and waits for the answers.
    pub async fn flush(&self) -> Result<(), TxnError> {
        let result = self.inner.flush().await;
        self.observe(Operation::Flush, &result);
        result
    }

    /// The producer's transactional id.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The engine's counters for this producer.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics()
    }

    /// The engine handle, for calls this adapter does not wrap.
    pub fn inner(&self) -> &TransactionalProducer {
        &self.inner
    }

    fn observe<T>(&self, op: Operation, result: &Result<T, TxnError>) {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            // Only the end of a transaction proves the producer clean again.
            Ok(_) if matches!(op, Operation::Commit | Operation::Abort) => *health = Health::Ready,
            Ok(_) => {}
            Err(error) => {
                let after = health_after(op, error.action(), self.inner.state());
                *health = worst(*health, after);
            }
        }
    }
}

/// What a call `op` that failed with an error calling for `action` means for the producer's
/// next use, given the engine's `state` after the failure.
pub fn health_after(op: Operation, action: Action, state: TxnState) -> Health {
    match action {
        Action::Fenced => Health::Fatal { fenced: true },
        Action::ReplaceProducer => Health::Fatal { fenced: false },
        Action::OutcomeUnknown => Health::OutcomeUnknown,
        // The record was refused before it joined the transaction: nothing changed.
        Action::RecordRefused | Action::UnknownTopic | Action::RetryLater => Health::Ready,
        // An unfinished EndTxn can only be resumed, not aborted; re-initialising the same
        // transactional id resolves it on the coordinator instead.
        Action::Retry if matches!(state, TxnState::Committing | TxnState::Aborting) => {
            Health::Fatal { fenced: false }
        }
        // A refused abort cannot be fixed by aborting again.
        Action::FixUsage if op == Operation::Abort => Health::Fatal { fenced: false },
        Action::AbortThenRetry | Action::AbortThenFixRecords | Action::Retry | Action::FixUsage => {
            Health::NeedsAbort
        }
        // An action this pool does not know yet: replacing the producer is always safe.
        _ => Health::Fatal { fenced: false },
    }
}

/// The more severe of two states, so that a later, milder error never hides a fatal one.
fn worst(current: Health, new: Health) -> Health {
    let rank = |health: Health| match health {
        Health::Ready => 0,
        Health::NeedsAbort => 1,
        Health::OutcomeUnknown => 2,
        Health::Fatal { fenced: false } => 3,
        Health::Fatal { fenced: true } => 4,
    };
    if rank(new) >= rank(current) {
        new
    } else {
        current
    }
}

impl TxnProducer for KafkaProducer {
    type Error = TxnError;

    async fn begin(&self) -> Result<(), TxnError> {
        let result = self.inner.begin_transaction().await;
        self.observe(Operation::Begin, &result);
        result
    }

    async fn commit(&self) -> Result<(), TxnError> {
        let result = self.inner.commit_transaction().await;
        self.observe(Operation::Commit, &result);
        result
    }

    async fn abort(&self) -> Result<(), TxnError> {
        let result = match self.inner.abort_transaction().await {
            // The pool aborts defensively (a lease dropped while `begin` was in flight); with no
            // transaction open there is nothing to abort, which the pool's contract treats as done.
            Err(refused)
                if refused.action() == Action::FixUsage
                    && self.inner.state() == TxnState::Ready =>
            {
                Ok(())
            }
            other => other,
        };
        self.observe(Operation::Abort, &result);
        result
    }

    async fn close(&self) {
        // A second close finds the driver gone; either way the producer is closed.
        if let Err(error) = self.inner.close().await {
            tracing::debug!(transactional_id = %self.transactional_id, %error, "closing producer");
        }
    }

    fn health(&self) -> Health {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use kafkatx_txn::UsageError;

    use super::*;

    /// Kafka error codes, named (the pool has no dependency on the protocol crate).
    const INVALID_PRODUCER_EPOCH: i16 = 47;
    const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

    #[test]
    fn actions_map_to_the_pools_return_paths() {
        use TxnState::{Aborting, Committing, InTransaction, Ready};
        let fatal = Health::Fatal { fenced: false };
        let cases = [
            (
                Operation::Commit,
                Action::Fenced,
                Committing,
                Health::Fatal { fenced: true },
            ),
            (
                Operation::Commit,
                Action::ReplaceProducer,
                Committing,
                fatal,
            ),
            (
                Operation::Send,
                Action::ReplaceProducer,
                InTransaction,
                fatal,
            ),
            (
                Operation::Commit,
                Action::OutcomeUnknown,
                TxnState::OutcomeUnknown,
                Health::OutcomeUnknown,
            ),
            (
                Operation::Commit,
                Action::AbortThenRetry,
                TxnState::AbortableError,
                Health::NeedsAbort,
            ),
            (
                Operation::Send,
                Action::AbortThenFixRecords,
                TxnState::AbortableError,
                Health::NeedsAbort,
            ),
            (
                Operation::Send,
                Action::RecordRefused,
                InTransaction,
                Health::Ready,
            ),
            (
                Operation::Send,
                Action::UnknownTopic,
                InTransaction,
                Health::Ready,
            ),
            (
                Operation::Send,
                Action::RetryLater,
                InTransaction,
                Health::Ready,
            ),
            (
                Operation::Flush,
                Action::Retry,
                InTransaction,
                Health::NeedsAbort,
            ),
            // A commit or abort that timed out is still under way: it cannot be aborted ...
            (Operation::Commit, Action::Retry, Committing, fatal),
            (Operation::Abort, Action::Retry, Aborting, fatal),
            // ... unless it finished meanwhile.
            (Operation::Commit, Action::Retry, Ready, Health::NeedsAbort),
            (Operation::Abort, Action::FixUsage, Committing, fatal),
            (
                Operation::Commit,
                Action::FixUsage,
                InTransaction,
                Health::NeedsAbort,
            ),
        ];
        for (op, action, state, expected) in cases {
            assert_eq!(
                health_after(op, action, state),
                expected,
                "{op} failing with {action:?} in {state:?}"
            );
        }
    }

    #[test]
    fn every_engine_error_reaches_a_return_path() {
        // The errors the pool saw before `Action` existed keep their return paths.
        let abortable = TxnError::Abortable {
            code: INVALID_PRODUCER_EPOCH,
            reason: "stale epoch".into(),
        };
        let fatal = TxnError::Fatal {
            code: TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            reason: "not authorized".into(),
        };
        let usage = TxnError::Usage(UsageError {
            op: Operation::Abort,
            state: TxnState::Committing,
            detail: None,
        });
        let commit_timeout = TxnError::Timeout {
            op: Operation::Commit,
        };
        let cases = [
            (
                Operation::Commit,
                TxnError::Fenced,
                TxnState::FatalError,
                Health::Fatal { fenced: true },
            ),
            (
                Operation::Commit,
                fatal,
                TxnState::FatalError,
                Health::Fatal { fenced: false },
            ),
            (
                Operation::Send,
                TxnError::Closed,
                TxnState::Ready,
                Health::Fatal { fenced: false },
            ),
            (
                Operation::Commit,
                TxnError::OutcomeUnknown,
                TxnState::OutcomeUnknown,
                Health::OutcomeUnknown,
            ),
            (
                Operation::Commit,
                abortable,
                TxnState::AbortableError,
                Health::NeedsAbort,
            ),
            (
                Operation::Send,
                TxnError::TransactionAborted,
                TxnState::Aborting,
                Health::NeedsAbort,
            ),
            (
                Operation::Commit,
                commit_timeout,
                TxnState::Committing,
                Health::Fatal { fenced: false },
            ),
            (
                Operation::Abort,
                usage.clone(),
                TxnState::Committing,
                Health::Fatal { fenced: false },
            ),
            (
                Operation::Commit,
                usage,
                TxnState::Committing,
                Health::NeedsAbort,
            ),
        ];
        for (op, error, state, expected) in cases {
            assert_eq!(
                health_after(op, error.action(), state),
                expected,
                "{op} failing with {error}"
            );
        }
    }

    #[test]
    fn a_milder_error_never_hides_a_worse_one() {
        let fenced = Health::Fatal { fenced: true };
        assert_eq!(worst(fenced, Health::NeedsAbort), fenced);
        assert_eq!(worst(Health::NeedsAbort, fenced), fenced);
        assert_eq!(
            worst(Health::Ready, Health::OutcomeUnknown),
            Health::OutcomeUnknown
        );
        assert_eq!(
            worst(Health::OutcomeUnknown, Health::Fatal { fenced: false }),
            Health::Fatal { fenced: false }
        );
    }
}
