//! C. commands: validated against the state; a wrong state is a `UsageError`, never a hang.
//!
//! Blocking operations (init, commit, abort, flush, and `send_offsets` in `offsets_requests.rs`)
//! finish with a
//! [`TxnEvent::OperationDone`](crate::types::TxnEvent). If one outlives `max.block.ms` the
//! caller gets `Timeout`; calling the *same* operation again resumes it (Java's
//! "timed-out calls are resumable" rule), calling another one is refused.

use std::time::Instant;

use super::accumulator::SentStatus;
use super::operation::Resume;
use super::{CoordKind, TxnMachine, TxnProgress};
use crate::classify::Recovery;
use crate::error::{Operation, TxnError, UsageError};
use crate::state::TxnState;
use crate::types::{ProducerRecord, RecordToken, TxnEvent};

impl TxnMachine {
    pub(super) fn usage(&self, op: Operation, detail: Option<&'static str>) -> TxnError {
        TxnError::Usage(UsageError {
            op,
            state: self.state,
            detail,
        })
    }

    /// Common checks for blocking operations. `Ok(true)` means "already running, resumed".
    pub(super) fn start_op(&mut self, now: Instant, op: Operation) -> Result<bool, TxnError> {
        if self.closed {
            return Err(TxnError::Closed);
        }
        match self.operation.resume(op, now + self.config.max_block) {
            Resume::Finished(result) => {
                self.out.event(TxnEvent::OperationDone { op, result });
                return Ok(true);
            }
            Resume::Resumed => {
                // Its deadline moved.
                self.rearm_timers();
                return Ok(true);
            }
            Resume::Busy => {
                return Err(self.usage(op, Some("another operation is still in progress")));
            }
            Resume::Free => {}
        }
        if self.state == TxnState::FatalError {
            return Err(self.last_error.clone().unwrap_or(TxnError::Closed));
        }
        Ok(false)
    }

    pub(super) fn set_pending(&mut self, now: Instant, op: Operation) {
        self.operation.start(op, now + self.config.max_block);
    }

    /// Get a producer id (transactional: find the coordinator, InitProducerId, which also
    /// fences older instances and aborts their open transaction).
    pub(crate) fn init(&mut self, now: Instant) -> Result<(), TxnError> {
        if self.start_op(now, Operation::Init)? {
            return Ok(());
        }
        if self.state != TxnState::Uninitialized {
            return Err(self.usage(Operation::Init, None));
        }
        self.init_bump = false;
        self.transition(TxnState::Initializing);
        self.set_pending(now, Operation::Init);
        self.pump(now);
        Ok(())
    }

    /// Start a transaction. Local only: nothing is sent until records are.
    pub(crate) fn begin(&mut self, now: Instant) -> Result<(), TxnError> {
        if self.closed || self.close_requested {
            return Err(TxnError::Closed);
        }
        if !self.is_transactional() {
            return Err(self.usage(Operation::Begin, Some("not a transactional producer")));
        }
        if self.state == TxnState::FatalError {
            return Err(self.last_error.clone().unwrap_or(TxnError::Closed));
        }
        if self.state != TxnState::Ready || self.operation.running().is_some() {
            return Err(self.usage(Operation::Begin, None));
        }
        // A commit or abort whose caller timed out finished meanwhile: its caller must learn
        // the result by calling it again (Java refuses beginTransaction the same way).
        if let Some(op) = self.operation.unacknowledged() {
            return Err(self.usage(
                Operation::Begin,
                Some(match op {
                    Operation::Commit => {
                        "the last commit timed out: call commit again for its result"
                    }
                    Operation::Abort => "the last abort timed out: call abort again for its result",
                    _ => "an earlier operation timed out: call it again for its result",
                }),
            ));
        }
        self.txn = TxnProgress::new(self.txn.tv2());
        let identity = self.identity.unwrap_or(crate::types::ProducerIdentity {
            producer_id: -1,
            epoch: -1,
        });
        self.txn_span = tracing::info_span!(
            "transaction",
            transactional_id = self.config.transactional_id.as_deref().unwrap_or_default(),
            producer_id = identity.producer_id,
            epoch = identity.epoch,
            tv2 = self.txn.tv2(),
        );
        self.transition(TxnState::InTransaction);
        self.pump(now);
        Ok(())
    }

    /// Queue a record. Transactional producers need an open transaction.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        record: ProducerRecord,
    ) -> Result<RecordToken, TxnError> {
        if self.closed || self.close_requested {
            return Err(TxnError::Closed);
        }
        match (self.is_transactional(), self.state) {
            (_, TxnState::FatalError) | (true, TxnState::AbortableError) => {
                return Err(self.last_error.clone().unwrap_or(TxnError::Closed));
            }
            (true, TxnState::InTransaction) => {}
            (true, _) => return Err(self.usage(Operation::Send, Some("no open transaction"))),
            (false, _) => {}
        }
        if self.operation.is_running(Operation::Commit) {
            return Err(self.usage(Operation::Send, Some("commit in progress")));
        }
        // Refused before it gets a token: the record never joins the transaction.
        if let Some(error) = self.invalid_partition(&record) {
            return Err(error);
        }
        let size = crate::batch::BatchDraft::size_alone(&record, self.config.compression);
        self.buffer.admit(
            size,
            self.config.max_request_size,
            self.config.buffer_memory,
        )?;
        let token = self.next_token();
        self.buffer.hold(token, size);
        self.metadata.want_topic(&record.topic);
        self.route_new(now, token, record);
        self.pump(now);
        Ok(token)
    }

    /// Flush, wait for the offsets of `send_offsets`, and commit. Refused (with the cause)
    /// after an abortable error.
    pub(crate) fn commit(&mut self, now: Instant) -> Result<(), TxnError> {
        self.release_timed_out_send_offsets();
        if self.start_op(now, Operation::Commit)? {
            return Ok(());
        }
        match self.state {
            TxnState::InTransaction => {}
            TxnState::AbortableError => {
                return Err(self.last_error.clone().unwrap_or(TxnError::Abortable {
                    code: -1,
                    reason: "transaction failed".into(),
                }));
            }
            TxnState::OutcomeUnknown => {
                return Err(self.usage(
                    Operation::Commit,
                    Some("the last commit's outcome is unknown; abort"),
                ));
            }
            _ => return Err(self.usage(Operation::Commit, None)),
        }
        self.transition(TxnState::Committing);
        self.set_pending(now, Operation::Commit);
        self.pump(now);
        Ok(())
    }

    /// Abort: unsent records fail, in-flight ones finish, then EndTxn(abort) (or an epoch
    /// bump when the coordinator state is unknown or already fenced us).
    pub(crate) fn abort(&mut self, now: Instant) -> Result<(), TxnError> {
        self.release_timed_out_send_offsets();
        if self.start_op(now, Operation::Abort)? {
            return Ok(());
        }
        match self.state {
            TxnState::InTransaction | TxnState::AbortableError => {}
            TxnState::OutcomeUnknown => self.txn.escalate(Recovery::Reinit),
            _ => return Err(self.usage(Operation::Abort, None)),
        }
        self.transition(TxnState::Aborting);
        self.set_pending(now, Operation::Abort);
        // Batches already sent (or waiting for a resend) carry sequences: they are resent
        // until answered, and EndTxn waits for them (see `may_retry`).
        self.fail_unsent(&TxnError::TransactionAborted);
        // An answer still in flight for offsets is ignored from now on.
        self.txn.abort_started();
        self.pump(now);
        Ok(())
    }

    /// End the transaction, the way franz-go's `EndTransaction` does: the operation run (or
    /// resumed) and whether it started. A commit or abort already under way, because its
    /// caller timed out, is resumed (or its finished result collected) whatever `commit`
    /// asks for; otherwise `commit` picks commit or abort. A commit refused because the
    /// transaction failed returns that failure: the caller aborts next.
    pub(crate) fn end_transaction(
        &mut self,
        now: Instant,
        commit: bool,
    ) -> (Operation, Result<(), TxnError>) {
        let under_way = self
            .operation
            .unacknowledged()
            .or_else(|| self.operation.running())
            .filter(|op| matches!(op, Operation::Commit | Operation::Abort));
        let op = under_way.unwrap_or(if commit {
            Operation::Commit
        } else {
            Operation::Abort
        });
        let started = match op {
            Operation::Commit => self.commit(now),
            _ => self.abort(now),
        };
        (op, started)
    }

    /// Send everything buffered now and report when all of it is acknowledged or failed.
    pub(crate) fn flush(&mut self, now: Instant) -> Result<(), TxnError> {
        if self.start_op(now, Operation::Flush)? {
            return Ok(());
        }
        self.flush_requested = true;
        self.set_pending(now, Operation::Flush);
        self.pump(now);
        Ok(())
    }

    /// Start closing gracefully, as Java's `close` does: no new records or transactions;
    /// buffered records are sent (idempotent producer) or the open transaction is aborted
    /// (transactional: read_committed consumers must not wait for its timeout); a commit or
    /// abort under way finishes. `OperationDone { op: Close }` follows once nothing is left
    /// in flight. `force_close` ends it at any time.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.closed || self.close_requested {
            return;
        }
        self.close_requested = true;
        if self.is_transactional() {
            let open = matches!(
                self.state,
                TxnState::InTransaction | TxnState::AbortableError | TxnState::OutcomeUnknown
            );
            if open && self.operation.running().is_none() {
                // Best effort: a refusal leaves the transaction to the coordinator's timeout.
                let _ = self.abort(now);
            }
        } else {
            self.flush_requested = true;
        }
        self.pump(now);
        self.maybe_finish_close();
        self.rearm_timers();
    }

    /// Stop now. Records never sent fail with `Closed`; records whose request was sent and
    /// not answered, and a commit whose EndTxn was not answered, may have been applied: they
    /// fail with `OutcomeUnknown`, never as failed.
    pub(crate) fn force_close(&mut self, _now: Instant) {
        if self.closed {
            return;
        }
        self.fail_unsent(&TxnError::Closed);
        let batches: Vec<_> = self
            .accumulator
            .partitions
            .values_mut()
            .flat_map(|q| q.sent.drain(..))
            .collect();
        for batch in batches {
            let in_doubt = batch.maybe_persisted || matches!(batch.status, SentStatus::InFlight(_));
            let error = if in_doubt {
                TxnError::OutcomeUnknown
            } else {
                TxnError::Closed
            };
            self.fail_tokens(batch.tokens, error);
        }
        let commit_in_flight = self
            .coord
            .in_flight()
            .is_some_and(|c| c.kind == CoordKind::EndTxn { commit: true });
        if let Some(op) = self.operation.running() {
            let error = if op == Operation::Commit
                && (commit_in_flight || self.txn.commit_maybe_applied())
            {
                TxnError::OutcomeUnknown
            } else {
                TxnError::Closed
            };
            self.complete_op(op, Err(error));
        }
        self.produce.forget_all();
        self.coord.abandon();
        self.closed = true;
        self.out.drop_transmits();
        self.rearm_timers();
    }

    /// A graceful close is done once nothing is pending or in flight.
    pub(super) fn maybe_finish_close(&mut self) {
        if !self.close_requested || self.closed {
            return;
        }
        let settled = self.operation.running().is_none()
            && self.accumulator.is_empty()
            && self.coord.in_flight().is_none()
            && !matches!(
                self.state,
                TxnState::Committing | TxnState::Aborting | TxnState::Initializing
            );
        if settled || self.state == TxnState::FatalError {
            self.fail_unsent(&TxnError::Closed);
            self.closed = true;
            self.out.drop_transmits();
            self.out.event(TxnEvent::OperationDone {
                op: Operation::Close,
                result: Ok(()),
            });
        }
    }
}
