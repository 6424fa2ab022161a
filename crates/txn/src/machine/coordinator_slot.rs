//! The coordinator slot: the transaction coordinator, once found; the one coordinator-bound
//! request a producer has outstanding; when the next one may go after a failure, and how many
//! failed in a row.
//!
//! Java's `TransactionManager` sends one such request at a time (the `Sender` takes the next of
//! its `pendingRequests` only when `hasInFlightRequest` is false), so an EndTxn can never
//! overtake the AddPartitionsToTxn or TxnOffsetCommit of its own transaction. The count of failures in
//! a row sets the backoff of the next attempt and is cleared by any answer that went through.

use std::time::{Duration, Instant};

use super::CoordKind;
use crate::metadata::Broker;
use crate::types::RequestId;

/// A coordinator-bound request on the wire.
#[derive(Debug, Clone)]
pub(super) struct CoordInFlight {
    pub(super) id: RequestId,
    pub(super) kind: CoordKind,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(super) struct CoordinatorSlot {
    /// The transaction coordinator, from the last FindCoordinator answer.
    broker: Option<Broker>,
    in_flight: Option<CoordInFlight>,
    retry_at: Option<Instant>,
    failures: u32,
}

impl CoordinatorSlot {
    /// The transaction coordinator, if known.
    pub(super) fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }

    /// FindCoordinator named `broker`.
    pub(super) fn found(&mut self, broker: Broker) {
        self.broker = Some(broker);
    }

    /// The coordinator moved or is unreachable: the next request looks it up first.
    pub(super) fn forget_broker(&mut self) {
        self.broker = None;
    }

    /// Whether a new request may be sent at `now`: nothing is in flight and no retry waits. A
    /// retry whose time has come is forgotten here, whether or not anything is sent: its
    /// deadline must not stay behind in the timers once it has passed.
    pub(super) fn open(&mut self, now: Instant) -> bool {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        self.retry_at = None;
        true
    }

    /// Request `id` of `kind` was sent.
    pub(super) fn sent(&mut self, id: RequestId, kind: CoordKind) {
        self.in_flight = Some(CoordInFlight { id, kind });
    }

    /// The request in flight, if any.
    pub(super) fn in_flight(&self) -> Option<&CoordInFlight> {
        self.in_flight.as_ref()
    }

    /// Whether `id` is the request in flight (an answer to anything else is stale).
    pub(super) fn is_in_flight(&self, id: RequestId) -> bool {
        self.in_flight.as_ref().is_some_and(|c| c.id == id)
    }

    /// The request in flight, now answered (or failed): the slot is free for the next.
    pub(super) fn take(&mut self) -> Option<CoordInFlight> {
        self.in_flight.take()
    }

    /// Puts an answered request back, so that its failure can be handled like any other.
    pub(super) fn restore(&mut self, request: CoordInFlight) {
        self.in_flight = Some(request);
    }

    /// Nothing is in flight any more (close, fatal error): its answer will be ignored.
    pub(super) fn abandon(&mut self) {
        self.in_flight = None;
    }

    /// An answer went through: the next failure starts the backoff again.
    pub(super) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// An attempt failed and is to be retried: `delay` gives the pause for the count of
    /// failures in a row, this one included.
    pub(super) fn retry_later(&mut self, now: Instant, delay: impl FnOnce(u32) -> Duration) {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + delay(self.failures));
    }

    /// When the next retry may go, if one waits.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn one_request_at_a_time() {
        let now = Instant::now();
        let mut slot = CoordinatorSlot::default();
        assert!(slot.open(now));
        slot.sent(RequestId(1), CoordKind::FindCoordinator);
        assert!(!slot.open(now));
        assert!(slot.is_in_flight(RequestId(1)));
        assert!(
            !slot.is_in_flight(RequestId(2)),
            "a stale answer is not ours"
        );
        let answered = slot.take().unwrap();
        assert_eq!(answered.kind, CoordKind::FindCoordinator);
        assert!(slot.open(now));
        assert!(slot.take().is_none(), "answered once");
    }

    #[test]
    fn a_failure_waits_its_backoff_and_failures_in_a_row_grow_it() {
        let now = Instant::now();
        let mut slot = CoordinatorSlot::default();
        let mut seen = Vec::new();
        slot.sent(RequestId(1), CoordKind::InitProducerId);
        slot.take();
        slot.retry_later(now, |n| {
            seen.push(n);
            ms(100)
        });
        assert!(!slot.open(now + ms(99)));
        assert_eq!(slot.retry_at(), Some(now + ms(100)));
        assert!(slot.open(now + ms(100)));
        assert_eq!(
            slot.retry_at(),
            None,
            "a retry that came due leaves no timer behind"
        );
        slot.sent(RequestId(2), CoordKind::InitProducerId);
        slot.take();
        slot.retry_later(now, |n| {
            seen.push(n);
            ms(10)
        });
        assert_eq!(seen, [1, 2]);
        slot.succeeded();
        slot.retry_later(now, |n| {
            seen.push(n);
            ms(10)
        });
        assert_eq!(
            seen,
            [1, 2, 1],
            "an answer that went through resets the count"
        );
    }

    #[test]
    fn the_coordinator_is_known_until_forgotten() {
        let mut slot = CoordinatorSlot::default();
        assert!(slot.broker().is_none());
        slot.found(Broker {
            node_id: 2,
            address: "b2:9092".into(),
        });
        assert_eq!(slot.broker().map(|b| b.node_id), Some(2));
        slot.forget_broker();
        assert!(slot.broker().is_none());
    }

    #[test]
    fn restore_and_abandon() {
        let now = Instant::now();
        let mut slot = CoordinatorSlot::default();
        slot.sent(RequestId(7), CoordKind::EndTxn { commit: true });
        let request = slot.take().unwrap();
        slot.restore(request);
        assert!(slot.is_in_flight(RequestId(7)));
        assert_eq!(
            slot.in_flight().map(|c| &c.kind),
            Some(&CoordKind::EndTxn { commit: true })
        );
        slot.abandon();
        assert!(slot.open(now));
        assert!(slot.in_flight().is_none());
    }
}
