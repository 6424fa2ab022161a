//! How long a transaction that follows the previous one at once waits before its first
//! request the transaction coordinator must approve.
//!
//! An EndTxn is answered once the coordinator logged PrepareCommit (or PrepareAbort); the
//! markers are written and CompleteCommit logged after that. Until then the coordinator
//! refuses to add partitions to the next transaction with CONCURRENT_TRANSACTIONS
//! (Kafka's `TransactionCoordinator.handleAddPartitionsToTransaction`):
//! - classic protocol: our AddPartitionsToTxn gets that answer and is retried;
//! - KIP-890: the partition leader adds the partition for the first Produce, gets that
//!   answer, and holds the Produce for `add.partitions.to.txn.retry.backoff.ms` (20 ms by
//!   default) before asking again (`ReplicaManager.appendRecordsWithTransactionVerification`).
//!
//! A producer reused right after its commit (a pool under load) would pay that 20 ms on
//! about every other transaction: measured on one broker, the first Produce after a commit
//! took 22 ms in 60 of 73 transactions, Java's client (whose threads add a few hundred
//! microseconds between the two) in 13 of 101. Waiting a little is far cheaper, but how
//! long the markers take depends on the cluster (replication, disks, load). So the wait is
//! learned: doubled whenever the first request of a transaction was refused or held, and
//! shrunk by 1/64 after each one that went through at once. Doubling versus a slow decay
//! keeps refusals to a few percent of the transactions that follow a commit closely.

use std::time::{Duration, Instant};

/// The longest wait learned: beyond it, a held Produce (20 ms) costs less than waiting.
const MAX_HOLD: Duration = Duration::from_millis(8);
/// The first wait after a refusal when none was learned yet.
const FIRST_HOLD: Duration = Duration::from_millis(1);
/// Waits below this are dropped to zero.
const MIN_HOLD: Duration = Duration::from_micros(50);
/// A first Produce counts as held by the leader when it took this much longer than the
/// fastest Produce answers seen (the broker's hold is 20 ms by default).
const HELD_MARGIN: Duration = Duration::from_millis(12);
/// Only a first request sent this soon after the previous transaction ended can have met a
/// coordinator that was still completing it, so only those teach anything.
const RELEVANT_GAP: Duration = Duration::from_millis(50);

/// The learned wait, and the facts about the current transaction it is judged on.
#[derive(Debug, Clone, Default)]
pub(super) struct Settle {
    hold: Duration,
    /// When the previous transaction's EndTxn was answered.
    ended_at: Option<Instant>,
    /// When the current transaction's first gated request was sent, until it is judged.
    probe_sent_at: Option<Instant>,
    /// A low estimate of a Produce round trip (rises slowly, falls at once).
    produce_floor: Option<Duration>,
    /// When the first gated request found in this pass of the machine may go (its wake-up).
    wake_at: Option<Instant>,
}

impl Settle {
    /// The current wait.
    #[cfg(test)]
    pub(super) fn hold(&self) -> Duration {
        self.hold
    }

    /// An EndTxn was answered at `now`.
    pub(super) fn transaction_ended(&mut self, now: Instant) {
        self.ended_at = Some(now);
        self.probe_sent_at = None;
    }

    /// When the first gated request of the current transaction may go, if that is later than
    /// `now`.
    fn wait_until(&self, now: Instant) -> Option<Instant> {
        let ready = self.ended_at? + self.hold;
        (ready > now).then_some(ready)
    }

    /// Whether the current transaction's first gated request may go at `now`; when not, the
    /// machine must wake at [`Settle::wake_at`] to send it.
    pub(super) fn may_send_first(&mut self, now: Instant) -> bool {
        match self.wait_until(now) {
            Some(until) => {
                self.wake_at = Some(until);
                false
            }
            None => true,
        }
    }

    /// A new pass of the machine: a request that still has to wait says so again.
    pub(super) fn new_pass(&mut self) {
        self.wake_at = None;
    }

    /// When the machine must wake for a first request that is waiting.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        self.wake_at
    }

    /// The first gated request of the current transaction was sent at `now`.
    pub(super) fn first_request_sent(&mut self, now: Instant) {
        let relevant = self
            .ended_at
            .is_some_and(|ended| now.saturating_duration_since(ended) <= RELEVANT_GAP);
        self.probe_sent_at = relevant.then_some(now);
        self.ended_at = None;
    }

    /// Classic protocol: the answer to the first AddPartitionsToTxn; `refused` when it was
    /// CONCURRENT_TRANSACTIONS.
    pub(super) fn add_partitions_answered(&mut self, refused: bool) {
        if self.probe_sent_at.take().is_some() {
            self.learn(refused);
        }
    }

    /// KIP-890: a Produce sent at `sent_at` was answered at `now`; `first` when it carried
    /// the transaction's first records.
    pub(super) fn produce_answered(&mut self, sent_at: Instant, now: Instant, first: bool) {
        let took = now.saturating_duration_since(sent_at);
        let floor = match self.produce_floor {
            Some(floor) if took >= floor => floor + (took - floor) / 32,
            _ => took,
        };
        self.produce_floor = Some(floor);
        if first && self.probe_sent_at.take().is_some() {
            self.learn(took >= floor + HELD_MARGIN);
        }
    }

    fn learn(&mut self, refused: bool) {
        let before = self.hold;
        self.hold = if refused {
            (self.hold * 2).clamp(FIRST_HOLD, MAX_HOLD)
        } else {
            let shrunk = self.hold - self.hold / 64;
            if shrunk < MIN_HOLD {
                Duration::ZERO
            } else {
                shrunk
            }
        };
        if refused {
            tracing::debug!(?before, after = ?self.hold, "first add of a transaction was refused or held; waiting longer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn a_waiting_first_request_sets_the_wake_up_until_the_next_pass() {
        let t0 = Instant::now();
        let mut settle = Settle::default();
        settle.transaction_ended(t0);
        settle.first_request_sent(t0);
        settle.add_partitions_answered(true);
        let ended = t0 + ms(5);
        settle.transaction_ended(ended);
        assert!(!settle.may_send_first(ended));
        assert_eq!(settle.wake_at(), Some(ended + settle.hold()));
        settle.new_pass();
        assert_eq!(settle.wake_at(), None);
        assert!(settle.may_send_first(ended + settle.hold()));
        assert_eq!(settle.wake_at(), None);
    }

    #[test]
    fn no_wait_until_a_refusal_is_seen() {
        let t0 = Instant::now();
        let mut settle = Settle::default();
        settle.transaction_ended(t0);
        assert_eq!(settle.wait_until(t0), None);
    }

    #[test]
    fn a_refusal_right_after_a_commit_teaches_a_wait_and_quiet_transactions_shrink_it() {
        let t0 = Instant::now();
        let mut settle = Settle::default();
        settle.transaction_ended(t0);
        settle.first_request_sent(t0);
        settle.add_partitions_answered(true);
        assert_eq!(settle.hold(), FIRST_HOLD);

        settle.transaction_ended(t0 + ms(10));
        assert_eq!(settle.wait_until(t0 + ms(10)), Some(t0 + ms(11)));
        assert_eq!(settle.wait_until(t0 + ms(11)), None);
        settle.first_request_sent(t0 + ms(11));
        settle.add_partitions_answered(false);
        assert!(settle.hold() < FIRST_HOLD);
        assert!(settle.hold() > FIRST_HOLD * 9 / 10);
    }

    #[test]
    fn repeated_refusals_double_the_wait_up_to_a_bound() {
        let t0 = Instant::now();
        let mut settle = Settle::default();
        for _ in 0..10 {
            settle.transaction_ended(t0);
            settle.first_request_sent(t0);
            settle.add_partitions_answered(true);
        }
        assert_eq!(settle.hold(), MAX_HOLD);
    }

    #[test]
    fn a_request_long_after_the_commit_teaches_nothing() {
        let t0 = Instant::now();
        let mut settle = Settle::default();
        settle.transaction_ended(t0);
        settle.first_request_sent(t0 + ms(500));
        settle.add_partitions_answered(true);
        assert_eq!(settle.hold(), Duration::ZERO);
    }

    #[test]
    fn a_held_produce_is_told_from_a_slow_cluster() {
        let t0 = Instant::now();
        let mut fast = Settle::default();
        for i in 0..5 {
            fast.produce_answered(t0, t0 + ms(1), false);
            fast.transaction_ended(t0 + ms(10 * i));
        }
        fast.first_request_sent(t0 + ms(40));
        fast.produce_answered(t0 + ms(40), t0 + ms(62), true);
        assert_eq!(fast.hold(), FIRST_HOLD, "22 ms where 1 ms is usual: held");

        let mut slow = Settle::default();
        for _ in 0..5 {
            slow.produce_answered(t0, t0 + ms(25), false);
        }
        slow.transaction_ended(t0 + ms(100));
        slow.first_request_sent(t0 + ms(100));
        slow.produce_answered(t0 + ms(100), t0 + ms(127), true);
        assert_eq!(
            slow.hold(),
            Duration::ZERO,
            "27 ms where 25 ms is usual: not held"
        );
    }
}
