//! [`PoolBackend`]: the [`Backend`] of the gateway on a `kafkatx-pool` [`Pool`].
//!
//! Generic over the producer so that it is tested with a fake one and runs with the real
//! transactional producer, which only has to implement [`RecordSink`] on top of the pool's
//! `TxnProducer`.

use std::future::Future;
use std::sync::Arc;

use kafkatx_pool::{Pool, PoolError, ProducerFactory, TxnProducer};
use prometheus_client::registry::Registry;

use crate::backend::{Backend, Committed, OutRecord, Placed, ProducerInfo, Readiness, TxnFailure};
use crate::pool_metrics::PoolCollector;
use crate::probe::ClusterProbe;

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

/// The gateway backend on a producer pool.
#[derive(Debug)]
pub struct PoolBackend<F: ProducerFactory, P> {
    pool: Pool<F>,
    probe: Arc<P>,
}

impl<F, P> PoolBackend<F, P>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
    P: ClusterProbe,
{
    /// Wraps a started pool; `probe` answers whether the cluster is reachable for `/readyz`.
    pub fn new(pool: Pool<F>, probe: P) -> Self {
        Self {
            pool,
            probe: Arc::new(probe),
        }
    }

    /// The pool, for callers that need its statistics.
    pub fn pool(&self) -> &Pool<F> {
        &self.pool
    }
}

fn failure<S: RecordSink>(error: &S::Error, stage: Stage) -> TxnFailure {
    let detail = error_chain(error);
    match S::failure_kind(error, stage) {
        FailureKind::Invalid => TxnFailure::Invalid(detail),
        FailureKind::Unavailable => TxnFailure::Unavailable(detail),
        FailureKind::Aborted => TxnFailure::Aborted(detail),
        FailureKind::OutcomeUnknown => TxnFailure::OutcomeUnknown(detail),
    }
}

/// Maps the pool's error at `stage` to what the client is told.
fn pool_failure<S: RecordSink>(error: &PoolError<S::Error>, stage: Stage) -> TxnFailure {
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

impl<F, P> Backend for PoolBackend<F, P>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
    P: ClusterProbe,
{
    async fn transact<B>(&self, build: B) -> Result<Committed, TxnFailure>
    where
        B: FnOnce(&ProducerInfo) -> Vec<OutRecord> + Send + 'static,
    {
        let lease = self.pool.lease().await.map_err(|e| {
            match pool_failure::<F::Producer>(&e, Stage::Begin) {
                // No producer to wait for at all: the cluster is the problem, not the load.
                TxnFailure::LeaseTimeout if self.pool.stats().ready == 0 => {
                    TxnFailure::Unavailable(
                        "no producer is initialised; the cluster may be unreachable".to_owned(),
                    )
                }
                other => other,
            }
        })?;
        let info = ProducerInfo {
            transactional_id: lease.transactional_id().to_owned(),
        };
        let records = build(&info);
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
        Ok(Committed {
            transactional_id: info.transactional_id,
            placed,
        })
    }

    async fn ready(&self) -> Readiness {
        let stats = self.pool.stats();
        let probe = self.probe.reachable().await;
        let detail = match (&probe, stats.ready) {
            (Err(reason), _) => Some(format!("cluster unreachable: {reason}")),
            (Ok(()), 0) => Some("no producer is ready".to_owned()),
            (Ok(()), _) => None,
        };
        Readiness {
            producers_ready: if self.pool.is_closed() {
                0
            } else {
                stats.ready
            },
            cluster_reachable: probe.is_ok(),
            detail,
        }
    }

    fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(PoolCollector::new(self.pool.clone())));
    }

    async fn close(&self) {
        let report = self.pool.close().await;
        tracing::info!(?report, "producer pool closed");
    }
}
