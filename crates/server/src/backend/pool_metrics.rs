//! Exposes the producer pool's statistics, and the group-commit queue's, as Prometheus metrics,
//! read at scrape time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use kafkatx_pool::{Pool, PoolStats, ProducerFactory};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::backend::group_commit::JobQueue;

/// Reads [`Pool::stats`] on every scrape, so the numbers are never stale and the pool needs no
/// knowledge of Prometheus.
pub struct PoolCollector<F: ProducerFactory> {
    pool: Pool<F>,
}

impl<F: ProducerFactory> PoolCollector<F> {
    /// A collector for `pool`.
    pub fn new(pool: Pool<F>) -> Self {
        Self { pool }
    }
}

impl<F: ProducerFactory> fmt::Debug for PoolCollector<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolCollector").finish_non_exhaustive()
    }
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: usize) -> fmt::Result {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Writes every pool statistic through `encoder`.
pub fn encode_stats(stats: &PoolStats, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
    let e = &mut encoder;
    gauge(
        e,
        "pool_producers",
        "Producer slots in the pool",
        stats.size,
    )?;
    gauge(
        e,
        "pool_producers_ready",
        "Producers initialised and usable",
        stats.ready,
    )?;
    gauge(
        e,
        "pool_producers_idle",
        "Producers waiting for a lease",
        stats.idle,
    )?;
    gauge(
        e,
        "pool_producers_leased",
        "Producers inside a transaction",
        stats.leased,
    )?;
    gauge(
        e,
        "pool_producers_replacing",
        "Slots being re-initialised",
        stats.replacing,
    )?;
    gauge(
        e,
        "pool_lease_waiters",
        "Callers waiting for a producer",
        stats.waiters,
    )?;
    counter(e, "pool_leases", "Leases handed out", stats.leases_served)?;
    let wait = ConstCounter::new(stats.lease_wait_total.as_secs_f64());
    wait.encode(e.encode_descriptor(
        "pool_lease_wait_seconds",
        "Total time callers waited for a lease",
        None,
        wait.metric_type(),
    )?)?;
    counter(
        e,
        "pool_lease_timeouts",
        "Leases that timed out",
        stats.lease_timeouts,
    )?;
    counter(
        e,
        "pool_lease_saturated",
        "Leases refused because too many waited",
        stats.saturated,
    )?;
    counter(e, "pool_commits", "Transactions committed", stats.commits)?;
    counter(e, "pool_aborts", "Transactions aborted", stats.aborts)?;
    counter(
        e,
        "pool_replacements",
        "Producers replaced after a fatal error",
        stats.replacements,
    )?;
    counter(
        e,
        "pool_fenced",
        "Producers fenced by another with the same id",
        stats.fenced,
    )
}

impl<F: ProducerFactory> Collector for PoolCollector<F> {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_stats(&self.pool.stats(), encoder)
    }
}

/// Exports the group-commit queue: its depth and how requests shared transactions.
pub struct GroupCollector {
    queue: Arc<JobQueue>,
}

impl GroupCollector {
    /// A collector for `queue`.
    pub fn new(queue: Arc<JobQueue>) -> Self {
        Self { queue }
    }
}

impl fmt::Debug for GroupCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCollector").finish_non_exhaustive()
    }
}

impl Collector for GroupCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut encoder;
        let stats = self.queue.stats();
        gauge(
            e,
            "group_commit_queued_requests",
            "Requests waiting for a shared transaction",
            self.queue.len(),
        )?;
        counter(
            e,
            "group_commit_shared_transactions",
            "Committed transactions that carried more than one request",
            stats.shared_transactions.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "group_commit_shared_requests",
            "Requests committed inside a shared transaction",
            stats.shared_requests.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "group_commit_retried_alone",
            "Requests run alone after their group failed or named a topic not seen yet",
            stats.retried_alone.load(Ordering::Relaxed),
        )
    }
}
