//! The machine's timers: at most one deadline per kind ([`Timer`]), kept in a [`TimerTable`].
//!
//! Every deadline is a function of the machine's state (an operation's `max.block.ms`, a
//! coordinator retry, the oldest batch's `delivery.timeout.ms`, ...), so the machine writes
//! the whole table again at the end of each input and command (`TxnMachine::rearm_timers`)
//! and nowhere else; `poll_timeout` and `handle_timeout` only read it. Rewriting it costs one
//! pass over the partitions with something queued, which each input's pump already makes;
//! the engine's scenario tests check after every step that the table equals a fresh
//! derivation, so a path that changes the state without rearming cannot go unnoticed.

use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The caller's operation (`init`, `commit`, ...) reaches its `max.block.ms` or timeout.
    Operation,
    /// The next coordinator request may go after a failure.
    CoordinatorRetry,
    /// The first add of a transaction that follows the last one closely (`settle.rs`).
    Settle,
    /// Metadata is due for a refresh.
    Metadata,
    /// A batch's `linger.ms` is over.
    Linger,
    /// The oldest unsent batch reaches `delivery.timeout.ms`.
    DeliveryTimeout,
    /// A batch waiting to be resent may go.
    ProduceRetry,
    /// The oldest batch waiting to be resent reaches `delivery.timeout.ms`.
    RetryDeliveryTimeout,
}

impl Timer {
    /// Every kind, in table order.
    const ALL: [Timer; 8] = [
        Timer::Operation,
        Timer::CoordinatorRetry,
        Timer::Settle,
        Timer::Metadata,
        Timer::Linger,
        Timer::DeliveryTimeout,
        Timer::ProduceRetry,
        Timer::RetryDeliveryTimeout,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    /// Sets `timer` to the earliest of its current deadline and `at`: several sources of
    /// one kind (say, the linger of each partition) keep the first.
    pub(crate) fn arm_earliest(&mut self, timer: Timer, at: Option<Instant>) {
        // Every kind has its slot (the array is as long as `Timer::ALL`).
        if let Some(slot) = self.at.get_mut(timer.index()) {
            *slot = match (*slot, at) {
                (Some(current), Some(new)) => Some(current.min(new)),
                (current, new) => current.or(new),
            };
        }
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.at.get(timer.index()).copied().flatten()
    }

    /// The earliest deadline of all.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// The timers due at `now`.
    pub(crate) fn expired(&self, now: Instant) -> impl Iterator<Item = Timer> + '_ {
        self.armed()
            .filter(move |(_, at)| *at <= now)
            .map(|(timer, _)| timer)
    }

    /// Every armed timer with its deadline, in table order.
    pub(crate) fn armed(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        Timer::ALL
            .iter()
            .filter_map(|timer| self.get(*timer).map(|at| (*timer, at)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_table_keeps_the_earliest_deadline_per_kind() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.arm_earliest(Timer::Linger, Some(t0 + s(5)));
        table.arm_earliest(Timer::Linger, Some(t0 + s(3)));
        table.arm_earliest(Timer::Linger, None);
        table.arm_earliest(Timer::Linger, Some(t0 + s(4)));
        assert_eq!(table.get(Timer::Linger), Some(t0 + s(3)));
        table.arm_earliest(Timer::Operation, Some(t0 + s(10)));
        assert_eq!(table.next(), Some(t0 + s(3)));
        assert_eq!(
            table.armed().collect::<Vec<_>>(),
            vec![(Timer::Operation, t0 + s(10)), (Timer::Linger, t0 + s(3))]
        );
    }

    #[test]
    fn expired_names_the_timers_that_are_due() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.arm_earliest(Timer::Metadata, Some(t0));
        table.arm_earliest(Timer::ProduceRetry, Some(t0 + Duration::from_millis(1)));
        assert_eq!(table.expired(t0).collect::<Vec<_>>(), vec![Timer::Metadata]);
        assert_eq!(table.expired(t0 + Duration::from_secs(1)).count(), 2);
    }
}
