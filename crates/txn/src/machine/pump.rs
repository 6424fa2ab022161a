//! One pass of "everything that can make progress now": expiries, routing, coordinator
//! work, draining, metadata refresh, flush completion.

use std::time::Instant;

use kafkatx_wire::protocol::error::ResponseError;

use super::TxnMachine;
use super::accumulator::SentStatus;
use crate::classify::{Failure, Recovery, TransportFailure};
use crate::error::{Operation, TxnError};
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{Request, TopicPartition};

impl TxnMachine {
    /// Run everything that can make progress at `now`.
    /// Makes every possible progress, then rearms the timers: the end of every input and
    /// of every command that changed something.
    pub(super) fn pump(&mut self, now: Instant) {
        self.make_progress(now);
        self.rearm_timers();
    }

    fn make_progress(&mut self, now: Instant) {
        if self.closed || self.state == TxnState::FatalError || !self.versions.any_known() {
            // A close waiting for the producer to settle ends here once it turned fatal.
            self.maybe_finish_close();
            return;
        }
        // Set again below by whatever is still waiting for the settle pause.
        self.settle.new_pass();
        self.produce.expire_throttles(now);
        self.expire_unsent(now);
        self.route_unrouted(now);
        self.maybe_send_coordinator_request(now);
        self.drain(now);
        // Last, so a refresh asked for by routing or draining goes out in this same pass.
        self.maybe_refresh_metadata(now);
        self.maybe_finish_flush();
        self.maybe_finish_close();
    }

    fn maybe_refresh_metadata(&mut self, now: Instant) {
        if !self.metadata.refresh_due(now) {
            return;
        }
        let Some(version) = self
            .versions
            .negotiate_any(kafkatx_wire::protocol::messages::ApiKey::Metadata, None)
        else {
            return;
        };
        let id = self.next_id();
        self.metadata.refresh_sent(id);
        self.metrics.incr(Counter::MetadataRefreshes);
        let request = Request::Metadata(self.metadata.build_request());
        self.emit_transmit(id, crate::types::Destination::AnyBroker, request, version);
    }

    /// Batches waiting for a resend past `delivery.timeout.ms` (e.g. their partition has no
    /// leader) are resolved by the table as "retries exhausted".
    fn expire_waiting_retries(&mut self, now: Instant) {
        let timeout = self.config.delivery_timeout;
        let expired: Vec<(TopicPartition, i32)> = self
            .accumulator
            .partitions
            .iter()
            .flat_map(|(tp, q)| {
                q.sent
                    .iter()
                    .filter(|b| matches!(b.status, SentStatus::AwaitingRetry { .. }))
                    .filter(move |b| now.saturating_duration_since(b.created_at) >= timeout)
                    .map(move |b| (tp.clone(), b.base_sequence))
            })
            .collect();
        for (tp, base) in expired {
            self.on_batch_failure(now, &tp, base, Failure::Transport(TransportFailure::Lost));
        }
    }

    fn expire_unsent(&mut self, now: Instant) {
        self.expire_waiting_retries(now);
        let expired = self
            .accumulator
            .take_expired(now, self.config.delivery_timeout);
        if expired.is_empty() {
            return;
        }
        let error = TxnError::Delivery {
            code: ResponseError::RequestTimedOut.code(),
            reason: "delivery.timeout.ms expired before sending".into(),
        };
        for tokens in expired {
            self.fail_tokens(tokens, error.clone());
        }
        if self.is_transactional() {
            let abortable = TxnError::Abortable {
                code: ResponseError::RequestTimedOut.code(),
                reason: "records expired before sending".into(),
            };
            self.enter_abortable(abortable, Recovery::EndTxn);
        }
    }

    fn maybe_finish_flush(&mut self) {
        if self.operation.is_running(Operation::Flush) && self.accumulator.is_empty() {
            self.flush_requested = false;
            self.complete_op(Operation::Flush, Ok(()));
        }
    }
}
