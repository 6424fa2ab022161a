//! Answers to Produce requests, per batch, acted on through the classification table.

use std::time::{Duration, Instant};

use kafkatx_wire::protocol::messages::ProduceResponse;

use super::accumulator::SentStatus;
use super::produce_flight::ProduceInFlight;
use super::{SHORT_RETRY, TxnMachine};
use crate::classify::{Context, Disposition, Failure, RequestKind, classify};
use crate::error::TxnError;
use crate::metadata::Broker;
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{RecordMetadata, TopicPartition, TxnEvent};

/// Kafka's NOT_LEADER_OR_FOLLOWER.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

impl TxnMachine {
    pub(super) fn on_produce_response(
        &mut self,
        now: Instant,
        request: ProduceInFlight,
        resp: &ProduceResponse,
    ) {
        self.settle
            .produce_answered(request.sent_at, now, request.first_of_transaction);
        // KIP-219: the broker answers at once and expects no request for this long.
        if resp.throttle_time_ms > 0 {
            let until =
                now + Duration::from_millis(u64::try_from(resp.throttle_time_ms).unwrap_or(0));
            self.produce.throttle(request.node_id, until);
        }
        for (tp, base) in request.batches {
            let answer = resp
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == tp.partition);
            match answer {
                Some(p) if p.error_code == 0 => self.on_batch_success(&tp, base, p.base_offset),
                Some(p) => {
                    if p.error_code == NOT_LEADER_OR_FOLLOWER {
                        self.take_leader_hint(&tp, p.current_leader.leader_id.0, resp);
                    }
                    self.on_batch_failure(now, &tp, base, Failure::Code(p.error_code))
                }
                // The broker skipped our partition: we cannot know what happened to it.
                None => self.on_batch_failure(
                    now,
                    &tp,
                    base,
                    Failure::Transport(crate::classify::TransportFailure::Lost),
                ),
            }
        }
    }

    /// KIP-951 (Produce v10+): the refusing broker names the partition's current leader and
    /// that broker's address; with it the batch is resent there at once.
    fn take_leader_hint(&mut self, tp: &TopicPartition, leader: i32, resp: &ProduceResponse) {
        let endpoint = resp
            .node_endpoints
            .iter()
            .find(|e| e.node_id.0 == leader)
            .map(|e| Broker {
                node_id: leader,
                address: format!("{}:{}", e.host.as_str(), e.port),
            });
        if self.metadata.apply_leader_hint(tp, leader, endpoint) {
            self.produce.leader_hinted(tp);
        }
    }

    fn on_batch_success(&mut self, tp: &TopicPartition, base: i32, base_offset: i64) {
        let Some(queue) = self.accumulator.partitions.get_mut(tp) else {
            return;
        };
        let Some(index) = queue.sent_index(base) else {
            return;
        };
        let Some(batch) = queue.sent.remove(index) else {
            return;
        };
        // The broker only accepts in sequence, so earlier batches are in the log as well.
        if queue.sequence.identity == Some(batch.identity) {
            queue
                .sequence
                .acked(batch.base_sequence, batch.record_count);
        }
        queue.pipeline_ok = true;
        // Written, but into a transaction that is being aborted: the records will never be
        // visible, and their callers must not be told otherwise.
        if self.is_transactional()
            && matches!(self.state, TxnState::Aborting | TxnState::AbortableError)
        {
            let error = match self.state {
                TxnState::AbortableError => self
                    .last_error
                    .clone()
                    .unwrap_or(TxnError::TransactionAborted),
                _ => TxnError::TransactionAborted,
            };
            self.fail_tokens(batch.tokens, error);
            return;
        }
        self.metrics.add(
            Counter::RecordsSent,
            u64::try_from(batch.tokens.len()).unwrap_or(0),
        );
        self.out.event(TxnEvent::RecordsDone {
            tokens: batch.tokens,
            result: Ok(RecordMetadata {
                partition: tp.clone(),
                offset: base_offset,
            }),
        });
    }

    pub(super) fn on_batch_failure(
        &mut self,
        now: Instant,
        tp: &TopicPartition,
        base: i32,
        failure: Failure,
    ) {
        let context = self.context();
        let delivery_timeout = self.config.delivery_timeout;
        let Some(queue) = self.accumulator.partitions.get_mut(tp) else {
            return;
        };
        let Some(index) = queue.sent_index(base) else {
            return;
        };
        let Some(batch) = queue.sent.get(index) else {
            return;
        };
        let ctx = Context {
            retries_exhausted: now.saturating_duration_since(batch.created_at) >= delivery_timeout,
            // After a batch before it failed for good, nothing is collateral any more: the
            // batch the broker waits for will never come.
            next_expected_batch: index == 0
                && queue.sequence.identity == Some(batch.identity)
                && (queue.sequence.is_next_expected(base) || queue.sequence.broken),
            ..context
        };
        let disposition = classify(RequestKind::Produce, failure, ctx);
        let code = match failure {
            Failure::Code(code) => code,
            Failure::Transport(_) => -1,
        };
        tracing::debug!(parent: &self.txn_span, %tp, base, ?failure, ?disposition, "produce failed");
        match disposition {
            Disposition::TreatAsSuccess => self.on_batch_success(tp, base, -1),
            Disposition::Retry { .. } | Disposition::RetryUnsure | Disposition::RefreshMetadata
                if !self.may_retry() =>
            {
                let error = self
                    .last_error
                    .clone()
                    .unwrap_or(TxnError::TransactionAborted);
                self.fail_batch(tp, base, failure, error);
            }
            Disposition::Retry { short } => self.schedule_batch_retry(now, tp, base, short),
            Disposition::RetryUnsure => {
                if let Some(batch) = self
                    .accumulator
                    .partitions
                    .get_mut(tp)
                    .and_then(|q| q.sent.iter_mut().find(|b| b.base_sequence == base))
                {
                    batch.maybe_persisted = true;
                }
                self.schedule_batch_retry(now, tp, base, false);
            }
            Disposition::RefreshMetadata if self.produce.take_leader_hint(tp) => {
                // The new leader is known already: resend there now, no refresh, no backoff.
                self.schedule_batch_retry_at(tp, base, now);
            }
            Disposition::RefreshMetadata | Disposition::RefindCoordinator => {
                self.metadata.request_refresh();
                self.schedule_batch_retry(now, tp, base, false);
            }
            Disposition::Abortable(recovery) => {
                let error = TxnError::Abortable {
                    code,
                    reason: format!("produce to {tp} failed"),
                };
                self.fail_batch(tp, base, failure, error.clone());
                self.enter_abortable(error, recovery);
            }
            Disposition::RetryWithNewProducerId => {
                let queue = self.accumulator.partitions.get_mut(tp);
                let maybe_persisted = queue
                    .as_ref()
                    .and_then(|q| q.sent.iter().find(|b| b.base_sequence == base))
                    .is_some_and(|b| b.maybe_persisted);
                if let Some(queue) = queue {
                    queue.needs_restamp = true;
                }
                if maybe_persisted {
                    // Re-stamping could write it twice: report the unknown outcome instead.
                    let reason =
                        format!("producer state for {tp} lost after an unanswered attempt");
                    self.fail_batch(tp, base, failure, TxnError::Delivery { code, reason });
                } else {
                    self.schedule_batch_retry(now, tp, base, false);
                }
                self.reset_producer_id();
            }
            Disposition::FailBatch { reset_producer_id } => {
                self.fail_batch(
                    tp,
                    base,
                    failure,
                    TxnError::Delivery {
                        code,
                        reason: format!("produce to {tp} failed"),
                    },
                );
                if reset_producer_id {
                    self.reset_producer_id();
                }
            }
            Disposition::Fenced => {
                // Which answer fenced us is what an operator needs to tell a zombie from a
                // coordinator that lost track of our epoch.
                tracing::warn!(parent: &self.txn_span, %tp, code, "a Produce answer fenced this producer");
                self.enter_fatal(TxnError::Fenced);
            }
            Disposition::Fatal | Disposition::Unconfirmed | Disposition::Uninitialize => {
                self.enter_fatal(TxnError::Fatal {
                    code,
                    reason: format!("produce to {tp} failed"),
                });
            }
        }
    }

    fn schedule_batch_retry_at(&mut self, tp: &TopicPartition, base: i32, at: Instant) {
        let Some(queue) = self.accumulator.partitions.get_mut(tp) else {
            return;
        };
        let Some(batch) = queue.sent.iter_mut().find(|b| b.base_sequence == base) else {
            return;
        };
        batch.status = SentStatus::AwaitingRetry { not_before: at };
        queue.pipeline_ok = false;
        self.metrics.incr(Counter::Retries);
    }

    fn schedule_batch_retry(&mut self, now: Instant, tp: &TopicPartition, base: i32, short: bool) {
        let Some(queue) = self.accumulator.partitions.get_mut(tp) else {
            return;
        };
        let Some(batch) = queue.sent.iter_mut().find(|b| b.base_sequence == base) else {
            return;
        };
        let delay = if short {
            self.backoff.delay_from(SHORT_RETRY, batch.attempts)
        } else {
            self.backoff.delay(batch.attempts)
        };
        batch.status = SentStatus::AwaitingRetry {
            not_before: now + delay,
        };
        queue.pipeline_ok = false;
        self.metrics.incr(Counter::Retries);
    }

    /// The batch fails and leaves the partition's queue. Its sequences are then a gap: given
    /// back when no later batch took sequences and the batch was certainly not written (an
    /// error answer to every attempt), else the partition's sequences count as broken until
    /// the next producer identity, so later batches refused as out of order are not
    /// mistaken for collateral damage of a batch that will still come.
    fn fail_batch(&mut self, tp: &TopicPartition, base: i32, failure: Failure, error: TxnError) {
        let Some(queue) = self.accumulator.partitions.get_mut(tp) else {
            return;
        };
        let Some(index) = queue.sent_index(base) else {
            return;
        };
        let Some(batch) = queue.sent.remove(index) else {
            return;
        };
        let not_written = matches!(failure, Failure::Code(_)) && !batch.maybe_persisted;
        let same_identity = queue.sequence.identity == Some(batch.identity);
        if same_identity
            && !(not_written
                && queue
                    .sequence
                    .give_back(batch.base_sequence, batch.record_count))
        {
            queue.sequence.broken = true;
        }
        self.fail_tokens(batch.tokens, error);
    }

    /// Idempotent producer: ask for a fresh producer id (sequences then restart at 0). Only
    /// from Ready: a request already under way serves every partition.
    fn reset_producer_id(&mut self) {
        if !self.is_transactional() && self.state == TxnState::Ready {
            self.init_bump = false;
            self.transition(TxnState::Initializing);
        }
    }
}
