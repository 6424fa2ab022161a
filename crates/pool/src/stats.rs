//! Numbers for metrics: gauges read from the pool's state and monotonic counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A consistent snapshot of the pool's gauges plus its counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Configured number of producers.
    pub size: usize,
    /// Producers initialised and usable (idle + leased).
    pub ready: usize,
    /// Producers free to lease.
    pub idle: usize,
    /// Producers with a caller, or on their way back to the pool.
    pub leased: usize,
    /// Callers waiting for a producer.
    pub waiters: usize,
    /// Slots being initialised or re-initialised in the background.
    pub replacing: usize,
    /// Leases handed out.
    pub leases_served: u64,
    /// Sum of the time callers waited for their lease (divide by `leases_served` for the mean).
    pub lease_wait_total: Duration,
    /// `lease()` calls that timed out.
    pub lease_timeouts: u64,
    /// `lease()` calls turned away because `max.waiters` callers were waiting.
    pub saturated: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Transactions aborted (on request, on drop, or after an abortable error).
    pub aborts: u64,
    /// Producers replaced after a fatal error.
    pub replacements: u64,
    /// Producers that came back fenced.
    pub fenced: u64,
}

/// Counters updated without the state lock.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) leases_served: AtomicU64,
    pub(crate) lease_wait_nanos: AtomicU64,
    pub(crate) lease_timeouts: AtomicU64,
    pub(crate) saturated: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) aborts: AtomicU64,
    pub(crate) replacements: AtomicU64,
    pub(crate) fenced: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_lease(&self, waited: Duration) {
        Self::bump(&self.leases_served);
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.lease_wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Fills the counter fields of `stats`.
    pub(crate) fn fill(&self, stats: &mut PoolStats) {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        stats.leases_served = read(&self.leases_served);
        stats.lease_wait_total = Duration::from_nanos(read(&self.lease_wait_nanos));
        stats.lease_timeouts = read(&self.lease_timeouts);
        stats.saturated = read(&self.saturated);
        stats.commits = read(&self.commits);
        stats.aborts = read(&self.aborts);
        stats.replacements = read(&self.replacements);
        stats.fenced = read(&self.fenced);
    }
}
