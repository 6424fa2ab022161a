//! [`PoolBackend`]: the [`Backend`] of the gateway on a `kafkatx-pool` [`Pool`].
//!
//! Generic over the producer so that it is tested with a fake one and runs with the real
//! transactional producer, which only has to implement [`RecordSink`] on top of the pool's
//! `TxnProducer`.

use std::sync::Arc;

use kafkatx_pool::{Pool, ProducerFactory};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use crate::backend::group_commit::{Build, Claim, Job, JobQueue};
use crate::backend::group_runner;
use crate::backend::idempotency::{IdempotentRequest, MarkerLog, run_once};
use crate::backend::pool_metrics::{GroupCollector, PoolCollector};
use crate::backend::probe::ClusterProbe;
pub use crate::backend::transaction::{FailureKind, RecordSink, Stage};
use crate::backend::transaction::{pool_failure, run_transaction};
use crate::backend::{
    Backend, Committed, MetadataError, Once, OutRecord, ProducerInfo, Readiness, TopicInfo,
    TxnFailure,
};

/// The gateway backend on a producer pool.
#[derive(Debug)]
pub struct PoolBackend<F: ProducerFactory, P> {
    pool: Pool<F>,
    probe: Arc<P>,
    /// Present when requests share transactions (group commit).
    group: Option<Arc<JobQueue>>,
    /// Present when requests may carry an `Idempotency-Key`.
    idempotency: Option<Arc<MarkerLog>>,
}

impl<F, P> PoolBackend<F, P>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
    P: ClusterProbe,
{
    /// Wraps a started pool; `probe` answers whether the cluster is reachable for `/readyz`.
    /// Every request runs as a transaction of its own.
    pub fn new(pool: Pool<F>, probe: P) -> Self {
        Self {
            pool,
            probe: Arc::new(probe),
            group: None,
            idempotency: None,
        }
    }

    /// Accepts requests with an `Idempotency-Key`, recorded in `log`'s marker topic. They
    /// always run in a transaction of their own: a shared transaction would wait on the
    /// claims of several keys, and two such transactions could wait on each other.
    pub fn with_idempotency(mut self, log: MarkerLog) -> Self {
        self.idempotency = Some(Arc::new(log));
        self
    }

    /// Like [`PoolBackend::new`], but up to `max_requests` waiting requests share one
    /// transaction (group commit; 1 means one transaction per request). Starts one runner task
    /// per producer, so it must be called inside a tokio runtime.
    pub fn with_group_commit(pool: Pool<F>, probe: P, max_requests: usize) -> Self {
        if max_requests <= 1 {
            return Self::new(pool, probe);
        }
        let queue = Arc::new(JobQueue::new(pool.config().max_waiters, max_requests));
        for _ in 0..pool.config().size {
            tokio::spawn(group_runner::supervise(pool.clone(), Arc::clone(&queue)));
        }
        Self {
            pool,
            probe: Arc::new(probe),
            group: Some(queue),
            idempotency: None,
        }
    }

    /// The pool, for callers that need its statistics.
    pub fn pool(&self) -> &Pool<F> {
        &self.pool
    }

    /// Requests waiting for a shared transaction (0 without group commit).
    pub fn queued_requests(&self) -> usize {
        self.group.as_ref().map_or(0, |queue| queue.len())
    }

    /// What a client is told when no producer could be had in time.
    fn no_producer_failure(&self, failure: TxnFailure) -> TxnFailure {
        match failure {
            // No producer to wait for at all: the cluster is the problem, not the load.
            TxnFailure::LeaseTimeout if self.pool.stats().ready == 0 => TxnFailure::Unavailable(
                "no producer is initialised; the cluster may be unreachable".to_owned(),
            ),
            other => other,
        }
    }

    /// One request, one transaction.
    async fn transact_alone(&self, build: &Build) -> Result<Committed, TxnFailure> {
        let lease =
            self.pool.lease().await.map_err(|e| {
                self.no_producer_failure(pool_failure::<F::Producer>(&e, Stage::Begin))
            })?;
        let info = ProducerInfo {
            transactional_id: lease.transactional_id().to_owned(),
        };
        let placed = run_transaction(lease, build(&info)).await?;
        Ok(Committed {
            transactional_id: info.transactional_id,
            placed,
        })
    }

    /// Queues the request for a shared transaction and waits for its outcome.
    async fn transact_grouped(
        &self,
        queue: &JobQueue,
        build: Build,
    ) -> Result<Committed, TxnFailure> {
        let (reply, mut answer) = oneshot::channel();
        let claim = Arc::new(Claim::default());
        let job = Job {
            build,
            reply,
            claim: Arc::clone(&claim),
            alone: false,
        };
        if queue.push(job).is_err() {
            return Err(if self.pool.is_closed() {
                TxnFailure::Unavailable("the producer pool is closed".to_owned())
            } else {
                TxnFailure::Saturated
            });
        }
        let patience = tokio::time::sleep(self.pool.config().lease_timeout);
        tokio::select! {
            result = &mut answer => return result.unwrap_or_else(|_| Err(lost_answer())),
            () = patience => {}
        }
        if claim.give_up() {
            return Err(self.no_producer_failure(TxnFailure::LeaseTimeout));
        }
        // A runner took the request just now: its answer may be a commit.
        answer.await.unwrap_or_else(|_| Err(lost_answer()))
    }
}

/// A runner took the request and ended without answering (it panicked): the request may have
/// been inside a commit.
fn lost_answer() -> TxnFailure {
    TxnFailure::OutcomeUnknown("the transaction's runner ended without an answer".to_owned())
}

impl<F, P> Backend for PoolBackend<F, P>
where
    F: ProducerFactory,
    F::Producer: RecordSink,
    P: ClusterProbe,
{
    async fn transact<B>(&self, build: B) -> Result<Committed, TxnFailure>
    where
        B: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
    {
        let build: Build = Arc::new(build);
        match &self.group {
            None => self.transact_alone(&build).await,
            Some(queue) => self.transact_grouped(queue, build).await,
        }
    }

    async fn transact_once<B>(
        &self,
        request: IdempotentRequest,
        build: B,
    ) -> Result<Once, TxnFailure>
    where
        B: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
    {
        let Some(log) = &self.idempotency else {
            return Err(TxnFailure::Unavailable(
                "idempotency keys are not enabled on this gateway".to_owned(),
            ));
        };
        let lease =
            self.pool.lease().await.map_err(|e| {
                self.no_producer_failure(pool_failure::<F::Producer>(&e, Stage::Begin))
            })?;
        run_once(lease, log, &request, &build).await
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

    async fn topics(&self, topic: Option<String>) -> Result<Vec<TopicInfo>, MetadataError> {
        self.probe.topics(topic).await
    }

    fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(PoolCollector::new(self.pool.clone())));
        if let Some(queue) = &self.group {
            registry.register_collector(Box::new(GroupCollector::new(Arc::clone(queue))));
        }
    }

    async fn close(&self) {
        if let Some(queue) = &self.group {
            // The HTTP drain already waited for what it could; whoever still waits was never
            // started, so nothing of theirs can be visible.
            for job in queue.close() {
                let _ = job.reply.send(Err(TxnFailure::Unavailable(
                    "the gateway is shutting down".to_owned(),
                )));
            }
        }
        let report = self.pool.close().await;
        tracing::info!(?report, "producer pool closed");
    }
}
