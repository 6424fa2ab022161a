//! The thin tokio driver: owns the connections, feeds the machine, completes waiters.
//!
//! It contains no Kafka logic: requests go where the machine says, answers and failures go
//! back to it, its timer is slept on, its events resolve the handle's futures.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::classify::TransportFailure;
use crate::consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::error::{Operation, TxnError, UsageError};
use crate::machine::TxnMachine;
use crate::state::StateCell;
use crate::transport::{BrokerLink, LinkError, Transport};
use crate::types::{
    Destination, ProducerRecord, RecordMetadata, RecordToken, RequestId, Response, TopicPartition,
    Transmit, TxnEvent,
};

/// Reply channel of a blocking operation.
pub(crate) type OpReply = oneshot::Sender<Result<(), TxnError>>;
/// Reply channel of one record's delivery.
pub(crate) type DeliveryReply = oneshot::Sender<Result<RecordMetadata, TxnError>>;
/// Reply channel of `end_transaction`: the operation that ran (commit or abort) and its result.
pub(crate) type EndReply = oneshot::Sender<(Operation, Result<(), TxnError>)>;

/// Someone waiting for a blocking operation to finish.
#[derive(Debug)]
enum Waiter {
    Op(OpReply),
    End(EndReply),
}

impl Waiter {
    /// A caller that stopped waiting does not need the answer: a failed send is ignored.
    fn answer(self, op: Operation, result: Result<(), TxnError>) {
        match self {
            Self::Op(reply) => {
                let _ = reply.send(result);
            }
            Self::End(reply) => {
                let _ = reply.send((op, result));
            }
        }
    }
}

/// What the handle asks the driver.
#[derive(Debug)]
pub(crate) enum Command {
    Op(Operation, OpReply),
    Send {
        record: ProducerRecord,
        queued: OpReply,
        delivered: DeliveryReply,
    },
    SendOffsets {
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        group: ConsumerGroupMetadata,
        reply: OpReply,
    },
    /// Close gracefully within `timeout`, then by force.
    Close {
        timeout: Duration,
        reply: OpReply,
    },
    /// Commit or abort, resuming a commit or abort already under way (`end_transaction`).
    End {
        commit: bool,
        reply: EndReply,
    },
}

/// A `send` waiting for room in `buffer.memory`, with the end of its `max.block.ms`.
#[derive(Debug)]
struct BlockedSend {
    record: ProducerRecord,
    queued: OpReply,
    delivered: DeliveryReply,
    deadline: Instant,
}

/// What I/O tasks report back.
#[derive(Debug)]
enum IoEvent {
    Connected {
        address: String,
        result: Result<Arc<dyn BrokerLink>, LinkError>,
    },
    Answered {
        id: RequestId,
        result: Result<Response, LinkError>,
    },
}

#[derive(Debug)]
enum Link {
    Connecting(Vec<Transmit>),
    Ready(Arc<dyn BrokerLink>),
}

/// The driver task state.
#[derive(Debug)]
pub(crate) struct Driver {
    machine: TxnMachine,
    transport: Arc<dyn Transport>,
    bootstrap: Vec<String>,
    next_bootstrap: usize,
    bootstrap_retry_at: Option<Instant>,
    links: HashMap<String, Link>,
    /// Requests for "any broker" waiting for the first connection.
    any_waiting: VecDeque<Transmit>,
    io_tx: mpsc::UnboundedSender<IoEvent>,
    io_rx: mpsc::UnboundedReceiver<IoEvent>,
    op_waiters: HashMap<Operation, Vec<Waiter>>,
    record_waiters: HashMap<RecordToken, DeliveryReply>,
    /// Sends waiting for buffer room, in call order (a later send never overtakes them).
    blocked_sends: VecDeque<BlockedSend>,
    retry_backoff: Duration,
    /// The machine is closed: stop once every waiter got its answer.
    closing: bool,
    /// When a graceful close that has not finished becomes a forced one.
    close_deadline: Option<Instant>,
    /// Every handle was dropped: no more commands will come.
    handles_gone: bool,
    /// Where the handles read the machine's state; published before every answer.
    state: Arc<StateCell>,
}

fn now_std() -> std::time::Instant {
    Instant::now().into_std()
}

fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Driver {
    pub(crate) fn new(
        machine: TxnMachine,
        transport: Arc<dyn Transport>,
        state: Arc<StateCell>,
    ) -> Self {
        let (io_tx, io_rx) = mpsc::unbounded_channel();
        let bootstrap = machine.config().bootstrap_servers.clone();
        let retry_backoff = machine.config().retry_backoff;
        Self {
            machine,
            transport,
            bootstrap,
            next_bootstrap: 0,
            bootstrap_retry_at: None,
            links: HashMap::new(),
            any_waiting: VecDeque::new(),
            io_tx,
            io_rx,
            op_waiters: HashMap::new(),
            record_waiters: HashMap::new(),
            blocked_sends: VecDeque::new(),
            retry_backoff,
            closing: false,
            close_deadline: None,
            handles_gone: false,
            state,
        }
    }

    /// Makes the machine's state visible to the handles. Called before any answer is sent,
    /// so a caller that got an answer reads a state at least as new as that answer.
    fn publish_state(&self) {
        self.state.set(self.machine.state());
    }

    /// Run until the handle is dropped or `close` completes.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            self.ensure_bootstrap();
            self.flush_machine();
            self.retry_blocked_sends();
            if self.machine_closed() {
                break;
            }
            let machine_deadline = self.machine.poll_timeout().map(Instant::from_std);
            let blocked_deadline = self.blocked_sends.front().map(|b| b.deadline);
            let deadline = [
                machine_deadline,
                self.bootstrap_retry_at,
                blocked_deadline,
                self.close_deadline,
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    // Not tokio's sleep: the settle pause is shorter than its 1 ms tick.
                    Some(at) => crate::fine_timer::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                command = commands.recv(), if !self.handles_gone => match command {
                    Some(command) => self.apply(command),
                    // Nobody can learn results any more, but an open transaction is still
                    // aborted rather than left for the coordinator's timeout.
                    None => {
                        self.handles_gone = true;
                        self.start_close(self.machine.config().max_block);
                    }
                },
                Some(event) = self.io_rx.recv() => self.on_io(event),
                () = sleep => {
                    if self.bootstrap_retry_at.is_some_and(|at| Instant::now() >= at) {
                        self.bootstrap_retry_at = None;
                    }
                    self.machine.handle_timeout(now_std());
                    if self.close_deadline.is_some_and(|at| Instant::now() >= at) {
                        self.force_close();
                    }
                }
            }
        }
    }

    fn machine_closed(&self) -> bool {
        self.closing && self.record_waiters.is_empty()
    }

    fn start_close(&mut self, timeout: Duration) {
        self.fail_blocked_sends(&TxnError::Closed);
        let deadline = Instant::now() + timeout;
        self.close_deadline = Some(self.close_deadline.map_or(deadline, |d| d.min(deadline)));
        self.machine.close(now_std());
    }

    /// The graceful close took too long: what is still in flight is reported as unknown.
    fn force_close(&mut self) {
        self.close_deadline = None;
        self.machine.force_close(now_std());
        self.flush_machine();
        for waiter in self
            .op_waiters
            .remove(&Operation::Close)
            .unwrap_or_default()
        {
            waiter.answer(
                Operation::Close,
                Err(TxnError::Timeout {
                    op: Operation::Close,
                }),
            );
        }
        self.closing = true;
    }

    fn apply(&mut self, command: Command) {
        let now = now_std();
        match command {
            Command::Send {
                mut record,
                queued,
                delivered,
            } => {
                if record.timestamp_ms == 0 {
                    record.timestamp_ms = wall_clock_ms();
                }
                let blocked = BlockedSend {
                    record,
                    queued,
                    delivered,
                    deadline: Instant::now() + self.machine.config().max_block,
                };
                if self.blocked_sends.is_empty() {
                    if let Some(still_blocked) = self.try_send(blocked) {
                        self.blocked_sends.push_back(still_blocked);
                    }
                } else {
                    self.blocked_sends.push_back(blocked);
                }
            }
            Command::SendOffsets {
                offsets,
                group,
                reply,
            } => {
                let started = self.machine.send_offsets(now, offsets, group);
                self.wait_for(Operation::SendOffsets, started, Waiter::Op(reply));
            }
            Command::Op(Operation::Begin, reply) => {
                let begun = self.machine.begin(now);
                self.publish_state();
                let _ = reply.send(begun);
            }
            Command::Close { timeout, reply } => {
                self.op_waiters
                    .entry(Operation::Close)
                    .or_default()
                    .push(Waiter::Op(reply));
                self.start_close(timeout);
            }
            Command::End { commit, reply } => {
                let (op, started) = self.machine.end_transaction(now, commit);
                self.wait_for(op, started, Waiter::End(reply));
            }
            Command::Op(op, reply) => {
                let started = match op {
                    Operation::Init => self.machine.init(now),
                    Operation::Commit => self.machine.commit(now),
                    Operation::Abort => self.machine.abort(now),
                    Operation::Flush => self.machine.flush(now),
                    // Not blocking operations of their own: they have their own commands.
                    Operation::Begin
                    | Operation::Close
                    | Operation::Send
                    | Operation::SendOffsets => Err(TxnError::Usage(UsageError {
                        op,
                        state: self.machine.state(),
                        detail: Some("not a blocking operation"),
                    })),
                };
                self.wait_for(op, started, Waiter::Op(reply));
            }
        }
    }

    /// Hands the record to the machine; gives it back while `buffer.memory` has no room.
    fn try_send(&mut self, blocked: BlockedSend) -> Option<BlockedSend> {
        let sent = self.machine.send(now_std(), blocked.record.clone());
        self.publish_state();
        match sent {
            Ok(token) => {
                self.record_waiters.insert(token, blocked.delivered);
                let _ = blocked.queued.send(Ok(()));
                None
            }
            Err(TxnError::BufferExhausted { .. }) => Some(blocked),
            Err(error) => {
                let _ = blocked.queued.send(Err(error));
                None
            }
        }
    }

    /// Sends waiting for buffer room go in call order once there is room; one that waited
    /// `max.block.ms` fails (Java's `send` throws after waiting that long for memory).
    fn retry_blocked_sends(&mut self) {
        loop {
            let mut progress = false;
            while let Some(blocked) = self.blocked_sends.pop_front() {
                progress = true;
                if Instant::now() >= blocked.deadline {
                    let buffer_memory = self.machine.config().buffer_memory;
                    let _ = blocked
                        .queued
                        .send(Err(TxnError::BufferExhausted { buffer_memory }));
                    continue;
                }
                if let Some(still_blocked) = self.try_send(blocked) {
                    self.blocked_sends.push_front(still_blocked);
                    progress = false;
                    break;
                }
            }
            // Send what the machine emitted for them; events it emits may free more room.
            self.flush_machine();
            if !progress || self.blocked_sends.is_empty() {
                return;
            }
        }
    }

    fn fail_blocked_sends(&mut self, error: &TxnError) {
        for blocked in self.blocked_sends.drain(..) {
            let _ = blocked.queued.send(Err(error.clone()));
        }
    }

    /// Answer at once if `op` did not start, else when the machine reports it done.
    fn wait_for(&mut self, op: Operation, started: Result<(), TxnError>, waiter: Waiter) {
        match started {
            Ok(()) => self.op_waiters.entry(op).or_default().push(waiter),
            Err(error) => {
                self.publish_state();
                waiter.answer(op, Err(error));
            }
        }
    }

    fn flush_machine(&mut self) {
        self.publish_state();
        while let Some(transmit) = self.machine.poll_transmit() {
            self.dispatch(transmit);
        }
        while let Some(event) = self.machine.poll_event() {
            self.deliver(event);
        }
    }

    fn deliver(&mut self, event: TxnEvent) {
        match event {
            TxnEvent::OperationDone { op, result } => {
                if op == Operation::Close {
                    self.closing = true;
                    self.close_deadline = None;
                }
                for waiter in self.op_waiters.remove(&op).unwrap_or_default() {
                    waiter.answer(op, result.clone());
                }
            }
            TxnEvent::RecordsDone { tokens, result } => {
                for (index, token) in tokens.into_iter().enumerate() {
                    let Some(waiter) = self.record_waiters.remove(&token) else {
                        continue;
                    };
                    let outcome = match &result {
                        Ok(meta) => Ok(RecordMetadata {
                            partition: meta.partition.clone(),
                            offset: if meta.offset < 0 {
                                -1
                            } else {
                                meta.offset
                                    .saturating_add(i64::try_from(index).unwrap_or(0))
                            },
                        }),
                        Err(error) => Err(error.clone()),
                    };
                    let _ = waiter.send(outcome);
                }
            }
        }
    }

    fn ready_link(&self) -> Option<(String, Arc<dyn BrokerLink>)> {
        self.links.iter().find_map(|(address, link)| match link {
            Link::Ready(link) if !link.is_closed() => Some((address.clone(), Arc::clone(link))),
            _ => None,
        })
    }

    /// Keep one connection open so the machine learns API versions and has an "any broker".
    fn ensure_bootstrap(&mut self) {
        let connecting = self
            .links
            .values()
            .any(|l| matches!(l, Link::Connecting(_)));
        if self.ready_link().is_some() || connecting || self.bootstrap_retry_at.is_some() {
            return;
        }
        let Some(address) = self
            .bootstrap
            .get(self.next_bootstrap % self.bootstrap.len().max(1))
            .cloned()
        else {
            return;
        };
        self.next_bootstrap = self.next_bootstrap.wrapping_add(1);
        self.connect(address);
    }

    fn connect(&mut self, address: String) {
        self.links
            .insert(address.clone(), Link::Connecting(Vec::new()));
        let io_tx = self.io_tx.clone();
        let connecting = self.transport.connect(&address);
        tokio::spawn(async move {
            let result = connecting.await;
            let _ = io_tx.send(IoEvent::Connected { address, result });
        });
    }

    fn dispatch(&mut self, transmit: Transmit) {
        let address = match &transmit.destination {
            Destination::Broker { address, .. } => address.clone(),
            Destination::AnyBroker => match self.ready_link() {
                Some((address, _)) => address,
                None => {
                    self.any_waiting.push_back(transmit);
                    return;
                }
            },
        };
        match self.links.get_mut(&address) {
            Some(Link::Ready(link)) if !link.is_closed() => {
                let link = Arc::clone(link);
                self.send_on(link, transmit);
            }
            Some(Link::Connecting(waiting)) => waiting.push(transmit),
            _ => {
                self.connect(address.clone());
                if let Some(Link::Connecting(waiting)) = self.links.get_mut(&address) {
                    waiting.push(transmit);
                }
            }
        }
    }

    fn send_on(&self, link: Arc<dyn BrokerLink>, transmit: Transmit) {
        let io_tx = self.io_tx.clone();
        let id = transmit.id;
        tracing::trace!(?id, request = transmit.request.name(), "request sent");
        let answer = link.send(transmit.request, transmit.version);
        tokio::spawn(async move {
            let result = answer.await;
            let _ = io_tx.send(IoEvent::Answered { id, result });
        });
    }

    fn on_io(&mut self, event: IoEvent) {
        let now = now_std();
        match event {
            IoEvent::Answered {
                id,
                result: Ok(response),
            } => {
                tracing::trace!(?id, "answer received");
                self.machine.handle_response(now, id, response)
            }
            IoEvent::Answered {
                id,
                result: Err(error),
            } => {
                tracing::debug!(?id, %error, "request failed on the transport");
                self.machine
                    .handle_transport_failure(now, id, error.failure);
            }
            IoEvent::Connected {
                address,
                result: Ok(link),
            } => {
                let waiting = match self
                    .links
                    .insert(address.clone(), Link::Ready(Arc::clone(&link)))
                {
                    Some(Link::Connecting(waiting)) => waiting,
                    _ => Vec::new(),
                };
                self.machine
                    .handle_broker_versions(now, &address, link.versions());
                for transmit in waiting
                    .into_iter()
                    .chain(self.any_waiting.drain(..).collect::<Vec<_>>())
                {
                    self.send_on(Arc::clone(&link), transmit);
                }
            }
            IoEvent::Connected {
                address,
                result: Err(error),
            } => {
                let waiting = match self.links.remove(&address) {
                    Some(Link::Connecting(waiting)) => waiting,
                    _ => Vec::new(),
                };
                if self.ready_link().is_none() {
                    self.bootstrap_retry_at = Some(Instant::now() + self.retry_backoff);
                }
                match error.failure {
                    // Refused credentials or a broker we cannot speak to do not get better by
                    // retrying: the machine fails everything it has, waiting requests included.
                    TransportFailure::AuthenticationFailed | TransportFailure::Unsupported => {
                        tracing::error!(%address, %error, "cannot use this broker");
                        self.any_waiting.clear();
                        self.machine
                            .handle_unusable_broker(now, error.failure, &error.message);
                    }
                    // A connect failure never sent anything, whatever the error says.
                    TransportFailure::NotSent | TransportFailure::Lost => {
                        tracing::debug!(%address, %error, "connection failed");
                        for transmit in waiting {
                            self.machine.handle_transport_failure(
                                now,
                                transmit.id,
                                TransportFailure::NotSent,
                            );
                        }
                    }
                }
            }
        }
    }
}
