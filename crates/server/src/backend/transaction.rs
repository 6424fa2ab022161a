//! One transaction on one leased producer, and what its failures mean for the client.
//!
//! [`RecordSink`] is what a producer must add to the pool's `TxnProducer` for the gateway (send
//! records, classify its errors); [`run_transaction`] sends and commits, aborting on a failure
//! before the commit. Both the one-request-per-transaction path and group commit's runners use it.

use std::future::Future;

use kafkatx_pool::{Lease, PoolError, ProducerFactory, TxnProducer};

use crate::backend::{OutRecord, Placed, TxnFailure};

/// Where in a transaction a producer error happened; it changes what the error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Starting the transaction: nothing was written.
    Begin,
    /// Sending records: the transaction is aborted afterwards, so nothing becomes visible.
    Send,
    /// Committing: the EndTxn request may or may not have taken effect.
    Commit,
}

/// What a producer error means for the HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The request can never succeed as written (unknown topic, partition out of range).
    Invalid,
    /// A topic of the request does not exist (the gateway never creates topics).
    UnknownTopic,
    /// The cluster could not be reached or is not ready; nothing was written.
    Unavailable,
    /// The transaction was aborted; nothing of it is visible.
    Aborted,
    /// The commit's outcome is not known.
    OutcomeUnknown,
}

/// A transactional producer that can send records inside its open transaction.
pub trait RecordSink: TxnProducer {
    /// Sends `records` in the open transaction and waits until every one is acknowledged,
    /// returning where each landed, in order.
    fn send(
        &self,
        records: Vec<OutRecord>,
    ) -> impl Future<Output = Result<Vec<Placed>, Self::Error>> + Send;

    /// Classifies an error of this producer raised at `stage`.
    fn failure_kind(error: &Self::Error, stage: Stage) -> FailureKind;
}

/// Sends `records` in the leased producer's transaction and commits it, aborting on any failure
/// before the commit. Returns where each record landed, in order.
pub(crate) async fn run_transaction<F>(
    lease: Lease<F>,
    records: Vec<OutRecord>,
) -> Result<Vec<Placed>, TxnFailure>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    let expected = records.len();
    let placed = match lease.producer().send(records).await {
        Ok(placed) => placed,
        Err(error) => {
            let failed = failure::<F::Producer>(&error, Stage::Send);
            if let Err(abort_error) = lease.abort().await {
                tracing::warn!(error = %abort_error, "abort after a failed send failed");
            }
            // Whatever the send error was, the transaction is now aborted: nothing is visible.
            return Err(match failed {
                TxnFailure::OutcomeUnknown(detail) => TxnFailure::Aborted(detail),
                other => other,
            });
        }
    };
    if placed.len() != expected {
        // A producer bug; committing would acknowledge records we cannot account for.
        if let Err(abort_error) = lease.abort().await {
            tracing::warn!(error = %abort_error, "abort after a short acknowledgement failed");
        }
        return Err(TxnFailure::Aborted(format!(
            "producer acknowledged {} of {expected} records",
            placed.len()
        )));
    }
    lease
        .commit()
        .await
        .map_err(|e| pool_failure::<F::Producer>(&e, Stage::Commit))?;
    Ok(placed)
}

pub(crate) fn failure<S: RecordSink>(error: &S::Error, stage: Stage) -> TxnFailure {
    let detail = error_chain(error);
    match S::failure_kind(error, stage) {
        FailureKind::Invalid => TxnFailure::Invalid(detail),
        FailureKind::UnknownTopic => TxnFailure::UnknownTopic(detail),
        FailureKind::Unavailable => TxnFailure::Unavailable(detail),
        FailureKind::Aborted => TxnFailure::Aborted(detail),
        FailureKind::OutcomeUnknown => TxnFailure::OutcomeUnknown(detail),
    }
}

/// Maps the pool's error at `stage` to what the client is told.
pub(crate) fn pool_failure<S: RecordSink>(error: &PoolError<S::Error>, stage: Stage) -> TxnFailure {
    match error {
        PoolError::Saturated { .. } => TxnFailure::Saturated,
        PoolError::Timeout(_) => TxnFailure::LeaseTimeout,
        PoolError::Closed => TxnFailure::Unavailable("the producer pool is closed".to_owned()),
        PoolError::Begin(e) => failure::<S>(e, Stage::Begin),
        PoolError::Commit(e) => failure::<S>(e, Stage::Commit),
        // An abort that fails still leaves the transaction uncommitted: the broker aborts it
        // when the producer is fenced or the transaction times out.
        PoolError::Abort(e) => TxnFailure::Aborted(error_chain(e)),
        // A panic inside commit, or an error this version does not know: claim nothing.
        other => match stage {
            Stage::Commit => TxnFailure::OutcomeUnknown(error_chain(other)),
            Stage::Begin | Stage::Send => TxnFailure::Aborted(error_chain(other)),
        },
    }
}

/// `error: source: source...`, so that the client sees the root cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
