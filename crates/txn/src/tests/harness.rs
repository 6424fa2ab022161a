//! Drives a [`TxnMachine`] against a [`FakeCluster`] in virtual time.
//!
//! Each transmit is applied by the cluster when sent; its reply is delivered after a latency
//! (random per request when a seed asks for chaos, but in order per broker, like one TCP
//! connection). A lost reply surfaces as a transport failure after `request.timeout.ms`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::fake_cluster::{FakeCluster, Reply};
use crate::backoff::SeededRng;
use crate::classify::TransportFailure;
use crate::config::{ProducerConfig, ProducerConfigBuilder};
use crate::consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::error::{Operation, TxnError};
use crate::machine::TxnMachine;
use crate::metrics::Metrics;
use crate::types::{
    Destination, ProducerRecord, RecordToken, Request, RequestId, TopicPartition, TxnEvent,
};

/// Transactional id used by the scenarios.
pub(super) const TXN_ID: &str = "txn-1";

#[derive(Debug)]
struct Delivery {
    at: Instant,
    seq: u64,
    id: RequestId,
    reply: Reply,
    produce: bool,
}

/// Virtual-time driver.
#[derive(Debug)]
pub(super) struct Harness {
    pub m: TxnMachine,
    pub cluster: FakeCluster,
    pub now: Instant,
    pub events: Vec<TxnEvent>,
    pub metrics: Arc<Metrics>,
    config: Arc<ProducerConfig>,
    pending: Vec<Delivery>,
    next_seq: u64,
    /// Last delivery time per broker, to keep replies of one connection in order.
    last_per_node: BTreeMap<String, Instant>,
    rng: Option<SeededRng>,
    /// Produce requests and all replies in order, for failure messages.
    pub trace: Vec<String>,
}

/// Default scenario configuration.
pub(super) fn txn_config() -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .transactional_id(TXN_ID)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(30))
        .max_block(Duration::from_secs(60))
        .rng_seed(0x6b61_666b_6174_7821)
}

impl Harness {
    /// A harness with one broker, one 3-partition topic "t", and `config`;
    /// `transaction_version` is [`KIP_890`](super::fake_cluster::KIP_890),
    /// [`CLASSIC`](super::fake_cluster::CLASSIC) or
    /// [`NO_TV_FEATURE`](super::fake_cluster::NO_TV_FEATURE).
    pub(super) fn single_broker(config: ProducerConfigBuilder, transaction_version: i16) -> Self {
        Self::brokers(1, config, transaction_version)
    }

    /// A harness with `count` brokers (ids 0..count, coordinator on broker 0), one
    /// 3-partition topic "t" led round-robin, and `config`.
    pub(super) fn brokers(
        count: i32,
        config: ProducerConfigBuilder,
        transaction_version: i16,
    ) -> Self {
        let mut cluster = FakeCluster::new(count, transaction_version);
        cluster.create_topic("t", 3);
        Self::with_cluster(config, cluster)
    }

    /// A harness over a prepared cluster.
    pub(super) fn with_cluster(config: ProducerConfigBuilder, cluster: FakeCluster) -> Self {
        let config = Arc::new(config.build().unwrap());
        let metrics = Arc::new(Metrics::default());
        let now = Instant::now();
        let mut m = TxnMachine::new(config.clone(), metrics.clone());
        for node in cluster.nodes() {
            m.handle_broker_versions(now, &FakeCluster::address(node), cluster.versions());
        }
        Self {
            m,
            cluster,
            now,
            events: Vec::new(),
            metrics,
            config,
            pending: Vec::new(),
            next_seq: 0,
            last_per_node: BTreeMap::new(),
            rng: None,
            trace: Vec::new(),
        }
    }

    /// Randomize reply latencies from `seed`.
    pub(super) fn with_chaos(mut self, seed: u64) -> Self {
        self.rng = Some(SeededRng::new(seed));
        self
    }

    /// A second machine with the same configuration on the same cluster (fencing tests).
    pub(super) fn new_machine(&self) -> TxnMachine {
        let mut m = TxnMachine::new(self.config.clone(), Arc::new(Metrics::default()));
        for node in self.cluster.nodes() {
            m.handle_broker_versions(
                self.now,
                &FakeCluster::address(node),
                self.cluster.versions(),
            );
        }
        m
    }

    fn latency(&mut self) -> Duration {
        match self.rng.as_mut() {
            Some(rng) => Duration::from_micros(200 + rng.below(20_000)),
            None => Duration::from_millis(1),
        }
    }

    fn flush_transmits(&mut self) {
        while let Some(transmit) = self.m.poll_transmit() {
            // Invariant: EndTxn waits until every Produce of the transaction is answered.
            if matches!(transmit.request, Request::EndTxn(_)) {
                assert!(
                    !self.pending.iter().any(|d| d.produce),
                    "EndTxn sent while a Produce is in flight"
                );
            }
            let produce = matches!(transmit.request, Request::Produce(_));
            if let Request::Produce(p) = &transmit.request {
                for data in p.topic_data.iter().flat_map(|t| t.partition_data.iter()) {
                    let batches =
                        kafkatx_wire::record::decode_batches(data.records.as_ref().unwrap())
                            .unwrap();
                    for b in batches {
                        let values: Vec<String> = b
                            .records
                            .iter()
                            .map(|r| {
                                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                                    .into_owned()
                            })
                            .collect();
                        self.trace.push(format!(
                            "-> {:?} p{} pid{} seq{} {values:?} to {:?}",
                            transmit.id,
                            data.index,
                            b.producer_id,
                            b.base_sequence,
                            transmit.destination
                        ));
                    }
                }
            }
            let reply = self.cluster.handle(self.now, &transmit);
            let hold = self.cluster.take_reply_hold();
            let node = match &transmit.destination {
                Destination::AnyBroker => "any".to_owned(),
                Destination::Broker { address, .. } => address.clone(),
            };
            let at = match &reply {
                Reply::Failure(TransportFailure::Lost) => self.now + self.config.request_timeout,
                Reply::Failure(_) => self.now,
                Reply::Response(_) => {
                    let latency = self.latency();
                    let earliest = self.last_per_node.get(&node).copied().unwrap_or(self.now);
                    (self.now + latency + hold).max(earliest)
                }
            };
            self.last_per_node.insert(node, at);
            self.next_seq += 1;
            self.pending.push(Delivery {
                at,
                seq: self.next_seq,
                id: transmit.id,
                reply,
                produce,
            });
        }
        while let Some(event) = self.m.poll_event() {
            self.events.push(event);
        }
        assert!(
            self.m.timers_are_current(),
            "the timer table is stale: {:?}",
            self.m.deadlines()
        );
    }

    /// One step of progress; false when nothing is scheduled within `horizon`.
    fn step(&mut self, horizon: Duration) -> bool {
        self.flush_transmits();
        let next_delivery = self.pending.iter().map(|d| (d.at, d.seq)).min();
        let next_timer = self.m.poll_timeout();
        let next = match (next_delivery.map(|d| d.0), next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(at) => at,
                None => return false,
            },
        };
        if next > self.now + horizon {
            return false;
        }
        self.now = self.now.max(next);
        if let Some((at, seq)) = next_delivery.filter(|(at, _)| *at <= self.now) {
            let index = self
                .pending
                .iter()
                .position(|d| d.at == at && d.seq == seq)
                .unwrap();
            let delivery = self.pending.remove(index);
            let summary = match &delivery.reply {
                Reply::Response(crate::types::Response::Produce(p)) => format!(
                    "{:?}",
                    p.responses
                        .iter()
                        .flat_map(|t| t.partition_responses.iter().map(|r| (
                            r.index,
                            r.error_code,
                            r.base_offset
                        )))
                        .collect::<Vec<_>>()
                ),
                Reply::Response(_) => "other".to_owned(),
                Reply::Failure(f) => format!("{f:?}"),
            };
            self.trace.push(format!("<- {:?} {summary}", delivery.id));
            match delivery.reply {
                Reply::Response(response) => {
                    self.m.handle_response(self.now, delivery.id, response)
                }
                Reply::Failure(failure) => {
                    self.m
                        .handle_transport_failure(self.now, delivery.id, failure)
                }
            }
        } else {
            self.m.handle_timeout(self.now);
        }
        self.flush_transmits();
        true
    }

    /// Run until nothing is scheduled within `request.timeout.ms` + 5 s (so lost answers
    /// surface) of virtual time.
    pub(super) fn settle(&mut self) {
        self.run_idle(self.config.request_timeout + Duration::from_secs(5));
    }

    /// Run until nothing is scheduled within `horizon`.
    pub(super) fn run_idle(&mut self, horizon: Duration) {
        for _ in 0..200_000 {
            if !self.step(horizon) {
                return;
            }
        }
        panic!(
            "scenario did not settle: state {:?}, now {:?}, timeout {:?}, pending {:?}, leader {:?}, {}",
            self.m.state(),
            self.now,
            self.m.deadlines(),
            self.pending,
            self.m
                .debug_leader(&crate::types::TopicPartition::new("t", 0)),
            self.m.debug_summary(),
        );
    }

    /// Advance virtual time by `by`, processing everything due on the way.
    pub(super) fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        for _ in 0..200_000 {
            self.flush_transmits();
            let next = self
                .pending
                .iter()
                .map(|d| d.at)
                .chain(self.m.poll_timeout())
                .min();
            match next {
                Some(at) if at <= until => {
                    self.step(until - self.now);
                }
                _ => {
                    self.now = until;
                    self.m.handle_timeout(self.now);
                    self.flush_transmits();
                    return;
                }
            }
        }
        panic!(
            "advance did not finish: now {:?} deadlines {:?} state {:?}",
            self.now,
            self.m.deadlines(),
            self.m.state()
        );
    }

    /// The result of the last completion of `op`.
    pub(super) fn op_result(&self, op: Operation) -> Option<Result<(), TxnError>> {
        self.events.iter().rev().find_map(|e| match e {
            TxnEvent::OperationDone { op: done, result } if *done == op => Some(result.clone()),
            _ => None,
        })
    }

    /// Run commit or abort to completion, calling it again after each `max.block.ms`
    /// timeout (the resumable-operation contract).
    pub(super) fn run_op_resuming(&mut self, op: Operation) -> Result<(), TxnError> {
        for _ in 0..10 {
            self.clear_events();
            let started = match op {
                Operation::Commit => self.m.commit(self.now),
                Operation::Abort => self.m.abort(self.now),
                other => panic!("{other} is not resumable here"),
            };
            started?;
            self.settle();
            match self.op_result(op) {
                Some(Err(TxnError::Timeout { .. })) => continue,
                Some(result) => return result,
                None => panic!("{op} never finished: {:?}", self.events),
            }
        }
        panic!("{op} kept timing out");
    }

    /// Forget collected events.
    pub(super) fn clear_events(&mut self) {
        self.events.clear();
    }

    /// init + settle, asserting success.
    pub(super) fn init_ok(&mut self) {
        self.m.init(self.now).unwrap();
        self.settle();
        assert_eq!(
            self.op_result(Operation::Init),
            Some(Ok(())),
            "init: {:?}",
            self.events
        );
    }

    /// Send a value to topic "t" partition `partition`.
    pub(super) fn send(&mut self, partition: i32, value: &str) -> RecordToken {
        self.try_send(partition, value).unwrap()
    }

    /// Send, returning the machine's refusal (e.g. the transaction already failed).
    pub(super) fn try_send(
        &mut self,
        partition: i32,
        value: &str,
    ) -> Result<RecordToken, TxnError> {
        let record =
            ProducerRecord::new("t", Bytes::from(value.to_owned())).with_partition(partition);
        let token = self.m.send(self.now, record);
        self.flush_transmits();
        token
    }

    /// Call `send_offsets` for `group` with `(topic, partition, offset)` triples, sending what
    /// it emits; returns the machine's immediate answer.
    pub(super) fn send_offsets_as(
        &mut self,
        group: ConsumerGroupMetadata,
        offsets: &[(&str, i32, i64)],
    ) -> Result<(), TxnError> {
        let offsets = offsets
            .iter()
            .map(|(topic, partition, offset)| {
                (
                    TopicPartition::new(*topic, *partition),
                    OffsetAndMetadata::new(*offset),
                )
            })
            .collect();
        let result = self.m.send_offsets(self.now, offsets, group);
        self.flush_transmits();
        result
    }

    /// `send_offsets_as` for a group without members (manual assignment).
    pub(super) fn send_offsets(
        &mut self,
        group: &str,
        offsets: &[(&str, i32, i64)],
    ) -> Result<(), TxnError> {
        self.send_offsets_as(ConsumerGroupMetadata::new(group), offsets)
    }

    /// begin + send values + commit + settle; returns the commit result.
    pub(super) fn transaction(
        &mut self,
        values: &[(i32, &str)],
        commit: bool,
    ) -> Option<Result<(), TxnError>> {
        self.clear_events();
        self.m.begin(self.now).unwrap();
        for (partition, value) in values {
            self.send(*partition, value);
        }
        if commit {
            self.m.commit(self.now).unwrap();
        } else {
            self.m.abort(self.now).unwrap();
        }
        self.settle();
        self.op_result(if commit {
            Operation::Commit
        } else {
            Operation::Abort
        })
    }

    /// Committed values of topic "t" (all partitions, each in order).
    pub(super) fn committed(&self) -> Vec<Vec<String>> {
        self.cluster
            .committed_values("t")
            .into_iter()
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| String::from_utf8(v.to_vec()).unwrap())
                    .collect()
            })
            .collect()
    }

    /// Record outcomes seen: (acked tokens, failed tokens).
    pub(super) fn record_outcomes(&self) -> (Vec<RecordToken>, Vec<RecordToken>) {
        let mut acked = Vec::new();
        let mut failed = Vec::new();
        for event in &self.events {
            if let TxnEvent::RecordsDone { tokens, result } = event {
                if result.is_ok() {
                    acked.extend(tokens)
                } else {
                    failed.extend(tokens)
                }
            }
        }
        (acked, failed)
    }
}
