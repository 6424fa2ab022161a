//! A caller's place in the FIFO queue of `lease()`, which gives the producer back if the caller
//! leaves after a producer was already handed to it.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::member::Member;
use crate::producer::ProducerFactory;
use crate::shared::Shared;

/// Why waiting ended without a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitFailure {
    TimedOut,
    Closed,
}

pub(crate) struct WaitTicket<F: ProducerFactory> {
    id: u64,
    handoff: oneshot::Receiver<Member<F>>,
    shared: Arc<Shared<F>>,
    settled: bool,
}

impl<F: ProducerFactory> WaitTicket<F> {
    pub(crate) fn new(
        id: u64,
        handoff: oneshot::Receiver<Member<F>>,
        shared: Arc<Shared<F>>,
    ) -> Self {
        Self {
            id,
            handoff,
            shared,
            settled: false,
        }
    }

    /// Waits, without polling anything but the channel, until a producer is handed over, the pool
    /// closes, or `deadline` passes.
    pub(crate) async fn wait(mut self, deadline: Instant) -> Result<Member<F>, WaitFailure> {
        let outcome = tokio::time::timeout_at(deadline, &mut self.handoff).await;
        self.settled = true;
        match outcome {
            Ok(Ok(member)) => Ok(member),
            // The sender is dropped without a producer only when the pool closes.
            Ok(Err(_dropped)) => Err(WaitFailure::Closed),
            Err(_elapsed) => {
                if self.shared.withdraw(self.id) {
                    return Err(WaitFailure::TimedOut);
                }
                // A producer arrived at the deadline: take it rather than fail.
                self.handoff.close();
                self.handoff.try_recv().map_err(|_| WaitFailure::Closed)
            }
        }
    }
}

impl<F: ProducerFactory> Drop for WaitTicket<F> {
    /// The caller gave up (its future was dropped): leave the queue, or give back the producer that
    /// was handed over in the meantime.
    fn drop(&mut self) {
        if self.settled || self.shared.withdraw(self.id) {
            return;
        }
        self.handoff.close();
        if let Ok(member) = self.handoff.try_recv() {
            self.shared.give_back(member);
        }
    }
}
