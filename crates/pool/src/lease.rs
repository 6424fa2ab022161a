//! `Lease`: exclusive use of one producer for the length of one transaction.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::error::PoolError;
use crate::member::Member;
use crate::producer::{ProducerError, ProducerFactory, TxnProducer};
use crate::return_path::{abort_then_recycle, recycle};
use crate::shared::Shared;
use crate::stats::Counters;

/// One producer inside an open transaction, held by one caller.
///
/// Send records through it (it dereferences to the producer), then [`commit`](Self::commit) or
/// [`abort`](Self::abort). Dropping it without either aborts the transaction in the background
/// before the producer is leased again. Ending the transaction runs in its own task, so a caller
/// that gives up half-way through `commit` still leaves the producer returned or replaced.
pub struct Lease<F: ProducerFactory> {
    producer: Arc<F::Producer>,
    transactional_id: Arc<str>,
    slot: usize,
    /// `None` only once the transaction's end has taken the member back.
    member: Option<Member<F>>,
    shared: Arc<Shared<F>>,
}

#[derive(Debug, Clone, Copy)]
enum Ending {
    Commit,
    Abort,
}

impl<F: ProducerFactory> Lease<F> {
    pub(crate) fn new(member: Member<F>, shared: Arc<Shared<F>>) -> Self {
        Self {
            producer: Arc::clone(&member.producer),
            transactional_id: Arc::clone(&member.transactional_id),
            slot: member.slot,
            member: Some(member),
            shared,
        }
    }

    /// The leased producer.
    pub fn producer(&self) -> &F::Producer {
        &self.producer
    }

    /// The producer's transactional id, `{prefix}-{instance}-{slot}`.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The producer's slot in the pool, `0..size`.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Commits the transaction and returns the producer to the pool. On failure the producer is
    /// aborted and reused, or replaced, according to its health.
    pub async fn commit(self) -> Result<(), PoolError<ProducerError<F>>> {
        self.end(Ending::Commit).await
    }

    /// Aborts the transaction and returns the producer to the pool (or replaces it if it is broken).
    pub async fn abort(self) -> Result<(), PoolError<ProducerError<F>>> {
        self.end(Ending::Abort).await
    }

    async fn end(self, ending: Ending) -> Result<(), PoolError<ProducerError<F>>> {
        let runtime = self.shared.runtime().clone();
        match runtime.spawn(self.finish(ending)).await {
            Ok(result) => result,
            Err(join_error) if join_error.is_panic() => Err(PoolError::ProducerPanicked),
            // Only a runtime shutting down cancels the task.
            Err(_cancelled) => Err(PoolError::Closed),
        }
    }

    async fn finish(mut self, ending: Ending) -> Result<(), PoolError<ProducerError<F>>> {
        let counters = &self.shared.counters;
        let result = match ending {
            Ending::Commit => match self.producer.commit().await {
                Ok(()) => {
                    Counters::bump(&counters.commits);
                    Ok(())
                }
                Err(error) => Err(PoolError::Commit(error)),
            },
            Ending::Abort => match self.producer.abort().await {
                Ok(()) => {
                    Counters::bump(&counters.aborts);
                    Ok(())
                }
                Err(error) => Err(PoolError::Abort(error)),
            },
        };
        if let Some(member) = self.member.take() {
            recycle(Arc::clone(&self.shared), member).await;
        }
        result
    }
}

impl<F: ProducerFactory> Deref for Lease<F> {
    type Target = F::Producer;

    fn deref(&self) -> &F::Producer {
        &self.producer
    }
}

impl<F: ProducerFactory> Drop for Lease<F> {
    fn drop(&mut self) {
        if let Some(member) = self.member.take() {
            let shared = Arc::clone(&self.shared);
            self.shared.spawn(abort_then_recycle(shared, member));
        }
    }
}

impl<F: ProducerFactory> fmt::Debug for Lease<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("transactional_id", &self.transactional_id)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}
