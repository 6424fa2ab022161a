//! A producer while it belongs to the pool, and the guard that keeps its slot from being lost.

use std::sync::{Arc, Weak};

use crate::producer::ProducerFactory;
use crate::shared::Shared;

/// A live producer of one slot. Exactly one `Member` exists per live producer; it moves between the
/// idle queue, a waiter's channel and a `Lease`, so whoever holds it is the producer's only user.
pub(crate) struct Member<F: ProducerFactory> {
    pub(crate) producer: Arc<F::Producer>,
    pub(crate) slot: usize,
    pub(crate) transactional_id: Arc<str>,
    guard: SlotGuard<F>,
}

impl<F: ProducerFactory> Member<F> {
    pub(crate) fn new(
        producer: Arc<F::Producer>,
        slot: usize,
        transactional_id: Arc<str>,
        shared: &Arc<Shared<F>>,
    ) -> Self {
        Self {
            producer,
            slot,
            transactional_id,
            guard: SlotGuard {
                slot,
                shared: Arc::downgrade(shared),
                armed: true,
            },
        }
    }

    /// Takes the producer out of pool membership; the caller is now responsible for the slot's
    /// bookkeeping (closing, replacing or forgetting it).
    pub(crate) fn retire(self) -> (Arc<F::Producer>, usize) {
        let Self {
            producer,
            slot,
            mut guard,
            ..
        } = self;
        guard.armed = false;
        (producer, slot)
    }
}

/// Re-initialises the slot if its `Member` is dropped without being retired (a panic in a producer
/// call, a spawned task cancelled by runtime shutdown): the pool must never shrink silently.
struct SlotGuard<F: ProducerFactory> {
    slot: usize,
    shared: Weak<Shared<F>>,
    armed: bool,
}

impl<F: ProducerFactory> Drop for SlotGuard<F> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // The upgrade fails only while the pool itself is being dropped, when nothing is to be kept.
        if let Some(shared) = self.shared.upgrade() {
            shared.slot_lost(self.slot);
        }
    }
}
