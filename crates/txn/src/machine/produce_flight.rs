//! The Produce requests in flight, and what the brokers said about sending them more: the
//! throttles they asked for (KIP-219) and the new leaders their refusals named (KIP-951).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::types::{RequestId, TopicPartition};

/// One Produce request waiting for its answer.
#[derive(Debug, Clone)]
pub(super) struct ProduceInFlight {
    pub(super) node_id: i32,
    pub(super) sent_at: Instant,
    /// It carries the transaction's first records (KIP-890: the leader adds the partitions).
    pub(super) first_of_transaction: bool,
    /// (partition, base sequence) of each batch in the request.
    pub(super) batches: Vec<(TopicPartition, i32)>,
}

/// The Produce side's bookkeeping, owned here so that no other part of the machine edits it.
#[derive(Debug, Default)]
pub(super) struct ProduceFlight {
    requests: HashMap<RequestId, ProduceInFlight>,
    /// Brokers that asked us (`throttle_time_ms` in a Produce answer) to send them nothing
    /// more until then.
    throttled_until: HashMap<i32, Instant>,
    /// Partitions whose last Produce refusal named their new leader.
    leader_hinted: BTreeSet<TopicPartition>,
}

impl ProduceFlight {
    pub(super) fn sent(&mut self, id: RequestId, request: ProduceInFlight) {
        self.requests.insert(id, request);
    }

    /// The request `id`, once its answer or failure arrived; `None` if it is not ours (or was
    /// forgotten by [`ProduceFlight::forget_all`]).
    pub(super) fn take(&mut self, id: RequestId) -> Option<ProduceInFlight> {
        self.requests.remove(&id)
    }

    /// Answers that may still come no longer concern anyone (a fatal error, a new epoch).
    pub(super) fn forget_all(&mut self) {
        self.requests.clear();
    }

    pub(super) fn in_flight_to(&self, node_id: i32) -> usize {
        self.requests
            .values()
            .filter(|r| r.node_id == node_id)
            .count()
    }

    pub(super) fn throttle(&mut self, node_id: i32, until: Instant) {
        self.throttled_until.insert(node_id, until);
    }

    pub(super) fn is_throttled(&self, node_id: i32) -> bool {
        self.throttled_until.contains_key(&node_id)
    }

    /// Lifts the throttles that ended by `now`.
    pub(super) fn expire_throttles(&mut self, now: Instant) {
        self.throttled_until.retain(|_, until| *until > now);
    }

    /// A refusal of `tp` named its new leader, which metadata now knows.
    pub(super) fn leader_hinted(&mut self, tp: &TopicPartition) {
        self.leader_hinted.insert(tp.clone());
    }

    /// Whether `tp`'s new leader was named by its last refusal (consumed: a hint serves once).
    pub(super) fn take_leader_hint(&mut self, tp: &TopicPartition) -> bool {
        self.leader_hinted.remove(tp)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(node_id: i32, now: Instant) -> ProduceInFlight {
        ProduceInFlight {
            node_id,
            sent_at: now,
            first_of_transaction: false,
            batches: vec![(TopicPartition::new("t", 0), 0)],
        }
    }

    #[test]
    fn requests_are_counted_per_broker_until_taken_or_forgotten() {
        let now = Instant::now();
        let mut flight = ProduceFlight::default();
        flight.sent(RequestId(1), request(1, now));
        flight.sent(RequestId(2), request(1, now));
        flight.sent(RequestId(3), request(2, now));
        assert_eq!((flight.in_flight_to(1), flight.in_flight_to(2)), (2, 1));
        assert_eq!(flight.take(RequestId(2)).map(|r| r.node_id), Some(1));
        assert!(
            flight.take(RequestId(2)).is_none(),
            "an answer is handled once"
        );
        assert_eq!(flight.in_flight_to(1), 1);
        flight.forget_all();
        assert!(flight.take(RequestId(3)).is_none());
        assert_eq!(flight.in_flight_to(2), 0);
    }

    #[test]
    fn a_throttle_lasts_until_it_ends_and_a_hint_serves_once() {
        let now = Instant::now();
        let mut flight = ProduceFlight::default();
        flight.throttle(1, now + Duration::from_millis(100));
        flight.expire_throttles(now + Duration::from_millis(99));
        assert!(flight.is_throttled(1) && !flight.is_throttled(2));
        flight.expire_throttles(now + Duration::from_millis(100));
        assert!(!flight.is_throttled(1));
        let tp = TopicPartition::new("t", 3);
        assert!(!flight.take_leader_hint(&tp));
        flight.leader_hinted(&tp);
        assert!(flight.take_leader_hint(&tp));
        assert!(!flight.take_leader_hint(&tp));
    }
}
