//! The caller's blocking operation (`init`, `commit`, `abort`, `flush`, `send_offsets`): at
//! most one runs at a time, each with its `max.block.ms` deadline.
//!
//! An operation that outlives its deadline reports `Timeout` to its caller but keeps running
//! (Java's "timed-out calls are resumable" rule): calling the same operation again renews its
//! deadline, and if it finished meanwhile, its result was kept here ("unacknowledged") and
//! is handed to that second call. Only the result of the latest timed-out operation is kept.

use std::time::Instant;

use crate::error::{Operation, TxnError};
use crate::types::TxnEvent;

/// What calling `op` again finds (see [`OperationSlot::resume`]).
#[derive(Debug, PartialEq)]
pub(super) enum Resume {
    /// No operation runs: `op` may start.
    Free,
    /// `op` is running; its deadline was renewed.
    Resumed,
    /// `op` finished after its caller timed out: this is its result.
    Finished(Result<(), TxnError>),
    /// Another operation is running.
    Busy,
}

#[derive(Debug, Clone)]
struct Running {
    op: Operation,
    deadline: Instant,
    /// The caller got `Timeout`: a result now waits for the next call.
    timed_out: bool,
}

/// The running operation and the unacknowledged result. See the module documentation.
#[derive(Debug, Default)]
pub(super) struct OperationSlot {
    running: Option<Running>,
    unacknowledged: Option<(Operation, Result<(), TxnError>)>,
}

impl OperationSlot {
    /// `op` is called while the slot may hold something: resumes it, hands over its kept
    /// result, or says whether it may start. A kept result of another operation is dropped:
    /// its caller moved on.
    pub(super) fn resume(&mut self, op: Operation, deadline: Instant) -> Resume {
        if let Some((done, result)) = self.unacknowledged.take() {
            if done == op {
                return Resume::Finished(result);
            }
        }
        match self.running.as_mut() {
            Some(running) if running.op == op => {
                running.timed_out = false;
                running.deadline = deadline;
                Resume::Resumed
            }
            Some(_) => Resume::Busy,
            None => Resume::Free,
        }
    }

    /// `op` starts, due by `deadline`.
    pub(super) fn start(&mut self, op: Operation, deadline: Instant) {
        self.running = Some(Running {
            op,
            deadline,
            timed_out: false,
        });
    }

    /// The running operation, whether or not its caller timed out.
    pub(super) fn running(&self) -> Option<Operation> {
        self.running.as_ref().map(|r| r.op)
    }

    /// Whether `op` is the running operation.
    pub(super) fn is_running(&self, op: Operation) -> bool {
        self.running() == Some(op)
    }

    /// The operation whose result is kept for its next call.
    pub(super) fn unacknowledged(&self) -> Option<Operation> {
        self.unacknowledged.as_ref().map(|(op, _)| *op)
    }

    /// The caller moved on: the kept result is no longer wanted.
    pub(super) fn forget_unacknowledged(&mut self) {
        self.unacknowledged = None;
    }

    /// Ends `op` with `result` if it is the running operation: the event for its caller, or
    /// nothing if the caller timed out (the result is then kept for the next call).
    pub(super) fn finish(
        &mut self,
        op: Operation,
        result: Result<(), TxnError>,
    ) -> Option<TxnEvent> {
        let running = self.running.take_if(|r| r.op == op)?;
        if running.timed_out {
            self.unacknowledged = Some((op, result));
            None
        } else {
            Some(TxnEvent::OperationDone { op, result })
        }
    }

    /// Ends whichever operation runs with `result` (see [`finish`](Self::finish)).
    pub(super) fn finish_running(&mut self, result: Result<(), TxnError>) -> Option<TxnEvent> {
        let op = self.running()?;
        self.finish(op, result)
    }

    /// Drops the running `op` if its caller already got `Timeout`, so that another operation
    /// may take its work over.
    pub(super) fn release_if_timed_out(&mut self, op: Operation) {
        self.running.take_if(|r| r.op == op && r.timed_out);
    }

    /// At `now`: the `Timeout` for the caller of an operation past its deadline.
    pub(super) fn expire(&mut self, now: Instant) -> Option<TxnEvent> {
        let running = self.running.as_mut()?;
        if running.timed_out || now < running.deadline {
            return None;
        }
        running.timed_out = true;
        let op = running.op;
        Some(TxnEvent::OperationDone {
            op,
            result: Err(TxnError::Timeout { op }),
        })
    }

    /// When the running operation's caller gets `Timeout`, unless it already did.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.running
            .as_ref()
            .filter(|r| !r.timed_out)
            .map(|r| r.deadline)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn done(op: Operation, result: Result<(), TxnError>) -> Option<TxnEvent> {
        Some(TxnEvent::OperationDone { op, result })
    }

    #[test]
    fn an_operation_finishes_for_its_caller() {
        let t0 = Instant::now();
        let mut slot = OperationSlot::default();
        assert_eq!(slot.resume(Operation::Commit, t0), Resume::Free);
        slot.start(Operation::Commit, t0 + Duration::from_secs(1));
        assert_eq!(slot.deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(slot.resume(Operation::Abort, t0), Resume::Busy);
        // Finishing another operation does nothing.
        assert_eq!(slot.finish(Operation::Flush, Ok(())), None);
        assert_eq!(
            slot.finish(Operation::Commit, Ok(())),
            done(Operation::Commit, Ok(()))
        );
        assert_eq!(slot.running(), None);
        assert_eq!(slot.deadline(), None);
    }

    #[test]
    fn a_timed_out_operation_keeps_running_and_resumes() {
        let t0 = Instant::now();
        let mut slot = OperationSlot::default();
        slot.start(Operation::Commit, t0 + Duration::from_secs(1));
        assert_eq!(slot.expire(t0), None);
        let timeout = Err(TxnError::Timeout {
            op: Operation::Commit,
        });
        assert_eq!(
            slot.expire(t0 + Duration::from_secs(1)),
            done(Operation::Commit, timeout)
        );
        // Reported once; no deadline while nobody waits.
        assert_eq!(slot.expire(t0 + Duration::from_secs(2)), None);
        assert_eq!(slot.deadline(), None);
        assert!(slot.is_running(Operation::Commit));

        let later = t0 + Duration::from_secs(5);
        assert_eq!(slot.resume(Operation::Commit, later), Resume::Resumed);
        assert_eq!(slot.deadline(), Some(later));
    }

    #[test]
    fn a_result_after_the_timeout_waits_for_the_next_call() {
        let t0 = Instant::now();
        let mut slot = OperationSlot::default();
        slot.start(Operation::Abort, t0);
        assert!(slot.expire(t0).is_some());
        assert_eq!(slot.finish(Operation::Abort, Ok(())), None);
        assert_eq!(slot.unacknowledged(), Some(Operation::Abort));
        assert_eq!(slot.resume(Operation::Abort, t0), Resume::Finished(Ok(())));
        assert_eq!(slot.unacknowledged(), None);
    }

    #[test]
    fn a_kept_result_is_dropped_when_the_caller_moves_on() {
        let t0 = Instant::now();
        let mut slot = OperationSlot::default();
        slot.start(Operation::Flush, t0);
        assert!(slot.expire(t0).is_some());
        assert_eq!(slot.finish_running(Ok(())), None);
        assert_eq!(slot.resume(Operation::Commit, t0), Resume::Free);
        assert_eq!(slot.unacknowledged(), None);
    }

    #[test]
    fn only_a_timed_out_operation_is_released() {
        let t0 = Instant::now();
        let mut slot = OperationSlot::default();
        slot.start(Operation::SendOffsets, t0 + Duration::from_secs(1));
        slot.release_if_timed_out(Operation::SendOffsets);
        assert!(slot.is_running(Operation::SendOffsets));
        assert!(slot.expire(t0 + Duration::from_secs(1)).is_some());
        slot.release_if_timed_out(Operation::Commit);
        assert!(slot.is_running(Operation::SendOffsets));
        slot.release_if_timed_out(Operation::SendOffsets);
        assert_eq!(slot.running(), None);
    }
}
