//! Per-partition sequence bookkeeping for the idempotent producer.
//!
//! Sequences count records, are assigned when a batch is drained (never at append), belong
//! to one (producer id, epoch) and wrap to 0 after `i32::MAX` like the broker expects.

use crate::types::ProducerIdentity;

/// `seq + count`, wrapping to 0 after `i32::MAX` (Kafka's `incrementSequence`).
pub(crate) fn advance(seq: i32, count: i32) -> i32 {
    if seq > i32::MAX - count {
        count - (i32::MAX - seq) - 1
    } else {
        seq + count
    }
}

/// Sequence state of one partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct SequenceState {
    /// Identity the sequences below belong to; `None` before the first drain.
    pub identity: Option<ProducerIdentity>,
    /// Base sequence of the next batch to drain.
    pub next: i32,
    /// Last sequence of the last acknowledged batch.
    pub last_acked: Option<i32>,
    /// A batch that took sequences failed and its sequences could not be given back: the
    /// broker will refuse every later batch of this identity as out of order.
    pub broken: bool,
}

impl SequenceState {
    /// Take `count` sequences for a new batch under `identity`, restarting at 0 when the
    /// identity changed (the caller only drains then when nothing of the old one is in flight).
    pub(crate) fn assign(&mut self, identity: ProducerIdentity, count: i32) -> i32 {
        if self.identity != Some(identity) {
            *self = SequenceState {
                identity: Some(identity),
                next: 0,
                last_acked: None,
                broken: false,
            };
        }
        let base = self.next;
        self.next = advance(base, count);
        base
    }

    /// Record an acknowledgement of the batch `[base, base + count)`. Never moves back:
    /// an answer that arrives late for an earlier batch says nothing new (Java keeps the
    /// maximum too).
    pub(crate) fn acked(&mut self, base: i32, count: i32) {
        let last = advance(base, count.saturating_sub(1));
        let newer = match self.last_acked {
            // Sequences wrap to 0 after i32::MAX; "newer" is up to half the range ahead.
            Some(current) => {
                let range = i64::from(i32::MAX) + 1;
                let distance = (i64::from(last) - i64::from(current)).rem_euclid(range);
                distance > 0 && distance < range / 2
            }
            None => true,
        };
        if newer {
            self.last_acked = Some(last);
        }
    }

    /// Return the sequences of the batch `[base, base + count)`, which was not written, when
    /// it is the last batch that took any; false when a later batch took some after it.
    pub(crate) fn give_back(&mut self, base: i32, count: i32) -> bool {
        if advance(base, count) != self.next {
            return false;
        }
        self.next = base;
        true
    }

    /// The broker expects `base` next: it directly follows the last acknowledged batch.
    pub(crate) fn is_next_expected(&self, base: i32) -> bool {
        match self.last_acked {
            Some(last) => advance(last, 1) == base,
            None => base == 0,
        }
    }

    /// Forget everything (epoch bump or new producer id).
    pub(crate) fn reset(&mut self) {
        *self = SequenceState::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_to_zero_not_negative() {
        assert_eq!(advance(i32::MAX, 1), 0);
        assert_eq!(advance(i32::MAX - 1, 3), 1);
        assert_eq!(advance(5, 3), 8);
    }

    #[test]
    fn new_identity_restarts_at_zero() {
        let a = ProducerIdentity {
            producer_id: 1,
            epoch: 0,
        };
        let b = ProducerIdentity {
            producer_id: 1,
            epoch: 1,
        };
        let mut state = SequenceState::default();
        assert_eq!(state.assign(a, 10), 0);
        assert_eq!(state.assign(a, 5), 10);
        state.acked(0, 10);
        assert!(state.is_next_expected(10));
        assert!(!state.is_next_expected(15));
        assert_eq!(state.assign(b, 2), 0);
        assert!(state.is_next_expected(0));
    }

    #[test]
    fn a_late_acknowledgement_never_moves_last_acked_back() {
        let mut state = SequenceState::default();
        state.acked(10, 5);
        state.acked(0, 10);
        assert_eq!(state.last_acked, Some(14));
        let mut state = SequenceState::default();
        state.acked(i32::MAX - 10, 5);
        state.acked(i32::MAX - 1, 2);
        state.acked(0, 3);
        assert_eq!(state.last_acked, Some(2), "across the wrap");
        state.acked(i32::MAX - 1, 1);
        assert_eq!(state.last_acked, Some(2));
    }

    #[test]
    fn sequences_are_given_back_only_by_the_last_batch() {
        let id = ProducerIdentity {
            producer_id: 1,
            epoch: 0,
        };
        let mut state = SequenceState::default();
        assert_eq!(state.assign(id, 3), 0);
        assert_eq!(state.assign(id, 2), 3);
        assert!(!state.give_back(0, 3), "a later batch took sequences");
        assert!(state.give_back(3, 2));
        assert_eq!(state.assign(id, 1), 3);
    }
}
