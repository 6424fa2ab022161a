//! Draining batches into Produce requests.
//!
//! Ordering rules (Java's `RecordAccumulator.drain` and `Sender`, KIP-98): sequences are assigned at drain; at most
//! `max.in.flight` requests per partition, and only one until the leader acknowledged a batch
//! of the current identity; a batch that must be retried is resent alone, after everything
//! in flight for its partition came back, so the broker sees sequences in order.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Instant;

use bytes::Bytes;
use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkatx_wire::protocol::messages::{ApiKey, ProduceRequest, TopicName, TransactionalId};
use kafkatx_wire::protocol::protocol::StrBytes;

use super::TxnMachine;
use super::accumulator::SentStatus;
use super::produce_flight::ProduceInFlight;
use crate::error::TxnError;
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{Destination, RequestId, TopicPartition};

/// One request being assembled for a leader.
struct Outgoing {
    id: RequestId,
    address: String,
    batches: Vec<(TopicPartition, i32, Bytes)>,
}

impl TxnMachine {
    /// New data may be drained in this state.
    pub(super) fn may_drain(&self) -> bool {
        if self.identity.is_none() {
            return false;
        }
        if self.is_transactional() {
            matches!(self.state, TxnState::InTransaction | TxnState::Committing)
        } else {
            self.state == TxnState::Ready
        }
    }

    /// Batches that already carry sequences may be resent in this state. A failed or
    /// aborting transaction keeps resending them until they are answered (Java's
    /// `RecordAccumulator` only aborts batches never drained): dropped, their sequences
    /// would be a gap the broker refuses to step over on the classic protocol, and a copy
    /// still on its way could land after the abort and be committed with the next
    /// transaction.
    pub(super) fn may_retry(&self) -> bool {
        if self.identity.is_none() {
            return false;
        }
        if self.is_transactional() {
            matches!(
                self.state,
                TxnState::InTransaction
                    | TxnState::Committing
                    | TxnState::AbortableError
                    | TxnState::Aborting
            )
        } else {
            !matches!(self.state, TxnState::FatalError)
        }
    }

    pub(super) fn drain(&mut self, now: Instant) {
        if !self.may_drain() {
            // Only resends of batches that already carry sequences.
            if self.may_retry() {
                for _ in 0..self.config.max_in_flight {
                    if !self.drain_round(now, false) {
                        break;
                    }
                }
            }
            return;
        }
        let flush = self.flush_requested || self.state == TxnState::Committing;
        self.accumulator.seal_ready(now, flush);
        // KIP-890: the first Produce makes the leader add the partitions; it waits for the
        // settle pause after the previous transaction (`settle.rs`). Drafts are sealed
        // first, so an expired linger does not stay due while it waits.
        if self.is_transactional()
            && self.txn.tv2()
            && self.txn.first_add_pending()
            && !self.settle.may_send_first(now)
        {
            return;
        }
        // Each round adds at most one batch per partition; rounds repeat to fill the pipeline.
        for _ in 0..self.config.max_in_flight {
            if !self.drain_round(now, true) {
                break;
            }
        }
    }

    /// One batch per partition at most; `new_batches` false sends only resends.
    fn drain_round(&mut self, now: Instant, new_batches: bool) -> bool {
        let Some(identity) = self.identity else {
            return false;
        };
        let transactional = self.is_transactional();
        let max_in_flight = self.config.max_in_flight;
        let mut outgoing: BTreeMap<i32, Outgoing> = BTreeMap::new();
        let partitions: Vec<TopicPartition> = self.accumulator.partitions.keys().cloned().collect();
        let mut need_metadata = false;
        for tp in partitions {
            let Some(leader) = self.metadata.leader(&tp).cloned() else {
                need_metadata |= self
                    .accumulator
                    .partitions
                    .get(&tp)
                    .is_some_and(|q| !q.is_idle());
                continue;
            };
            if transactional && !self.txn.may_produce_to(&tp) {
                continue;
            }
            if !outgoing.contains_key(&leader.node_id)
                && self.produce.in_flight_to(leader.node_id) >= max_in_flight
            {
                continue;
            }
            if self.produce.is_throttled(leader.node_id) {
                continue;
            }
            // A request stays within max.request.size (Java's drain stops there too); the
            // partition's batch goes in the next request.
            let request_bytes = outgoing.get(&leader.node_id).map_or(0, |o| {
                o.batches.iter().map(|(_, _, b)| b.len()).sum::<usize>()
            });
            let next_bytes = self
                .accumulator
                .partitions
                .get(&tp)
                .and_then(|q| q.next_batch_len())
                .unwrap_or(0);
            if request_bytes > 0 && request_bytes + next_bytes > self.config.max_request_size {
                continue;
            }
            let Some(queue) = self.accumulator.partitions.get_mut(&tp) else {
                continue;
            };
            if queue.last_leader != Some(leader.node_id) {
                queue.pipeline_ok = false;
            }
            let in_flight = queue.in_flight();
            if queue.needs_restamp
                && in_flight == 0
                && queue.sent.iter().any(|b| b.identity != identity)
            {
                match queue.restamp(identity, transactional) {
                    Ok(uncertain) => {
                        for tokens in uncertain {
                            let reason =
                                format!("outcome unknown when the producer state of {tp} was lost");
                            self.fail_tokens(
                                tokens,
                                TxnError::Delivery {
                                    code: ResponseError::UnknownProducerId.code(),
                                    reason,
                                },
                            );
                        }
                        continue;
                    }
                    Err(reason) => {
                        let error = TxnError::Internal {
                            reason: format!("cannot re-stamp batches of {tp}: {reason}"),
                        };
                        self.enter_fatal(error);
                        return false;
                    }
                }
            }
            let chosen = if queue.has_waiting_retry() {
                // Retries go alone and in sequence order.
                queue.next_retry(now)
            } else if !new_batches {
                None
            } else {
                match queue.next_new_batch(identity, transactional, max_in_flight, now) {
                    Ok(batch) => batch,
                    Err(crate::batch::BuildFailure { reason, tokens }) => {
                        let error = TxnError::Internal {
                            reason: format!("cannot encode batch: {reason}"),
                        };
                        self.fail_tokens(tokens, error.clone());
                        self.enter_fatal(error);
                        return false;
                    }
                }
            };
            let Some((base, bytes)) = chosen else {
                continue;
            };
            let entry = match outgoing.entry(leader.node_id) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(Outgoing {
                    id: self.out.next_id(),
                    address: leader.address.clone(),
                    batches: Vec::new(),
                }),
            };
            let id = entry.id;
            entry.batches.push((tp.clone(), base, bytes));
            if let Some(queue) = self.accumulator.partitions.get_mut(&tp) {
                queue.last_leader = Some(leader.node_id);
                if let Some(batch) = queue.sent.iter_mut().find(|b| b.base_sequence == base) {
                    batch.status = SentStatus::InFlight(id);
                    batch.attempts = batch.attempts.saturating_add(1);
                }
            }
        }
        if need_metadata {
            self.metadata.request_refresh();
        }
        let sent_any = !outgoing.is_empty();
        for (node_id, request) in outgoing {
            self.send_produce(now, node_id, request);
        }
        sent_any
    }

    fn send_produce(&mut self, now: Instant, node_id: i32, outgoing: Outgoing) {
        let destination = Destination::Broker {
            node_id,
            address: outgoing.address.clone(),
        };
        let Some(version) =
            self.versions
                .negotiate(&destination, ApiKey::Produce, self.produce_cap())
        else {
            self.enter_fatal(TxnError::Fatal {
                code: ResponseError::UnsupportedVersion.code(),
                reason: "the broker supports no usable Produce version".into(),
            });
            return;
        };
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        for (tp, _, bytes) in &outgoing.batches {
            topics.entry(tp.topic.clone()).or_default().push(
                PartitionProduceData::default()
                    .with_index(tp.partition)
                    .with_records(Some(bytes.clone())),
            );
        }
        let topic_data = topics
            .into_iter()
            .map(|(name, partitions)| {
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(name)))
                    .with_partition_data(partitions)
            })
            .collect();
        let transactional_id = self
            .config
            .transactional_id
            .as_ref()
            .map(|id| TransactionalId(StrBytes::from_string(id.clone())));
        let timeout_ms = i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let request = ProduceRequest::default()
            .with_transactional_id(transactional_id)
            .with_acks(-1)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topic_data);
        let batches = outgoing
            .batches
            .into_iter()
            .map(|(tp, base, _)| (tp, base))
            .collect();
        let first_of_transaction = self.is_transactional() && self.txn.tv2() && self.txn.add_sent();
        if first_of_transaction {
            self.settle.first_request_sent(now);
        }
        self.produce.sent(
            outgoing.id,
            ProduceInFlight {
                node_id,
                sent_at: now,
                first_of_transaction,
                batches,
            },
        );
        self.metrics.incr(Counter::ProduceRequests);
        self.emit_transmit(
            outgoing.id,
            destination,
            crate::types::Request::Produce(request),
            version,
        );
    }
}
