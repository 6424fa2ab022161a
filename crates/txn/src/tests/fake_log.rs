//! The fake partition logs: Produce with leader, transaction, epoch and sequence checks,
//! and duplicate detection over the last 5 batches (as the broker does).

use std::time::Instant;

use bytes::Bytes;
use kafkatx_wire::protocol::messages::produce_response::{
    self, PartitionProduceResponse, TopicProduceResponse,
};
use kafkatx_wire::protocol::messages::*;
use kafkatx_wire::record::decode_batches;

use super::codes::*;
use super::fake_cluster::{FakeCluster, LogEntry, TxnStatus};
use crate::machine::sequence::advance;

impl FakeCluster {
    pub(super) fn produce(
        &mut self,
        now: Instant,
        node: i32,
        r: &ProduceRequest,
        version: i16,
    ) -> ProduceResponse {
        assert_eq!(r.acks, -1, "acks=all");
        let tid = r.transactional_id.as_ref().map(|t| t.0.as_str().to_owned());
        let mut topics = Vec::new();
        let mut endpoints: Vec<i32> = Vec::new();
        for topic in &r.topic_data {
            let mut parts = Vec::new();
            for data in &topic.partition_data {
                let (code, offset) = self.produce_one(
                    now,
                    node,
                    tid.as_deref(),
                    topic.name.0.as_str(),
                    data.index,
                    data.records.as_ref(),
                    version,
                );
                let mut part = PartitionProduceResponse::default()
                    .with_index(data.index)
                    .with_error_code(code)
                    .with_base_offset(offset);
                // KIP-951: a broker that is not the leader names the one that is.
                if code == NOT_LEADER_OR_FOLLOWER && version >= 10 && self.leader_hints {
                    if let Some(leader) = self.live_leader(topic.name.0.as_str(), data.index) {
                        part = part.with_current_leader(
                            produce_response::LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(0),
                        );
                        if !endpoints.contains(&leader) {
                            endpoints.push(leader);
                        }
                    }
                }
                parts.push(part);
            }
            topics.push(
                TopicProduceResponse::default()
                    .with_name(topic.name.clone())
                    .with_partition_responses(parts),
            );
        }
        let node_endpoints = endpoints
            .into_iter()
            .map(|id| {
                produce_response::NodeEndpoint::default()
                    .with_node_id(BrokerId(id))
                    .with_host(super::fake_cluster::name(&format!("broker-{id}")))
                    .with_port(9092)
            })
            .collect();
        ProduceResponse::default()
            .with_responses(topics)
            .with_node_endpoints(node_endpoints)
    }

    /// The leader of a partition, if it is alive.
    fn live_leader(&mut self, topic: &str, partition: i32) -> Option<i32> {
        let leader = self.partition_mut(topic, partition)?.leader;
        self.is_alive(leader).then_some(leader)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn produce_one(
        &mut self,
        now: Instant,
        node: i32,
        tid: Option<&str>,
        topic: &str,
        partition: i32,
        records: Option<&Bytes>,
        version: i16,
    ) -> (i16, i64) {
        let Some(leader) = self.partition_mut(topic, partition).map(|p| p.leader) else {
            return (UNKNOWN_TOPIC_OR_PARTITION, -1);
        };
        if leader != node {
            return (NOT_LEADER_OR_FOLLOWER, -1);
        }
        let batches = decode_batches(records.unwrap()).expect("our batches decode");
        assert_eq!(batches.len(), 1, "one batch per partition per request");
        let batch = &batches[0];
        let count = i32::try_from(batch.records.len()).unwrap();
        let (pid, epoch, base) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
        assert!(pid >= 0 && base >= 0, "idempotent batches only");
        if batch.is_transactional {
            let tid = tid.expect("transactional batch carries a transactional id");
            let txn = self.txns.get(tid).cloned().expect("known transactional id");
            if txn.producer_id != pid || epoch < txn.epoch {
                return (INVALID_PRODUCER_EPOCH, -1);
            }
            let key = (topic.to_owned(), partition);
            if version >= 12 {
                let t = self.txns.get_mut(tid).unwrap();
                if t.status != TxnStatus::Ongoing {
                    t.status = TxnStatus::Ongoing;
                    t.started_at = Some(now);
                }
                t.partitions.insert(key);
            } else if txn.status != TxnStatus::Ongoing || !txn.partitions.contains(&key) {
                return (INVALID_TXN_STATE, -1);
            }
        }
        let p = self.partition_mut(topic, partition).unwrap();
        let last = advance(base, count - 1);
        if let Some(entry) = p.producers.get(&pid) {
            if epoch < entry.epoch {
                return (INVALID_PRODUCER_EPOCH, -1);
            }
            if epoch == entry.epoch {
                if let Some((_, _, offset)) = entry
                    .recent
                    .iter()
                    .find(|(b, l, _)| *b == base && *l == last)
                {
                    return (0, *offset);
                }
                if base != advance(entry.last_sequence, 1) {
                    return (OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
                }
            } else if base != 0 {
                return (OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
            }
        } else if base != 0 {
            return (OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
        }
        let offset = p.next_offset;
        p.next_offset += i64::from(count);
        let values = batch
            .records
            .iter()
            .map(|rec| rec.value.clone().unwrap_or_default())
            .collect();
        p.entries.push((
            offset,
            LogEntry::Data {
                producer_id: pid,
                transactional: batch.is_transactional,
                values,
            },
        ));
        let entry = p.producers.entry(pid).or_default();
        if entry.epoch != epoch {
            entry.recent.clear();
        }
        entry.epoch = epoch;
        entry.last_sequence = last;
        entry.recent.push_back((base, last, offset));
        if entry.recent.len() > 5 {
            entry.recent.pop_front();
        }
        (0, offset)
    }
}
