//! What the machine has for its driver: requests to send, each numbered here so that its
//! answer finds its way back, and events for the application, each in the order it happened.

use std::collections::VecDeque;

use crate::types::{RequestId, Transmit, TxnEvent};

/// Requests and events waiting to be polled, and the request numbering.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    last_id: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxnEvent>,
}

impl Outbox {
    /// A request id never handed out before by this machine.
    pub(super) fn next_id(&mut self) -> RequestId {
        self.last_id = self.last_id.wrapping_add(1);
        RequestId(self.last_id)
    }

    /// A request for the driver to send.
    pub(super) fn send(&mut self, transmit: Transmit) {
        self.transmits.push_back(transmit);
    }

    /// The next request to send, oldest first.
    pub(super) fn pop_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The machine closed: requests not yet taken are never sent. Events still go out.
    pub(super) fn drop_transmits(&mut self) {
        self.transmits.clear();
    }

    /// An event for the application.
    pub(super) fn event(&mut self, event: TxnEvent) {
        self.events.push_back(event);
    }

    /// The next event, oldest first.
    pub(super) fn pop_event(&mut self) -> Option<TxnEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Operation;
    use crate::types::{Destination, Request};

    fn transmit(id: RequestId) -> Transmit {
        Transmit {
            id,
            destination: Destination::AnyBroker,
            request: Request::Metadata(Default::default()),
            version: 0,
        }
    }

    #[test]
    fn ids_are_new_and_requests_leave_in_order() {
        let mut outbox = Outbox::default();
        let (a, b) = (outbox.next_id(), outbox.next_id());
        assert_ne!(a, b);
        outbox.send(transmit(b));
        outbox.send(transmit(a));
        assert_eq!(outbox.pop_transmit().map(|t| t.id), Some(b));
        assert_eq!(outbox.pop_transmit().map(|t| t.id), Some(a));
        assert!(outbox.pop_transmit().is_none());
    }

    #[test]
    fn closing_drops_requests_but_not_events() {
        let mut outbox = Outbox::default();
        let id = outbox.next_id();
        outbox.send(transmit(id));
        let done = TxnEvent::OperationDone {
            op: Operation::Close,
            result: Ok(()),
        };
        outbox.event(done.clone());
        outbox.drop_transmits();
        assert!(outbox.pop_transmit().is_none());
        assert_eq!(outbox.pop_event(), Some(done));
        assert_eq!(outbox.pop_event(), None);
        // Numbering goes on after a drop: an answer can never match a dropped request's id.
        assert_ne!(outbox.next_id(), id);
    }
}
