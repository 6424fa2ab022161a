//! Counters of the engine, as plain atomics, read through the handles' `metrics()`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared between the machine and whoever reads them.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    commits: AtomicU64,
    aborts: AtomicU64,
    records_sent: AtomicU64,
    records_failed: AtomicU64,
    retries: AtomicU64,
    epoch_bumps: AtomicU64,
    coordinator_lookups: AtomicU64,
    metadata_refreshes: AtomicU64,
    produce_requests: AtomicU64,
    abortable_errors: AtomicU64,
    fatal_errors: AtomicU64,
}

/// A point-in-time copy of the producer's counters (`metrics()` on the handles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Transactions committed.
    pub commits: u64,
    /// Transactions aborted.
    pub aborts: u64,
    /// Records acknowledged by the brokers.
    pub records_sent: u64,
    /// Records reported as failed.
    pub records_failed: u64,
    /// Request retries (produce and coordinator).
    pub retries: u64,
    /// Producer epoch bumps (including producer id rotations).
    pub epoch_bumps: u64,
    /// FindCoordinator requests.
    pub coordinator_lookups: u64,
    /// Metadata requests.
    pub metadata_refreshes: u64,
    /// Produce requests.
    pub produce_requests: u64,
    /// Transitions into the abortable-error state.
    pub abortable_errors: u64,
    /// Transitions into the fatal-error state.
    pub fatal_errors: u64,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// See [`MetricsSnapshot::commits`].
    Commits,
    /// See [`MetricsSnapshot::aborts`].
    Aborts,
    /// See [`MetricsSnapshot::records_sent`].
    RecordsSent,
    /// See [`MetricsSnapshot::records_failed`].
    RecordsFailed,
    /// See [`MetricsSnapshot::retries`].
    Retries,
    /// See [`MetricsSnapshot::epoch_bumps`].
    EpochBumps,
    /// See [`MetricsSnapshot::coordinator_lookups`].
    CoordinatorLookups,
    /// See [`MetricsSnapshot::metadata_refreshes`].
    MetadataRefreshes,
    /// See [`MetricsSnapshot::produce_requests`].
    ProduceRequests,
    /// See [`MetricsSnapshot::abortable_errors`].
    AbortableErrors,
    /// See [`MetricsSnapshot::fatal_errors`].
    FatalErrors,
}

impl Metrics {
    fn cell(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::Commits => &self.commits,
            Counter::Aborts => &self.aborts,
            Counter::RecordsSent => &self.records_sent,
            Counter::RecordsFailed => &self.records_failed,
            Counter::Retries => &self.retries,
            Counter::EpochBumps => &self.epoch_bumps,
            Counter::CoordinatorLookups => &self.coordinator_lookups,
            Counter::MetadataRefreshes => &self.metadata_refreshes,
            Counter::ProduceRequests => &self.produce_requests,
            Counter::AbortableErrors => &self.abortable_errors,
            Counter::FatalErrors => &self.fatal_errors,
        }
    }

    /// Add `n` to a counter.
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        self.cell(counter).fetch_add(n, Ordering::Relaxed);
    }

    /// Add one to a counter.
    pub(crate) fn incr(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Copy all counters.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let get = |c| self.cell(c).load(Ordering::Relaxed);
        MetricsSnapshot {
            commits: get(Counter::Commits),
            aborts: get(Counter::Aborts),
            records_sent: get(Counter::RecordsSent),
            records_failed: get(Counter::RecordsFailed),
            retries: get(Counter::Retries),
            epoch_bumps: get(Counter::EpochBumps),
            coordinator_lookups: get(Counter::CoordinatorLookups),
            metadata_refreshes: get(Counter::MetadataRefreshes),
            produce_requests: get(Counter::ProduceRequests),
            abortable_errors: get(Counter::AbortableErrors),
            fatal_errors: get(Counter::FatalErrors),
        }
    }
}
