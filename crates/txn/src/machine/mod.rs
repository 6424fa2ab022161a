//! The sans-IO core: one [`TxnMachine`] per producer (transactional or idempotent-only).
//!
//! It performs no I/O and never reads a clock. Methods come in four families:
//! getters (`state`, `identity`), commands (`init`, `begin`, `send`, `send_offsets`, `commit`,
//! `abort`, `flush`, `close`), inputs (`handle_*`) and outputs (`poll_*`). After every command or
//! input, drain `poll_transmit`, then `poll_event`, then read `poll_timeout`. Every input
//! carries a monotonically non-decreasing `now`.
//!
//! Files follow one naming rule: `<area>_requests.rs` decides when and builds an area's requests
//! (coordinator, offsets, produce), `<area>_replies.rs` acts on their answers and failures
//! through the one classification table; the other files are parts that own their state
//! (`accumulator`, `buffer`, `coordinator_slot`, `sequence`, `settle`, `versions`) or the
//! machine's families (`ops` for commands, `pump` for progress, `outcome` for transitions).

mod accumulator;
mod buffer;
mod coordinator_replies;
mod coordinator_requests;
mod coordinator_slot;
mod offsets_replies;
mod offsets_requests;
mod operation;
mod ops;
mod outbox;
mod outcome;
mod produce_flight;
mod produce_replies;
mod produce_requests;
mod progress;
mod pump;
mod routing;
pub(crate) mod sequence;
mod settle;
mod timers;
mod versions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkatx_wire::BrokerVersions;

use crate::backoff::Backoff;
use crate::classify::{Context, Failure, TransportFailure};
use crate::config::ProducerConfig;
use crate::error::TxnError;
use crate::metadata::{Broker, ClusterMetadata};
use crate::metrics::Metrics;
use crate::partitioner::Partitioner;
use crate::state::TxnState;
use crate::types::{
    ProducerIdentity, RecordToken, Request, RequestId, Response, TopicPartition, Transmit, TxnEvent,
};

use accumulator::{Accumulator, SentStatus};
use buffer::BufferUse;
use coordinator_slot::CoordinatorSlot;
use operation::OperationSlot;
use outbox::Outbox;
use produce_flight::ProduceFlight;
use progress::TxnProgress;
use settle::Settle;
use timers::{Timer, TimerTable};
use versions::VersionBook;

/// Backoff base for CONCURRENT_TRANSACTIONS, which clears as soon as the previous
/// transaction's markers are written: a few milliseconds on a healthy cluster. The Java client
/// waits a flat 20 ms (KAFKA-5477); starting at 5 ms and doubling reaches 20 ms by the third
/// retry, so a slow cluster costs at most two extra requests, while a pooled producer reused
/// right after its commit (the gateway's normal case) stops paying 20 ms per transaction:
/// measured on the classic protocol at 16 connections, 250 -> 510-750 txns/s.
const SHORT_RETRY: Duration = Duration::from_millis(5);

/// Coordinator-bound request kinds (one in flight at a time, as in Java's `TransactionManager`). The
/// offsets of `send_offsets` go through the same slot, as in Java: EndTxn can then never
/// overtake them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CoordKind {
    FindCoordinator,
    InitProducerId,
    AddPartitions(Vec<TopicPartition>),
    /// FindCoordinator(key type group) for a consumer group.
    FindGroupCoordinator {
        group: String,
    },
    AddOffsets {
        group: String,
    },
    TxnOffsetCommit {
        group: String,
    },
    EndTxn {
        commit: bool,
    },
}

/// Protocol state and logic of one producer. See the module documentation.
#[derive(Debug)]
pub(crate) struct TxnMachine {
    config: Arc<ProducerConfig>,
    state: TxnState,
    identity: Option<ProducerIdentity>,
    versions: VersionBook,
    metadata: ClusterMetadata,
    accumulator: Accumulator,
    txn: TxnProgress,
    /// InitProducerId must carry the current id/epoch (epoch bump, KIP-360).
    init_bump: bool,
    /// Consumer group coordinators found so far, by group id.
    group_coordinators: HashMap<String, Broker>,
    /// The transaction coordinator, the request in flight to it, its retry and failures in a
    /// row.
    coord: CoordinatorSlot,
    /// Produce requests in flight, broker throttles and leader hints.
    produce: ProduceFlight,
    /// The caller's blocking operation, and the result of one whose caller timed out.
    operation: OperationSlot,
    flush_requested: bool,
    last_error: Option<TxnError>,
    closed: bool,
    /// `close` was called: finishing what is under way, then closed.
    close_requested: bool,
    next_token: u64,
    /// Requests and events for the driver, and the request numbering.
    out: Outbox,
    backoff: Backoff,
    /// Bytes of records not yet answered, against `buffer.memory`.
    buffer: BufferUse,
    /// The learned pause between an EndTxn answer and the next transaction's first add, and
    /// the wake-up of a first add that waits for it.
    settle: Settle,
    partitioner: Partitioner,
    /// Every pending deadline, rewritten at the end of each input and command.
    timers: TimerTable,
    metrics: Arc<Metrics>,
    txn_span: tracing::Span,
}

impl TxnMachine {
    /// A machine for `config`, in state `Uninitialized`.
    pub(crate) fn new(config: Arc<ProducerConfig>, metrics: Arc<Metrics>) -> Self {
        let backoff = Backoff::new(
            config.retry_backoff,
            config.retry_backoff_max,
            config.rng_seed,
        );
        Self {
            metadata: ClusterMetadata::new(config.metadata_max_age),
            accumulator: Accumulator::new(config.batch_size, config.linger, config.compression),
            state: TxnState::Uninitialized,
            identity: None,
            versions: VersionBook::default(),
            txn: TxnProgress::new(false),
            init_bump: false,
            group_coordinators: HashMap::new(),
            coord: CoordinatorSlot::default(),
            produce: ProduceFlight::default(),
            operation: OperationSlot::default(),
            flush_requested: false,
            last_error: None,
            closed: false,
            close_requested: false,
            next_token: 0,
            out: Outbox::default(),
            backoff,
            settle: Settle::default(),
            buffer: BufferUse::default(),
            partitioner: Partitioner::new(&config),
            timers: TimerTable::default(),
            metrics,
            txn_span: tracing::Span::none(),
            config,
        }
    }

    // ----- A. getters -----

    /// Current state.
    pub(crate) fn state(&self) -> TxnState {
        self.state
    }

    /// Producer id and epoch, once assigned.
    #[cfg(test)]
    pub(crate) fn identity(&self) -> Option<ProducerIdentity> {
        self.identity
    }

    /// Whether the current (or next) transaction uses the KIP-890 protocol.
    #[cfg(test)]
    pub(crate) fn uses_tv2(&self) -> bool {
        self.txn.tv2()
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// The last abortable or fatal error.
    #[cfg(test)]
    pub(crate) fn last_error(&self) -> Option<&TxnError> {
        self.last_error.as_ref()
    }

    /// Closed: gracefully after `close`, or by `force_close`. Nothing is sent any more.
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    #[cfg(test)]
    pub(crate) fn debug_leader(&self, tp: &TopicPartition) -> Option<i32> {
        self.metadata.leader(tp).map(|b| b.node_id)
    }

    #[cfg(test)]
    pub(crate) fn debug_summary(&self) -> String {
        let sent: Vec<_> = self
            .accumulator
            .partitions
            .iter()
            .map(|(tp, q)| {
                (
                    tp.to_string(),
                    q.sent
                        .iter()
                        .map(|b| (b.base_sequence, b.status))
                        .collect::<Vec<_>>(),
                    q.sealed.len(),
                    q.sequence.identity,
                )
            })
            .collect();
        format!(
            "identity {:?} transaction {:?} produce {:?} coord {:?} sent {:?}",
            self.identity,
            self.txn,
            self.produce,
            self.coord.in_flight(),
            sent
        )
    }

    fn is_transactional(&self) -> bool {
        self.config.transactional_id.is_some()
    }

    // ----- B. inputs -----

    /// The driver connected to `address` and learned its API versions and features.
    pub(crate) fn handle_broker_versions(
        &mut self,
        now: Instant,
        address: &str,
        versions: BrokerVersions,
    ) {
        self.versions.record(address, versions);
        // The protocol only changes at a transaction boundary (finish_transaction), where an
        // upgrade to TV2 first bumps the epoch.
        if self.state == TxnState::Uninitialized {
            self.txn = TxnProgress::new(self.tv2_available());
        }
        self.pump(now);
    }

    /// The answer to request `id`.
    pub(crate) fn handle_response(&mut self, now: Instant, id: RequestId, response: Response) {
        match response {
            Response::Metadata(resp) if self.metadata.is_refresh(id) => {
                let delay = self.backoff.delay(1);
                self.metadata.apply(now, &resp, delay);
                self.route_unrouted(now);
            }
            Response::Produce(resp) => {
                if let Some(request) = self.produce.take(id) {
                    self.on_produce_response(now, request, &resp);
                }
            }
            other => {
                if self.coord.is_in_flight(id) {
                    self.on_coordinator_response(now, other);
                }
            }
        }
        self.pump(now);
    }

    /// Request `id` failed on the transport.
    pub(crate) fn handle_transport_failure(
        &mut self,
        now: Instant,
        id: RequestId,
        failure: TransportFailure,
    ) {
        if self.metadata.is_refresh(id) {
            let backoff = &mut self.backoff;
            self.metadata
                .refresh_failed(now, |failures| backoff.delay(failures));
        } else if let Some(request) = self.produce.take(id) {
            self.metadata.request_refresh();
            for (tp, base) in request.batches {
                self.on_batch_failure(now, &tp, base, Failure::Transport(failure));
            }
        } else if self.coord.is_in_flight(id) {
            self.on_coordinator_failure(now, Failure::Transport(failure));
        }
        self.pump(now);
    }

    /// A connection to a broker failed in a way no retry fixes: it refused our credentials, or
    /// it speaks no version we can use. Nothing was sent on it, so nothing is in doubt; the
    /// producer cannot work with this cluster as configured and becomes fatal (Java: an
    /// AuthenticationException ends the producer's operation). Other connect failures are
    /// ordinary: the requests waiting for them fail as not sent and are retried.
    pub(crate) fn handle_unusable_broker(
        &mut self,
        now: Instant,
        failure: TransportFailure,
        detail: &str,
    ) {
        let reason = match failure {
            TransportFailure::AuthenticationFailed => format!(
                "the broker refused our credentials (check security.protocol, sasl.mechanism, \
                 sasl.username and sasl.password): {detail}"
            ),
            TransportFailure::Unsupported => format!("the broker cannot be used: {detail}"),
            TransportFailure::NotSent | TransportFailure::Lost => return,
        };
        self.enter_fatal(TxnError::BrokerUnusable { reason });
        self.pump(now);
    }

    /// Time passed; timers may have expired.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for timer in self.timers.expired(now) {
            tracing::trace!(parent: &self.txn_span, ?timer, "timer expired");
        }
        if let Some(timeout) = self.operation.expire(now) {
            self.out.event(timeout);
        }
        self.pump(now);
    }

    // ----- D. outputs -----

    /// Next request to send.
    #[must_use]
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_transmit()
    }

    /// Next application event.
    #[must_use]
    pub(crate) fn poll_event(&mut self) -> Option<TxnEvent> {
        let event = self.out.pop_event()?;
        if let TxnEvent::RecordsDone { tokens, .. } = &event {
            self.buffer.release(tokens);
        }
        Some(event)
    }

    /// When `handle_timeout` must be called next.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Every pending deadline with what it is for (the earliest is `poll_timeout`).
    #[cfg(test)]
    pub(crate) fn deadlines(&self) -> Vec<(Timer, Instant)> {
        self.timers.armed().collect()
    }

    /// Whether the timer table is what the state says it must be (see `timers.rs`).
    #[cfg(test)]
    pub(crate) fn timers_are_current(&self) -> bool {
        self.timers == self.derive_timers()
    }

    /// Writes the timer table again from the state; the end of every input and command.
    fn rearm_timers(&mut self) {
        self.timers = self.derive_timers();
    }

    /// Every deadline the state implies.
    fn derive_timers(&self) -> TimerTable {
        let mut timers = TimerTable::default();
        if self.closed || self.state == TxnState::FatalError {
            return timers;
        }
        timers.arm_earliest(Timer::Operation, self.operation.deadline());
        timers.arm_earliest(Timer::CoordinatorRetry, self.coord.retry_at());
        timers.arm_earliest(Timer::Settle, self.settle.wake_at());
        timers.arm_earliest(Timer::Metadata, self.metadata.next_refresh_at());
        if self.may_drain() {
            timers.arm_earliest(Timer::Linger, self.accumulator.next_linger_deadline());
        }
        let oldest = self.accumulator.oldest_unsent();
        timers.arm_earliest(
            Timer::DeliveryTimeout,
            oldest.map(|created| created + self.config.delivery_timeout),
        );
        let may_retry = self.may_retry();
        for (tp, queue) in &self.accumulator.partitions {
            let mut awaiting_retry = queue.sent.iter().filter_map(|b| match b.status {
                SentStatus::AwaitingRetry { not_before } => Some((not_before, b.created_at)),
                SentStatus::InFlight(_) => None,
            });
            let Some((first_not_before, first_created)) = awaiting_retry.next() else {
                continue;
            };
            let waiting_since = awaiting_retry
                .map(|(_, created)| created)
                .fold(first_created, Instant::min);
            timers.arm_earliest(
                Timer::RetryDeliveryTimeout,
                Some(waiting_since + self.config.delivery_timeout),
            );
            // Only the first batch awaiting a resend can go next, once nothing of its
            // partition is in flight (retries go alone and in order), its leader is known and
            // has room (otherwise a metadata deadline or an answer wakes us) and the state
            // lets data out.
            let leader_has_room = self.metadata.leader(tp).is_some_and(|leader| {
                self.produce.in_flight_to(leader.node_id) < self.config.max_in_flight
            });
            if may_retry && queue.in_flight() == 0 && leader_has_room {
                timers.arm_earliest(Timer::ProduceRetry, Some(first_not_before));
            }
        }
        timers
    }

    // ----- internals shared by the submodules -----

    fn next_id(&mut self) -> RequestId {
        self.out.next_id()
    }

    fn next_token(&mut self) -> RecordToken {
        self.next_token = self.next_token.wrapping_add(1);
        RecordToken(self.next_token)
    }

    fn emit_transmit(
        &mut self,
        id: RequestId,
        destination: crate::types::Destination,
        request: Request,
        version: i16,
    ) {
        self.out.send(Transmit {
            id,
            destination,
            request,
            version,
        });
    }

    fn context(&self) -> Context {
        Context {
            transactional: self.is_transactional(),
            can_bump_epoch: self.can_bump_epoch(),
            tv2: self.txn.tv2(),
            retries_exhausted: false,
            next_expected_batch: true,
        }
    }
}
