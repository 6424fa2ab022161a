//! `Pool`: start-up, leasing, the run-in-a-transaction convenience, metrics and close.

use std::fmt;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::PoolConfig;
use crate::error::{PoolError, RunError, StartError};
use crate::lease::Lease;
use crate::producer::{ProducerError, ProducerFactory, TxnProducer};
use crate::shared::{Admission, Shared};
use crate::slot::fill_slot;
use crate::stats::{Counters, PoolStats};
use crate::waiter::{WaitFailure, WaitTicket};

/// A bounded pool of transactional producers shared by concurrent callers. Cheap to clone: clones
/// are handles to the same pool.
pub struct Pool<F: ProducerFactory> {
    shared: Arc<Shared<F>>,
}

/// What `close()` had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseReport {
    /// Idle producers closed at once.
    pub closed_idle: usize,
    /// Producers still leased at the close deadline, whose transactions were aborted and which
    /// were closed under their callers.
    pub forced: usize,
}

impl<F: ProducerFactory> Clone for Pool<F> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<F: ProducerFactory> Pool<F> {
    /// Creates the pool and initialises its `size` producers concurrently. Returns once every slot's
    /// first attempt finished or `startup_timeout` passed, even if some slots failed: those keep
    /// retrying in the background (see [`PoolStats::ready`] and [`PoolStats::replacing`]).
    pub async fn new(config: PoolConfig, factory: F) -> Result<Self, StartError> {
        config.validate()?;
        let runtime = Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let startup_deadline = Instant::now() + config.startup_timeout;
        let size = config.size;
        let shared = Arc::new(Shared::new(config, factory, runtime));
        let mut first_attempts = Vec::with_capacity(size);
        for slot in 0..size {
            let (report, outcome) = oneshot::channel();
            first_attempts.push(outcome);
            shared.spawn(fill_slot(
                Arc::clone(&shared),
                slot,
                std::time::Duration::ZERO,
                Some(report),
            ));
        }
        let mut ready = 0;
        for outcome in first_attempts {
            match tokio::time::timeout_at(startup_deadline, outcome).await {
                Ok(Ok(true)) => ready += 1,
                Ok(_) => {}
                Err(_elapsed) => break,
            }
        }
        tracing::info!(
            ready,
            size,
            instance_id = %shared.config.instance_id,
            "producer pool started"
        );
        Ok(Self { shared })
    }

    /// Leases a producer with a transaction begun on it.
    ///
    /// Takes the producer idle the longest, or waits in FIFO order (without using CPU) up to
    /// `lease.timeout.ms`. Fails at once with [`PoolError::Saturated`] when `max.waiters` callers
    /// already wait. Cancellation-safe: dropping the future never loses a producer.
    pub async fn lease(&self) -> Result<Lease<F>, PoolError<ProducerError<F>>> {
        let started = Instant::now();
        let member = match self.shared.admit() {
            Admission::Granted(member) => member,
            Admission::Closed => return Err(PoolError::Closed),
            Admission::Saturated => {
                Counters::bump(&self.shared.counters.saturated);
                return Err(PoolError::Saturated {
                    max_waiters: self.shared.config.max_waiters,
                });
            }
            Admission::Queued { id, handoff } => {
                let ticket = WaitTicket::new(id, handoff, Arc::clone(&self.shared));
                let deadline = started + self.shared.config.lease_timeout;
                match ticket.wait(deadline).await {
                    Ok(member) => member,
                    Err(WaitFailure::Closed) => return Err(PoolError::Closed),
                    Err(WaitFailure::TimedOut) => {
                        Counters::bump(&self.shared.counters.lease_timeouts);
                        return Err(PoolError::Timeout(self.shared.config.lease_timeout));
                    }
                }
            }
        };
        self.shared.counters.record_lease(started.elapsed());
        // From here the lease owns the producer: if `begin` fails or this future is dropped, the
        // lease's drop aborts and returns it.
        let lease = Lease::new(member, Arc::clone(&self.shared));
        lease.producer().begin().await.map_err(PoolError::Begin)?;
        Ok(lease)
    }

    /// Runs `work` inside a transaction on a leased producer: commits if it returns `Ok`, aborts if
    /// it returns `Err` (or if this future is dropped).
    pub async fn run<T, W, Work>(&self, work: Work) -> Result<T, RunError<ProducerError<F>, W>>
    where
        Work: AsyncFnOnce(&F::Producer) -> Result<T, W>,
    {
        let lease = self.lease().await?;
        match work(lease.producer()).await {
            Ok(value) => {
                lease.commit().await?;
                Ok(value)
            }
            Err(work_error) => {
                if let Err(abort_error) = lease.abort().await {
                    tracing::warn!(error = %abort_error, "aborting after failed work failed");
                }
                Err(RunError::Work(work_error))
            }
        }
    }

    /// Current gauges and counters.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// The configuration the pool runs with.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Whether `close()` was called.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Stops new leases (waiters get [`PoolError::Closed`]), closes idle producers, waits up to
    /// `close.timeout.ms` for leased ones to come back, then aborts and closes those still out.
    /// Calling it again only repeats the wait and the forced close of anything still out.
    pub async fn close(&self) -> CloseReport {
        let deadline = Instant::now() + self.shared.config.close_timeout;
        let idle = self.shared.shut();
        let closed_idle = idle.len();
        let mut closing = JoinSet::new();
        for member in idle {
            let (producer, slot) = member.retire();
            closing.spawn_on(
                async move {
                    producer.close().await;
                    slot
                },
                self.shared.runtime(),
            );
        }
        while let Some(closed) = closing.join_next().await {
            if let Ok(slot) = closed {
                self.shared.forget_slot(slot);
            }
        }
        if self.shared.wait_for_returns(deadline).await {
            return CloseReport {
                closed_idle,
                forced: 0,
            };
        }
        let outstanding = self.shared.outstanding_producers();
        let forced = outstanding.len();
        tracing::warn!(
            forced,
            "closing producers still leased at the close deadline"
        );
        let mut forcing = JoinSet::new();
        for producer in outstanding {
            forcing.spawn_on(
                async move {
                    if let Err(error) = producer.abort().await {
                        tracing::warn!(error = %error, "aborting a leased producer at close failed");
                    }
                    producer.close().await;
                },
                self.shared.runtime(),
            );
        }
        while forcing.join_next().await.is_some() {}
        CloseReport {
            closed_idle,
            forced,
        }
    }
}

impl<F: ProducerFactory> fmt::Debug for Pool<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
