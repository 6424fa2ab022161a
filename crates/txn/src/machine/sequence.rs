//! Per-partition sequence bookkeeping for the idempotent producer.
//!
//! Sequences count records, are assigned when a batch is drained (never at append), belong
//! to one (producer id, epoch) and wrap to 0 after `i32::MAX` like the broker expects.

use crate::types::ProducerIdentity;

/// `seq + count`, wrapping to 0 after `i32::MAX` (Kafka's `incrementSequence`).
pub fn advance(seq: i32, count: i32) -> i32 {
    if seq > i32::MAX - count {
        count - (i32::MAX - seq) - 1
    } else {
        seq + count
    }
}

/// Sequence state of one partition.
#[derive(Debug, Clone, Default)]
pub struct SequenceState {
    /// Identity the sequences below belong to; `None` before the first drain.
    pub identity: Option<ProducerIdentity>,
    /// Base sequence of the next batch to drain.
    pub next: i32,
    /// Last sequence of the last acknowledged batch.
    pub last_acked: Option<i32>,
}

impl SequenceState {
    /// Take `count` sequences for a new batch under `identity`, restarting at 0 when the
    /// identity changed (the caller only drains then when nothing of the old one is in flight).
    pub fn assign(&mut self, identity: ProducerIdentity, count: i32) -> i32 {
        if self.identity != Some(identity) {
            *self = SequenceState {
                identity: Some(identity),
                next: 0,
                last_acked: None,
            };
        }
        let base = self.next;
        self.next = advance(base, count);
        base
    }

    /// Record an acknowledgement of the batch `[base, base + count)`.
    pub fn acked(&mut self, base: i32, count: i32) {
        self.last_acked = Some(advance(base, count.saturating_sub(1)));
    }

    /// The broker expects `base` next: it directly follows the last acknowledged batch.
    pub fn is_next_expected(&self, base: i32) -> bool {
        match self.last_acked {
            Some(last) => advance(last, 1) == base,
            None => base == 0,
        }
    }

    /// Forget everything (epoch bump or new producer id).
    pub fn reset(&mut self) {
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
}
