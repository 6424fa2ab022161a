//! [`AppState`]: what every request handler shares, and the admission of transactions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::backend::Backend;
use crate::http::config::ServerConfig;
use crate::http::metrics::Metrics;

/// Shared by all connections of one server.
#[derive(Debug)]
pub struct AppState<B> {
    /// The producer pool.
    pub backend: Arc<B>,
    /// Limits and topics.
    pub config: ServerConfig,
    /// Request and transaction metrics.
    pub metrics: Metrics,
    /// One permit per admitted transaction. A semaphore and not a queue: a transaction that
    /// cannot get a permit at once is refused (503), so waiting work is bounded by its size;
    /// at shutdown, taking every permit is how we wait for transactions whose client left.
    admission: Arc<Semaphore>,
    /// Permits the admission semaphore was created with.
    admission_size: usize,
    /// Set once shutdown starts: `/readyz` turns 503 and new transactions are refused.
    draining: AtomicBool,
}

impl<B: Backend> AppState<B> {
    /// Builds the state and lets the backend register its metrics.
    pub fn new(backend: Arc<B>, config: ServerConfig) -> Self {
        let metrics = Metrics::new(|registry| backend.register_metrics(registry));
        // Clamped: 0 would refuse every transaction and more than MAX_PERMITS makes tokio panic.
        let permits = config
            .max_pending_transactions
            .clamp(1, Semaphore::MAX_PERMITS);
        let admission = Arc::new(Semaphore::new(permits));
        Self {
            backend,
            config,
            metrics,
            admission,
            admission_size: permits,
            draining: AtomicBool::new(false),
        }
    }
}

impl<B> AppState<B> {
    /// A permit to run one transaction, or `None` when the admission limit is reached.
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.admission).try_acquire_owned().ok()
    }

    /// Whether shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Refuses new transactions from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Waits until every admitted transaction has finished, at most until `deadline`.
    ///
    /// Returns `false` if some were still running when the time was up.
    pub async fn wait_for_transactions(&self, deadline: Instant) -> bool {
        let all = u32::try_from(self.admission_size).unwrap_or(u32::MAX);
        matches!(
            tokio::time::timeout_at(deadline, self.admission.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }
}
