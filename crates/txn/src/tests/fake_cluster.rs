//! An in-memory Kafka cluster that answers the machine's typed requests: partition logs with
//! producer state (epoch and sequence checks, duplicates), a transaction coordinator (TV1
//! and TV2 EndTxn rules, timeouts, fencing), a group coordinator for transactional offsets
//! (`fake_group.rs`) and injectable faults.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafkatx_wire::BrokerVersions;
use kafkatx_wire::protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafkatx_wire::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafkatx_wire::protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use kafkatx_wire::protocol::messages::*;
use kafkatx_wire::protocol::protocol::{Encodable, StrBytes};
use kafkatx_wire::versions::OUR_VERSIONS;

use super::codes::*;
use crate::classify::TransportFailure;
use crate::types::{Destination, Request, Response, Transmit};

/// The finalized `transaction.version` a [`FakeCluster`] advertises in ApiVersions.
///
/// KIP-890 (`transaction.version` 2): EndTxn bumps the epoch, partitions are added by the
/// Produce itself (Produce v12+).
pub(super) const KIP_890: i16 = 2;
/// The classic protocol, with `transaction.version` 1 finalized.
pub(super) const CLASSIC: i16 = 1;
/// A broker without the `transaction.version` feature (older Kafka, Redpanda): the classic
/// protocol, no feature advertised.
pub(super) const NO_TV_FEATURE: i16 = 0;

/// A fault applied to the next request of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// Answer with this error code without applying the request.
    Error(i16),
    /// The connection breaks before the broker reads the request.
    Disconnect,
    /// The broker applies the request, the answer is lost.
    LoseReply,
}

/// What the broker sends back.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    /// A response.
    Response(Response),
    /// A transport failure.
    Failure(TransportFailure),
}

#[derive(Debug, Clone)]
pub(super) enum LogEntry {
    Data {
        producer_id: i64,
        transactional: bool,
        values: Vec<Bytes>,
    },
    Marker {
        producer_id: i64,
        commit: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub(super) struct ProducerEntry {
    pub(super) epoch: i16,
    pub(super) last_sequence: i32,
    /// (base sequence, last sequence, base offset) of the last 5 batches.
    pub(super) recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Clone)]
pub(super) struct FakePartition {
    pub(super) leader: i32,
    pub(super) entries: Vec<(i64, LogEntry)>,
    pub(super) producers: HashMap<i64, ProducerEntry>,
    pub(super) next_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxnStatus {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

#[derive(Debug, Clone)]
pub(super) struct FakeTxn {
    pub(super) producer_id: i64,
    pub(super) epoch: i16,
    pub(super) last_epoch: i16,
    pub(super) status: TxnStatus,
    pub(super) partitions: BTreeSet<(String, i32)>,
    pub(super) started_at: Option<Instant>,
    pub(super) timeout: Duration,
    /// Offsets written by TxnOffsetCommit, applied by a commit marker, dropped by an abort.
    pub(super) offsets: Vec<PendingOffset>,
}

/// A transactional offset waiting for its transaction to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingOffset {
    pub(super) group: String,
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) offset: i64,
}

/// The fake cluster.
#[derive(Debug)]
pub(super) struct FakeCluster {
    /// Finalized `transaction.version`.
    pub transaction_version: i16,
    /// Highest InitProducerId version advertised.
    pub init_producer_id_max: i16,
    pub(super) alive: BTreeMap<i32, bool>,
    pub(super) topics: BTreeMap<String, Vec<FakePartition>>,
    pub(super) coordinator: i32,
    pub(super) txns: HashMap<String, FakeTxn>,
    pub(super) next_producer_id: i64,
    pub(super) faults: HashMap<i16, VecDeque<Fault>>,
    /// Every request received: (node, request, version).
    pub received: Vec<(i32, Request, i16)>,
    /// Epoch given to brand-new transactional producers (to test exhaustion).
    pub initial_epoch: i16,
    /// Node coordinating every consumer group.
    pub(super) group_coordinator: i32,
    /// Committed offsets: (group, topic, partition) -> offset.
    pub(super) committed_offsets: BTreeMap<(String, String, i32), i64>,
    /// Current generation of groups with members; a commit from another generation is
    /// refused with ILLEGAL_GENERATION (KIP-447).
    pub(super) group_generations: HashMap<String, i32>,
    /// One-shot per-partition TxnOffsetCommit errors: (topic, partition, code).
    pub(super) offset_faults: Vec<(String, i32, i16)>,
    /// Highest version advertised per API key, where lower than ours (older brokers).
    pub(super) version_caps: HashMap<i16, i16>,
    /// How long the coordinator keeps completing a transaction (writing its markers) after
    /// it answered the EndTxn; zero completes it at once.
    pub completion_time: Duration,
    /// Transactions still being completed, by transactional id: until when.
    pub(super) completing_until: HashMap<String, Instant>,
    /// AddPartitionsToTxn requests refused with CONCURRENT_TRANSACTIONS because the previous
    /// transaction was still being completed.
    pub refused_adds: u32,
    /// KIP-890 Produce requests the leader held because the coordinator was still completing
    /// the previous transaction.
    pub held_produces: u32,
    /// Extra delay of the reply to the request just handled (a held Produce).
    pub(super) reply_hold: Duration,
    /// Topics this client may not write: metadata answers TOPIC_AUTHORIZATION_FAILED.
    pub denied_topics: BTreeSet<String>,
    /// `throttle_time_ms` of the next Produce answer (a quota was exceeded), then 0.
    pub next_produce_throttle_ms: i32,
    /// A Produce refused with NOT_LEADER_OR_FOLLOWER names the current leader (KIP-951, as
    /// Kafka does from Produce v10).
    pub leader_hints: bool,
}

/// The leader's wait between two attempts to add a partition for a held Produce (Kafka's
/// `add.partitions.to.txn.retry.backoff.ms` default).
pub(super) const LEADER_ADD_RETRY: Duration = Duration::from_millis(20);

pub(super) fn name(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

fn api_of(request: &Request) -> ApiKey {
    match request {
        Request::Metadata(_) => ApiKey::Metadata,
        Request::FindCoordinator(_) => ApiKey::FindCoordinator,
        Request::InitProducerId(_) => ApiKey::InitProducerId,
        Request::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        Request::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        Request::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        Request::EndTxn(_) => ApiKey::EndTxn,
        Request::Produce(_) => ApiKey::Produce,
    }
}

/// Encoding at the chosen version proves every field set is valid at that version.
fn assert_encodable(request: &Request, version: i16) {
    let mut buf = BytesMut::new();
    let result = match request {
        Request::Metadata(r) => r.encode(&mut buf, version),
        Request::FindCoordinator(r) => r.encode(&mut buf, version),
        Request::InitProducerId(r) => r.encode(&mut buf, version),
        Request::AddPartitionsToTxn(r) => r.encode(&mut buf, version),
        Request::AddOffsetsToTxn(r) => r.encode(&mut buf, version),
        Request::TxnOffsetCommit(r) => r.encode(&mut buf, version),
        Request::EndTxn(r) => r.encode(&mut buf, version),
        Request::Produce(r) => r.encode(&mut buf, version),
    };
    assert!(
        result.is_ok(),
        "request not encodable at v{version}: {request:?}: {result:?}"
    );
}

impl FakeCluster {
    /// `brokers` live brokers (ids 0..n), coordinator on broker 0, with `transaction_version`
    /// ([`KIP_890`], [`CLASSIC`] or [`NO_TV_FEATURE`]) finalized.
    pub(super) fn new(brokers: i32, transaction_version: i16) -> Self {
        Self {
            transaction_version,
            init_producer_id_max: 5,
            alive: (0..brokers).map(|id| (id, true)).collect(),
            topics: BTreeMap::new(),
            coordinator: 0,
            txns: HashMap::new(),
            next_producer_id: 1000,
            faults: HashMap::new(),
            received: Vec::new(),
            initial_epoch: 0,
            group_coordinator: 0,
            committed_offsets: BTreeMap::new(),
            group_generations: HashMap::new(),
            offset_faults: Vec::new(),
            version_caps: HashMap::new(),
            completion_time: Duration::ZERO,
            completing_until: HashMap::new(),
            refused_adds: 0,
            held_produces: 0,
            reply_hold: Duration::ZERO,
            denied_topics: BTreeSet::new(),
            next_produce_throttle_ms: 0,
            leader_hints: true,
        }
    }

    /// The hold of the reply to the request just handled, reset to zero.
    pub(super) fn take_reply_hold(&mut self) -> Duration {
        std::mem::take(&mut self.reply_hold)
    }

    /// When `transactional_id`'s previous transaction will be completed, if still later than
    /// `now`.
    fn completing(&self, transactional_id: &str, now: Instant) -> Option<Instant> {
        self.completing_until
            .get(transactional_id)
            .copied()
            .filter(|until| *until > now)
    }

    /// The coordinator refuses to add partitions while it completes the previous transaction
    /// (classic: CONCURRENT_TRANSACTIONS to the client; KIP-890: the leader holds the Produce
    /// and asks again every `LEADER_ADD_RETRY`).
    fn concurrent_transaction(
        &mut self,
        now: Instant,
        request: &Request,
        version: i16,
    ) -> Option<Reply> {
        match request {
            Request::AddPartitionsToTxn(r) => {
                self.completing(r.v3_and_below_transactional_id.0.as_str(), now)?;
                self.refused_adds += 1;
                Some(Reply::Response(
                    self.error_response(request, CONCURRENT_TRANSACTIONS),
                ))
            }
            Request::Produce(r) if version >= 12 => {
                let until = self.completing(r.transactional_id.as_ref()?.0.as_str(), now)?;
                self.held_produces += 1;
                let mut hold = LEADER_ADD_RETRY;
                while now + hold < until {
                    hold += LEADER_ADD_RETRY;
                }
                self.reply_hold = hold;
                None
            }
            _ => None,
        }
    }

    /// Broker address as reported in metadata.
    pub(super) fn address(node: i32) -> String {
        format!("broker-{node}:9092")
    }

    /// Node ids of all brokers.
    pub(super) fn nodes(&self) -> Vec<i32> {
        self.alive.keys().copied().collect()
    }

    /// What every broker reports in ApiVersions.
    pub(super) fn versions(&self) -> BrokerVersions {
        let apis: Vec<(ApiKey, i16, i16)> = OUR_VERSIONS
            .iter()
            .map(|&(key, min, max)| {
                if key == ApiKey::InitProducerId {
                    (key, min, self.init_producer_id_max)
                } else {
                    let cap = self.version_caps.get(&(key as i16)).copied();
                    (key, min, cap.map_or(max, |cap| cap.min(max)))
                }
            })
            .collect();
        let features: Vec<(&str, i16)> = if self.transaction_version > NO_TV_FEATURE {
            vec![("transaction.version", self.transaction_version)]
        } else {
            Vec::new()
        };
        BrokerVersions::from_parts(&apis, &features)
    }

    /// Advertise at most version `max` of `api`, as an older broker would.
    pub(super) fn cap_version(&mut self, api: ApiKey, max: i16) {
        self.version_caps.insert(api as i16, max);
    }

    /// Create a topic, leaders spread round-robin.
    pub(super) fn create_topic(&mut self, topic: &str, partitions: i32) {
        let brokers = i32::try_from(self.alive.len()).unwrap().max(1);
        let parts = (0..partitions)
            .map(|p| FakePartition {
                leader: p % brokers,
                entries: Vec::new(),
                producers: HashMap::new(),
                next_offset: 0,
            })
            .collect();
        self.topics.insert(topic.to_owned(), parts);
    }

    /// Queue a fault for the next request of `api`.
    pub(super) fn inject(&mut self, api: ApiKey, fault: Fault) {
        self.faults.entry(api as i16).or_default().push_back(fault);
    }

    /// Move a partition's leadership.
    pub(super) fn move_leader(&mut self, topic: &str, partition: i32, node: i32) {
        let p = self.partition_mut(topic, partition).unwrap();
        p.leader = node;
    }

    /// Move the transaction coordinator.
    pub(super) fn move_coordinator(&mut self, node: i32) {
        self.coordinator = node;
    }

    /// Move every leadership and the coordinator away from `dead` to `heir`.
    pub(super) fn fail_over(&mut self, dead: i32, heir: i32) {
        for partitions in self.topics.values_mut() {
            for partition in partitions.iter_mut().filter(|p| p.leader == dead) {
                partition.leader = heir;
            }
        }
        if self.coordinator == dead {
            self.coordinator = heir;
        }
    }

    /// Whether a broker is up.
    pub(super) fn is_alive(&self, node: i32) -> bool {
        self.alive.get(&node).copied().unwrap_or(false)
    }

    /// Stop or start a broker.
    pub(super) fn set_alive(&mut self, node: i32, alive: bool) {
        self.alive.insert(node, alive);
    }

    /// Let the coordinator time out `transactional_id`'s open transaction now.
    pub(super) fn expire_transaction(&mut self, transactional_id: &str) {
        if let Some(txn) = self.txns.get(transactional_id).cloned() {
            if txn.status == TxnStatus::Ongoing {
                self.complete_txn(transactional_id, false);
                self.bump(transactional_id);
            }
        }
    }

    pub(super) fn partition_mut(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Option<&mut FakePartition> {
        self.topics
            .get_mut(topic)?
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// Values a read_committed consumer sees, per partition, in offset order.
    pub(super) fn committed_values(&self, topic: &str) -> Vec<Vec<Bytes>> {
        let Some(parts) = self.topics.get(topic) else {
            return Vec::new();
        };
        parts
            .iter()
            .map(|p| {
                let mut out = Vec::new();
                for (index, (_, entry)) in p.entries.iter().enumerate() {
                    let LogEntry::Data {
                        producer_id,
                        transactional,
                        values,
                    } = entry
                    else {
                        continue;
                    };
                    let visible = !transactional
                        || p.entries.iter().skip(index + 1).find_map(|(_, e)| match e {
                            LogEntry::Marker {
                                producer_id: pid,
                                commit,
                            } if pid == producer_id => Some(*commit),
                            _ => None,
                        }) == Some(true);
                    if visible {
                        out.extend(values.iter().cloned());
                    }
                }
                out
            })
            .collect()
    }

    /// All data values in the log of a partition (committed, aborted or open).
    pub(super) fn all_values(&self, topic: &str, partition: i32) -> Vec<Bytes> {
        let Some(p) = self
            .topics
            .get(topic)
            .and_then(|t| t.get(usize::try_from(partition).unwrap()))
        else {
            return Vec::new();
        };
        p.entries
            .iter()
            .filter_map(|(_, e)| match e {
                LogEntry::Data { values, .. } => Some(values.clone()),
                LogEntry::Marker { .. } => None,
            })
            .flatten()
            .collect()
    }

    /// Requests of one API received so far.
    pub(super) fn received_of(&self, api: ApiKey) -> Vec<(i32, Request, i16)> {
        self.received
            .iter()
            .filter(|(_, r, _)| api_of(r) == api)
            .cloned()
            .collect()
    }

    /// Current coordinator-side producer id and epoch of a transactional id.
    pub(super) fn txn_identity(&self, transactional_id: &str) -> Option<(i64, i16)> {
        self.txns
            .get(transactional_id)
            .map(|t| (t.producer_id, t.epoch))
    }

    /// Handle one request at `now`.
    pub(super) fn handle(&mut self, now: Instant, transmit: &Transmit) -> Reply {
        assert_encodable(&transmit.request, transmit.version);
        let node = match &transmit.destination {
            Destination::AnyBroker => match self.alive.iter().find(|(_, alive)| **alive) {
                Some((node, _)) => *node,
                None => return Reply::Failure(TransportFailure::NotSent),
            },
            Destination::Broker { node_id, address } => {
                assert_eq!(
                    address,
                    &Self::address(*node_id),
                    "address of node {node_id}"
                );
                if !self.alive.get(node_id).copied().unwrap_or(false) {
                    return Reply::Failure(TransportFailure::NotSent);
                }
                *node_id
            }
        };
        self.received
            .push((node, transmit.request.clone(), transmit.version));
        self.expire_timed_out(now);
        let api = api_of(&transmit.request);
        let fault = self
            .faults
            .get_mut(&(api as i16))
            .and_then(VecDeque::pop_front);
        match fault {
            Some(Fault::Disconnect) => return Reply::Failure(TransportFailure::Lost),
            Some(Fault::Error(code)) => {
                return Reply::Response(self.error_response(&transmit.request, code));
            }
            _ => {}
        }
        if let Some(refusal) = self.concurrent_transaction(now, &transmit.request, transmit.version)
        {
            return refusal;
        }
        let response = self.apply(now, node, &transmit.request, transmit.version);
        if let (Request::EndTxn(r), Response::EndTxn(answer)) = (&transmit.request, &response) {
            if answer.error_code == 0 && !self.completion_time.is_zero() {
                let until = now + self.completion_time;
                self.completing_until
                    .insert(r.transactional_id.0.as_str().to_owned(), until);
            }
        }
        if fault == Some(Fault::LoseReply) {
            Reply::Failure(TransportFailure::Lost)
        } else {
            Reply::Response(response)
        }
    }

    fn expire_timed_out(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .txns
            .iter()
            .filter(|(_, t)| {
                t.status == TxnStatus::Ongoing && t.started_at.is_some_and(|s| now >= s + t.timeout)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.expire_transaction(&id);
        }
    }

    fn apply(&mut self, now: Instant, node: i32, request: &Request, version: i16) -> Response {
        match request {
            Request::Metadata(r) => Response::Metadata(self.metadata(r)),
            Request::FindCoordinator(r) => {
                let node = match r.key_type {
                    0 => self.group_coordinator,
                    1 => self.coordinator,
                    other => panic!("unexpected coordinator key type {other}"),
                };
                Response::FindCoordinator(
                    FindCoordinatorResponse::default()
                        .with_node_id(BrokerId(node))
                        .with_host(name(&format!("broker-{node}")))
                        .with_port(9092),
                )
            }
            Request::InitProducerId(r) => {
                Response::InitProducerId(self.init_producer_id(node, r, version))
            }
            Request::AddPartitionsToTxn(r) => {
                Response::AddPartitionsToTxn(self.add_partitions(now, node, r))
            }
            Request::AddOffsetsToTxn(r) => {
                Response::AddOffsetsToTxn(self.add_offsets(now, node, r))
            }
            Request::TxnOffsetCommit(r) => {
                Response::TxnOffsetCommit(self.txn_offset_commit(now, node, r, version))
            }
            Request::EndTxn(r) => Response::EndTxn(self.end_txn(node, r, version)),
            Request::Produce(r) => {
                let throttle = std::mem::take(&mut self.next_produce_throttle_ms);
                Response::Produce(
                    self.produce(now, node, r, version)
                        .with_throttle_time_ms(throttle),
                )
            }
        }
    }

    fn error_response(&self, request: &Request, code: i16) -> Response {
        match request {
            Request::Metadata(_) => Response::Metadata(MetadataResponse::default()),
            Request::FindCoordinator(_) => {
                Response::FindCoordinator(FindCoordinatorResponse::default().with_error_code(code))
            }
            Request::InitProducerId(_) => {
                Response::InitProducerId(InitProducerIdResponse::default().with_error_code(code))
            }
            Request::EndTxn(_) => Response::EndTxn(EndTxnResponse::default().with_error_code(code)),
            Request::AddOffsetsToTxn(_) => {
                Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(code))
            }
            Request::TxnOffsetCommit(r) => {
                Response::TxnOffsetCommit(Self::txn_offset_commit_answer(r, |_, _| code))
            }
            Request::AddPartitionsToTxn(r) => {
                let topics = r
                    .v3_and_below_topics
                    .iter()
                    .map(|t| {
                        let results = t
                            .partitions
                            .iter()
                            .map(|p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(*p)
                                    .with_partition_error_code(code)
                            })
                            .collect();
                        AddPartitionsToTxnTopicResult::default()
                            .with_name(t.name.clone())
                            .with_results_by_partition(results)
                    })
                    .collect();
                Response::AddPartitionsToTxn(
                    AddPartitionsToTxnResponse::default()
                        .with_results_by_topic_v3_and_below(topics),
                )
            }
            Request::Produce(r) => {
                let topics = r
                    .topic_data
                    .iter()
                    .map(|t| {
                        let parts = t
                            .partition_data
                            .iter()
                            .map(|p| {
                                PartitionProduceResponse::default()
                                    .with_index(p.index)
                                    .with_error_code(code)
                                    .with_base_offset(-1)
                            })
                            .collect();
                        TopicProduceResponse::default()
                            .with_name(t.name.clone())
                            .with_partition_responses(parts)
                    })
                    .collect();
                Response::Produce(ProduceResponse::default().with_responses(topics))
            }
        }
    }

    fn metadata(&self, request: &MetadataRequest) -> MetadataResponse {
        let brokers = self
            .alive
            .iter()
            .filter(|(_, alive)| **alive)
            .map(|(id, _)| {
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(*id))
                    .with_host(name(&format!("broker-{id}")))
                    .with_port(9092)
            })
            .collect();
        let wanted: Vec<String> = match &request.topics {
            Some(topics) => topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str().to_owned()))
                .collect(),
            None => self.topics.keys().cloned().collect(),
        };
        let topics = wanted
            .iter()
            .map(|topic| match self.topics.get(topic) {
                _ if self.denied_topics.contains(topic) => MetadataResponseTopic::default()
                    .with_name(Some(TopicName(name(topic))))
                    .with_error_code(TOPIC_AUTHORIZATION_FAILED),
                None => MetadataResponseTopic::default()
                    .with_name(Some(TopicName(name(topic))))
                    .with_error_code(UNKNOWN_TOPIC_OR_PARTITION),
                Some(parts) => {
                    let partitions = parts
                        .iter()
                        .enumerate()
                        .map(|(index, p)| {
                            let alive = self.alive.get(&p.leader).copied().unwrap_or(false);
                            MetadataResponsePartition::default()
                                .with_partition_index(i32::try_from(index).unwrap())
                                .with_leader_id(BrokerId(if alive { p.leader } else { -1 }))
                                .with_error_code(if alive { 0 } else { LEADER_NOT_AVAILABLE })
                        })
                        .collect();
                    MetadataResponseTopic::default()
                        .with_name(Some(TopicName(name(topic))))
                        .with_partitions(partitions)
                }
            })
            .collect();
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(topics)
    }
}
