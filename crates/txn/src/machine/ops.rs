//! C. commands: validated against the state; a wrong state is a `UsageError`, never a hang.
//!
//! Blocking operations (init, commit, abort, flush) finish with a
//! [`TxnEvent::OperationDone`](crate::types::TxnEvent). If one outlives `max.block.ms` the
//! caller gets `Timeout`; calling the *same* operation again resumes it (Java's
//! "timed-out calls are resumable" rule), calling another one is refused.

use std::collections::HashSet;
use std::time::Instant;

use super::{PendingOp, TxnMachine, TxnProgress};
use crate::classify::Recovery;
use crate::error::{Operation, TxnError, UsageError};
use crate::partitioner::partition_for_key;
use crate::state::TxnState;
use crate::types::{ProducerRecord, RecordToken, TopicPartition, TxnEvent};

impl TxnMachine {
    fn usage(&self, op: Operation, detail: Option<&'static str>) -> TxnError {
        TxnError::Usage(UsageError {
            op,
            state: self.state,
            detail,
        })
    }

    /// Common checks for blocking operations. `Ok(true)` means "already running, resumed".
    fn start_op(&mut self, now: Instant, op: Operation) -> Result<bool, TxnError> {
        if self.closed {
            return Err(TxnError::Closed);
        }
        if let Some((done_op, result)) = self.unacked.take() {
            if done_op == op {
                self.events
                    .push_back(TxnEvent::OperationDone { op, result });
                return Ok(true);
            }
        }
        if let Some(pending) = self.pending_op.as_mut() {
            if pending.op == op {
                pending.timed_out = false;
                pending.deadline = now + self.config.max_block;
                return Ok(true);
            }
            return Err(self.usage(op, Some("another operation is still in progress")));
        }
        if self.state == TxnState::FatalError {
            return Err(self.last_error.clone().unwrap_or(TxnError::Closed));
        }
        Ok(false)
    }

    fn set_pending(&mut self, now: Instant, op: Operation) {
        self.pending_op = Some(PendingOp {
            op,
            deadline: now + self.config.max_block,
            timed_out: false,
        });
    }

    /// Get a producer id (transactional: find the coordinator, InitProducerId, which also
    /// fences older instances and aborts their open transaction).
    pub fn init(&mut self, now: Instant) -> Result<(), TxnError> {
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
    pub fn begin(&mut self, now: Instant) -> Result<(), TxnError> {
        if self.closed {
            return Err(TxnError::Closed);
        }
        if !self.is_transactional() {
            return Err(self.usage(Operation::Begin, Some("not a transactional producer")));
        }
        if self.state == TxnState::FatalError {
            return Err(self.last_error.clone().unwrap_or(TxnError::Closed));
        }
        if self.state != TxnState::Ready || self.pending_op.is_some() {
            return Err(self.usage(Operation::Begin, None));
        }
        self.unacked = None;
        self.txn = TxnProgress::new(self.txn.tv2);
        let identity = self.identity.unwrap_or(crate::types::ProducerIdentity {
            producer_id: -1,
            epoch: -1,
        });
        self.txn_span = tracing::info_span!(
            "transaction",
            transactional_id = self.config.transactional_id.as_deref().unwrap_or_default(),
            producer_id = identity.producer_id,
            epoch = identity.epoch,
            tv2 = self.txn.tv2,
        );
        self.transition(TxnState::InTransaction);
        self.pump(now);
        Ok(())
    }

    /// Queue a record. Transactional producers need an open transaction.
    pub fn send(&mut self, now: Instant, record: ProducerRecord) -> Result<RecordToken, TxnError> {
        if self.closed {
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
        if self
            .pending_op
            .as_ref()
            .is_some_and(|p| p.op == Operation::Commit)
        {
            return Err(self.usage(Operation::Send, Some("commit in progress")));
        }
        let token = self.next_token();
        self.metadata.want_topic(&record.topic);
        // Records of one topic keep their call order: one whose partition is known already (an
        // explicit partition) must not overtake an earlier one still waiting for metadata.
        let waits_behind = self
            .accumulator
            .unrouted
            .iter()
            .any(|u| u.record.topic == record.topic);
        let partition = if waits_behind {
            None
        } else {
            self.choose_partition(&record)
        };
        match partition {
            Some(partition) => {
                let tp = TopicPartition::new(record.topic.clone(), partition);
                self.add_to_partition(now, tp, token, &record);
            }
            None => self
                .accumulator
                .unrouted
                .push_back(super::accumulator::Unrouted {
                    token,
                    record,
                    appended_at: now,
                }),
        }
        self.pump(now);
        Ok(token)
    }

    fn choose_partition(&mut self, record: &ProducerRecord) -> Option<i32> {
        if let Some(partition) = record.partition {
            return Some(partition);
        }
        let count = self.metadata.partition_count(&record.topic)?;
        Some(match record.key.as_deref() {
            Some(key) => partition_for_key(key, count),
            None => self.partitioner.next(&record.topic, count),
        })
    }

    pub(super) fn add_to_partition(
        &mut self,
        now: Instant,
        tp: TopicPartition,
        token: RecordToken,
        record: &ProducerRecord,
    ) {
        if self.is_transactional() {
            if self.txn.tv2 {
                // TV2: the leader adds the partition; the transaction counts as started as
                // soon as a send is attempted (txn-reference §1.1).
                self.txn.started = true;
                self.txn.added.insert(tp.clone());
            } else if !self.txn.added.contains(&tp) {
                self.txn.to_add.insert(tp.clone());
            }
        }
        self.accumulator.append(now, tp, token, record);
    }

    /// Place records that waited for metadata.
    pub(super) fn route_unrouted(&mut self, now: Instant) {
        let waiting: Vec<_> = self.accumulator.unrouted.drain(..).collect();
        // Once a record of a topic stays unrouted, later ones of that topic stay behind it.
        let mut blocked: HashSet<String> = HashSet::new();
        for unrouted in waiting {
            let partition = if blocked.contains(&unrouted.record.topic) {
                None
            } else {
                self.choose_partition(&unrouted.record)
            };
            match partition {
                Some(partition) => {
                    let tp = TopicPartition::new(unrouted.record.topic.clone(), partition);
                    self.add_to_partition(
                        unrouted.appended_at.min(now),
                        tp,
                        unrouted.token,
                        &unrouted.record,
                    );
                }
                None => {
                    blocked.insert(unrouted.record.topic.clone());
                    self.accumulator.unrouted.push_back(unrouted);
                }
            }
        }
        if !self.accumulator.unrouted.is_empty() {
            self.metadata.request_refresh();
        }
    }

    /// Flush and commit. Refused (with the cause) after an abortable error.
    pub fn commit(&mut self, now: Instant) -> Result<(), TxnError> {
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
    pub fn abort(&mut self, now: Instant) -> Result<(), TxnError> {
        if self.start_op(now, Operation::Abort)? {
            return Ok(());
        }
        match self.state {
            TxnState::InTransaction | TxnState::AbortableError => {}
            TxnState::OutcomeUnknown => self.txn.recovery = Recovery::Reinit,
            _ => return Err(self.usage(Operation::Abort, None)),
        }
        self.transition(TxnState::Aborting);
        self.set_pending(now, Operation::Abort);
        self.fail_unsent(&TxnError::TransactionAborted);
        self.fail_waiting_retries(&TxnError::TransactionAborted);
        if !self.txn.add_unconfirmed {
            self.txn.to_add.clear();
        }
        self.pump(now);
        Ok(())
    }

    /// Send everything buffered now and report when all of it is acknowledged or failed.
    pub fn flush(&mut self, now: Instant) -> Result<(), TxnError> {
        if self.start_op(now, Operation::Flush)? {
            return Ok(());
        }
        self.flush_requested = true;
        self.set_pending(now, Operation::Flush);
        self.pump(now);
        Ok(())
    }

    /// Stop: everything pending fails with `Closed`; nothing is sent any more.
    pub fn close(&mut self, _now: Instant) {
        if self.closed {
            return;
        }
        self.fail_everything(TxnError::Closed);
        self.closed = true;
        self.outbox.clear();
    }
}
