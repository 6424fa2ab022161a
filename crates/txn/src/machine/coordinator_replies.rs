//! Answers (and failures) of coordinator-bound requests, acted on through the one
//! classification table.

use std::collections::BTreeMap;
use std::time::Instant;

use kafkatx_wire::protocol::messages::{
    AddPartitionsToTxnResponse, EndTxnResponse, FindCoordinatorResponse, InitProducerIdResponse,
};

use super::coordinator_slot::CoordInFlight;
use super::{CoordKind, SHORT_RETRY, TxnMachine, TxnProgress};
use crate::classify::{Disposition, Failure, Recovery, RequestKind, TransportFailure, classify};
use crate::error::{Operation, TxnError};
use crate::metadata::Broker;
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{ProducerIdentity, Response, TopicPartition};

impl TxnMachine {
    pub(super) fn on_coordinator_response(&mut self, now: Instant, response: Response) {
        let Some(request) = self.coord.take() else {
            return;
        };
        match (request.kind, response) {
            (CoordKind::FindCoordinator, Response::FindCoordinator(resp)) => {
                self.on_find_coordinator(now, &resp)
            }
            (CoordKind::InitProducerId, Response::InitProducerId(resp)) => {
                self.on_init_producer_id(now, &resp)
            }
            (CoordKind::AddPartitions(partitions), Response::AddPartitionsToTxn(resp)) => {
                self.on_add_partitions(now, &partitions, &resp);
            }
            (CoordKind::FindGroupCoordinator { group }, Response::FindCoordinator(resp)) => {
                self.on_group_coordinator(now, &group, &resp)
            }
            (CoordKind::AddOffsets { group }, Response::AddOffsetsToTxn(resp)) => {
                self.on_add_offsets(now, &group, &resp)
            }
            (CoordKind::TxnOffsetCommit { group }, Response::TxnOffsetCommit(resp)) => {
                self.on_txn_offset_commit(now, &group, &resp)
            }
            (CoordKind::EndTxn { commit }, Response::EndTxn(resp)) => {
                self.on_end_txn(now, commit, &resp)
            }
            (kind, _) => {
                // A driver bug: treat like a lost answer so the table decides.
                self.coord.restore(CoordInFlight {
                    id: request.id,
                    kind,
                });
                self.on_coordinator_failure(now, Failure::Transport(TransportFailure::Lost));
            }
        }
    }

    fn on_find_coordinator(&mut self, now: Instant, resp: &FindCoordinatorResponse) {
        if resp.error_code != 0 {
            self.apply_coordinator_disposition(
                now,
                RequestKind::FindCoordinator,
                Failure::Code(resp.error_code),
            );
            return;
        }
        let address = format!("{}:{}", resp.host.as_str(), resp.port);
        tracing::debug!(node_id = resp.node_id.0, %address, "transaction coordinator found");
        self.coord.found(Broker {
            node_id: resp.node_id.0,
            address,
        });
        self.coord.succeeded();
    }

    fn on_init_producer_id(&mut self, now: Instant, resp: &InitProducerIdResponse) {
        if resp.error_code != 0 {
            self.apply_coordinator_disposition(
                now,
                RequestKind::InitProducerId,
                Failure::Code(resp.error_code),
            );
            return;
        }
        let identity = ProducerIdentity {
            producer_id: resp.producer_id.0,
            epoch: resp.producer_epoch,
        };
        self.set_identity(identity);
        self.coord.succeeded();
        self.init_bump = false;
        self.txn = TxnProgress::new(self.tv2_available());
        self.transition(TxnState::Ready);
        tracing::info!(
            producer_id = identity.producer_id,
            epoch = identity.epoch,
            tv2 = self.txn.tv2(),
            "producer id assigned"
        );
        // Whichever operation led here (init, or the bump that ends an abort/commit) is done.
        if let Some(op) = self.operation.running() {
            match op {
                Operation::Abort => self.metrics.incr(Counter::Aborts),
                Operation::Commit => self.metrics.incr(Counter::Commits),
                _ => {}
            }
            self.complete_op(op, Ok(()));
        }
    }

    /// Adopt a new producer id/epoch: every partition's sequence restarts at 0.
    fn set_identity(&mut self, identity: ProducerIdentity) {
        if let Some(old) = self.identity {
            if old != identity {
                self.metrics.incr(Counter::EpochBumps);
            }
        }
        self.identity = Some(identity);
        self.accumulator.reset_sequences();
    }

    fn on_add_partitions(
        &mut self,
        now: Instant,
        partitions: &[TopicPartition],
        resp: &AddPartitionsToTxnResponse,
    ) {
        self.txn.add_answered();
        // Any answer means the coordinator may now hold partitions of this transaction.
        let mut worst: Option<i16> = None;
        let mut errors = BTreeMap::new();
        for topic in &resp.results_by_topic_v3_and_below {
            for result in &topic.results_by_partition {
                let tp = TopicPartition::new(topic.name.0.as_str(), result.partition_index);
                errors.insert(tp, result.partition_error_code);
            }
        }
        for tp in partitions {
            match errors.get(tp).copied() {
                Some(0) => {
                    self.txn.partition_added(tp);
                }
                // OPERATION_NOT_ATTEMPTED only says another partition failed.
                Some(55) => {}
                Some(code) => worst = Some(self.worse_code(worst, code)),
                None => worst = Some(self.worse_code(worst, -1)),
            }
        }
        // CONCURRENT_TRANSACTIONS: the previous transaction was still being completed.
        self.settle.add_partitions_answered(worst == Some(51));
        match worst {
            None => self.coord.succeeded(),
            Some(code) => self.apply_coordinator_disposition(
                now,
                RequestKind::AddPartitionsToTxn,
                Failure::Code(code),
            ),
        }
    }

    /// Of two error codes, the one whose disposition is more severe.
    fn worse_code(&self, current: Option<i16>, candidate: i16) -> i16 {
        let rank = |code: i16| match classify(
            RequestKind::AddPartitionsToTxn,
            Failure::Code(code),
            self.context(),
        ) {
            Disposition::Fenced | Disposition::Fatal => 3,
            Disposition::Abortable(_) => 2,
            Disposition::RefindCoordinator => 1,
            _ => 0,
        };
        match current {
            Some(code) if rank(code) >= rank(candidate) => code,
            _ => candidate,
        }
    }

    fn on_end_txn(&mut self, now: Instant, commit: bool, resp: &EndTxnResponse) {
        if resp.error_code != 0 {
            self.apply_coordinator_disposition(
                now,
                RequestKind::EndTxn { commit },
                Failure::Code(resp.error_code),
            );
            return;
        }
        self.coord.succeeded();
        self.settle.transaction_ended(now);
        // KIP-890: EndTxn v5 returns the bumped epoch (or a new id at epoch 0 on exhaustion).
        if self.txn.tv2() && resp.producer_id.0 >= 0 {
            self.set_identity(ProducerIdentity {
                producer_id: resp.producer_id.0,
                epoch: resp.producer_epoch,
            });
        }
        self.finish_transaction(commit);
    }

    /// The transaction is over on the coordinator side (or was empty): bump if required,
    /// switch protocol at this boundary if the cluster changed, report success.
    pub(super) fn finish_transaction(&mut self, commit: bool) {
        let upgrade_to_tv2 = !self.txn.tv2() && self.tv2_available();
        let bump = (self.txn.recovery() == Recovery::EndTxnThenBump || upgrade_to_tv2)
            && self.can_bump_epoch();
        if bump && self.txn.started() {
            self.init_bump = true;
            self.transition(TxnState::Initializing);
            return;
        }
        let tv2 = self.tv2_available();
        self.txn = TxnProgress::new(tv2);
        self.transition(TxnState::Ready);
        let op = if commit {
            Operation::Commit
        } else {
            Operation::Abort
        };
        self.metrics.incr(if commit {
            Counter::Commits
        } else {
            Counter::Aborts
        });
        tracing::info!(parent: &self.txn_span, commit, "transaction finished");
        self.txn_span = tracing::Span::none();
        self.complete_op(op, Ok(()));
    }

    pub(super) fn on_coordinator_failure(&mut self, now: Instant, failure: Failure) {
        let Some(request) = self.coord.take() else {
            return;
        };
        let lost = failure == Failure::Transport(TransportFailure::Lost);
        // The coordinator may hold these partitions now: an abort must add them again first,
        // or its EndTxn could hit an empty (TV1: invalid) transaction.
        match &request.kind {
            CoordKind::AddPartitions(_) if lost => self.txn.add_lost(),
            CoordKind::AddOffsets { group } if lost => self.txn.group_add_lost(group),
            CoordKind::EndTxn { commit: true } if lost => self.txn.commit_lost(),
            _ => {}
        }
        let kind = match request.kind {
            CoordKind::FindCoordinator | CoordKind::FindGroupCoordinator { .. } => {
                RequestKind::FindCoordinator
            }
            CoordKind::InitProducerId => RequestKind::InitProducerId,
            CoordKind::AddPartitions(_) => RequestKind::AddPartitionsToTxn,
            CoordKind::AddOffsets { .. } => RequestKind::AddOffsetsToTxn,
            CoordKind::TxnOffsetCommit { group } => {
                let kind = RequestKind::TxnOffsetCommit;
                return self.apply_group_disposition(now, kind, failure, &group);
            }
            CoordKind::EndTxn { commit } => RequestKind::EndTxn { commit },
        };
        self.apply_coordinator_disposition(now, kind, failure);
    }

    /// Act on the table's verdict for a coordinator-bound request.
    pub(super) fn apply_coordinator_disposition(
        &mut self,
        now: Instant,
        kind: RequestKind,
        failure: Failure,
    ) {
        let disposition = classify(kind, failure, self.context());
        let code = match failure {
            Failure::Code(code) => code,
            Failure::Transport(_) => -1,
        };
        tracing::debug!(parent: &self.txn_span, ?kind, ?failure, ?disposition, "coordinator request failed");
        let refused = matches!(
            disposition,
            Disposition::Abortable(_)
                | Disposition::Fenced
                | Disposition::Fatal
                | Disposition::Uninitialize
                | Disposition::Unconfirmed
        );
        if refused
            && kind == (RequestKind::EndTxn { commit: true })
            && self.txn.commit_maybe_applied()
        {
            // The first EndTxn may have committed before its answer was lost; this refusal of
            // the resent one (say, fenced meanwhile) does not say otherwise.
            self.end_txn_unconfirmed();
            return;
        }
        match disposition {
            Disposition::Retry { short } => self.schedule_coordinator_retry(now, short),
            Disposition::RefindCoordinator
            | Disposition::RefreshMetadata
            | Disposition::RetryUnsure => {
                if disposition == Disposition::RefindCoordinator {
                    self.coord.forget_broker();
                }
                self.schedule_coordinator_retry(now, false);
            }
            Disposition::TreatAsSuccess => self.schedule_coordinator_retry(now, false),
            Disposition::Abortable(recovery) => {
                let error = TxnError::Abortable {
                    code,
                    reason: format!("{kind:?} failed"),
                };
                // Nothing more joins a failed transaction, not even again after a lost answer.
                self.txn.stop_joining();
                self.enter_abortable(error, recovery);
            }
            Disposition::FailBatch { .. } | Disposition::RetryWithNewProducerId => {
                self.schedule_coordinator_retry(now, false);
            }
            Disposition::Unconfirmed => self.end_txn_unconfirmed(),
            Disposition::Uninitialize => {
                let error = TxnError::Fatal {
                    code,
                    reason: "not authorized to use this transactional.id".into(),
                };
                self.identity = None;
                self.transition(TxnState::Uninitialized);
                self.last_error = Some(error.clone());
                // Init, or the commit or abort whose epoch bump this was: it ends here.
                if let Some(op) = self.operation.running() {
                    self.complete_op(op, Err(error));
                }
            }
            Disposition::Fenced => {
                tracing::warn!(parent: &self.txn_span, ?kind, code, "a coordinator answer fenced this producer");
                self.enter_fatal(TxnError::Fenced);
            }
            Disposition::Fatal => self.enter_fatal(TxnError::Fatal {
                code,
                reason: fatal_reason(kind, failure),
            }),
        }
    }

    pub(super) fn schedule_coordinator_retry(&mut self, now: Instant, short: bool) {
        self.metrics.incr(Counter::Retries);
        let backoff = &mut self.backoff;
        self.coord.retry_later(now, |failures| {
            if short {
                backoff.delay_from(SHORT_RETRY, failures)
            } else {
                backoff.delay(failures)
            }
        });
    }

    /// The EndTxn answer was lost. A commit's outcome is unknown: tell the caller and allow
    /// only abort, which bumps the epoch. An abort simply continues with that bump.
    fn end_txn_unconfirmed(&mut self) {
        self.txn.escalate(Recovery::Reinit);
        match self.state {
            TxnState::Committing => {
                self.transition(TxnState::OutcomeUnknown);
                self.last_error = Some(TxnError::OutcomeUnknown);
                self.complete_op(Operation::Commit, Err(TxnError::OutcomeUnknown));
            }
            TxnState::Aborting => {
                self.init_bump = true;
                self.transition(TxnState::Initializing);
            }
            _ => {}
        }
    }
}

/// Why a coordinator request ended the producer, in words a user can act on.
fn fatal_reason(kind: RequestKind, failure: Failure) -> String {
    // Refused credentials surface when connecting, through `handle_unusable_broker`.
    match failure {
        Failure::Transport(TransportFailure::Unsupported) => {
            format!("{kind:?} failed: the broker supports no version of it that we speak")
        }
        _ => format!("{kind:?} failed"),
    }
}
