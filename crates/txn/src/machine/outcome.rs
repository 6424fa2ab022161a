//! State changes and how their consequences reach the application: the transition table
//! is enforced here, operations and records are completed here.

use super::TxnMachine;
use crate::classify::Recovery;
use crate::error::{Operation, TxnError};
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{RecordToken, TxnEvent};

impl TxnMachine {
    /// Every state change goes through here. An invalid transition is an engine bug: like
    /// Java's sender thread, it poisons the machine instead of continuing in a wrong state.
    pub(super) fn transition(&mut self, to: TxnState) {
        if self.state == to {
            return;
        }
        if !self.state.can_transition_to(to) {
            tracing::error!(from = ?self.state, ?to, "invalid transaction state transition");
            self.state = TxnState::FatalError;
            let error = TxnError::Internal {
                reason: format!("invalid transition to {to:?}"),
            };
            self.fail_everything(error);
            return;
        }
        tracing::debug!(parent: &self.txn_span, from = ?self.state, ?to, "transaction state");
        if !matches!(
            to,
            TxnState::AbortableError | TxnState::FatalError | TxnState::OutcomeUnknown
        ) {
            self.last_error = None;
        }
        self.state = to;
    }

    pub(super) fn complete_op(&mut self, op: Operation, result: Result<(), TxnError>) {
        if let Some(done) = self.operation.finish(op, result) {
            self.out.event(done);
        }
    }

    pub(super) fn fail_tokens(&mut self, tokens: Vec<RecordToken>, error: TxnError) {
        if tokens.is_empty() {
            return;
        }
        self.metrics.add(
            Counter::RecordsFailed,
            u64::try_from(tokens.len()).unwrap_or(u64::MAX),
        );
        self.out.event(TxnEvent::RecordsDone {
            tokens,
            result: Err(error),
        });
    }

    pub(super) fn fail_unsent(&mut self, error: &TxnError) {
        for tokens in self.accumulator.take_unsent() {
            self.fail_tokens(tokens, error.clone());
        }
    }

    /// The transaction failed: move to AbortableError (unless already aborting), remember how
    /// to recover, fail records that were not sent and any waiting commit or send_offsets.
    pub(super) fn enter_abortable(&mut self, error: TxnError, recovery: Recovery) {
        // Without a producer id only a new InitProducerId can bring the producer back.
        let recovery = if self.identity.is_none() {
            Recovery::Reinit
        } else {
            recovery
        };
        self.txn.escalate(recovery);
        match self.state {
            TxnState::InTransaction | TxnState::Committing | TxnState::Initializing => {
                self.metrics.incr(Counter::AbortableErrors);
                tracing::warn!(parent: &self.txn_span, %error, ?recovery, "transaction must abort");
                self.transition(TxnState::AbortableError);
                self.last_error = Some(error.clone());
                self.fail_unsent(&error);
                self.complete_op(Operation::Commit, Err(error.clone()));
                self.complete_op(Operation::SendOffsets, Err(error.clone()));
                // From Initializing, the epoch bump that ends an abort can fail too.
                self.complete_op(Operation::Abort, Err(error.clone()));
                self.complete_op(Operation::Init, Err(error));
            }
            _ => {}
        }
    }

    pub(super) fn enter_fatal(&mut self, error: TxnError) {
        if self.state == TxnState::FatalError {
            return;
        }
        self.metrics.incr(Counter::FatalErrors);
        tracing::error!(parent: &self.txn_span, %error, "producer is now in a fatal state");
        self.transition(TxnState::FatalError);
        self.fail_everything(error);
    }

    pub(super) fn fail_everything(&mut self, error: TxnError) {
        self.last_error = Some(error.clone());
        self.fail_unsent(&error);
        let sent: Vec<Vec<RecordToken>> = self
            .accumulator
            .partitions
            .values_mut()
            .flat_map(|q| q.sent.drain(..).map(|b| b.tokens))
            .collect();
        for tokens in sent {
            self.fail_tokens(tokens, error.clone());
        }
        self.produce.forget_all();
        self.coord.abandon();
        if let Some(done) = self.operation.finish_running(Err(error)) {
            self.out.event(done);
        }
    }
}
