//! The fake transaction coordinator: InitProducerId, AddPartitionsToTxn (v<=3) and EndTxn
//! with the TV1 and TV2 rules (KIP-98, KIP-890), epoch bumps and exhaustion. Ending
//! a transaction also applies (commit) or drops (abort) its transactional offsets.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafkatx_wire::protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafkatx_wire::protocol::messages::*;

use super::codes::*;
use super::fake_cluster::{FakeCluster, FakeTxn, LogEntry, TxnStatus};

impl FakeCluster {
    pub(super) fn new_producer_id(&mut self) -> i64 {
        self.next_producer_id += 1;
        self.next_producer_id
    }

    /// Epoch + 1, or a new producer id at epoch 0 when the epoch is exhausted.
    pub(super) fn bump(&mut self, transactional_id: &str) {
        let exhausted = self
            .txns
            .get(transactional_id)
            .is_some_and(|t| t.epoch >= i16::MAX - 1);
        let fresh = if exhausted {
            Some(self.new_producer_id())
        } else {
            None
        };
        if let Some(txn) = self.txns.get_mut(transactional_id) {
            txn.last_epoch = txn.epoch;
            match fresh {
                Some(pid) => {
                    txn.producer_id = pid;
                    txn.epoch = 0;
                    txn.last_epoch = -1;
                }
                None => txn.epoch += 1,
            }
        }
    }

    pub(super) fn complete_txn(&mut self, transactional_id: &str, commit: bool) {
        let Some(txn) = self.txns.get_mut(transactional_id) else {
            return;
        };
        let partitions = std::mem::take(&mut txn.partitions);
        let offsets = std::mem::take(&mut txn.offsets);
        let producer_id = txn.producer_id;
        txn.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        txn.started_at = None;
        if commit {
            for o in offsets {
                self.committed_offsets
                    .insert((o.group, o.topic, o.partition), o.offset);
            }
        }
        for (topic, partition) in partitions {
            if let Some(p) = self.partition_mut(&topic, partition) {
                let offset = p.next_offset;
                p.next_offset += 1;
                p.entries.push((
                    offset,
                    LogEntry::Marker {
                        producer_id,
                        commit,
                    },
                ));
            }
        }
    }

    pub(super) fn init_producer_id(
        &mut self,
        node: i32,
        r: &InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        let Some(tid) = r.transactional_id.as_ref().map(|t| t.0.as_str().to_owned()) else {
            let pid = self.new_producer_id();
            return InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0);
        };
        if node != self.coordinator {
            return InitProducerIdResponse::default().with_error_code(NOT_COORDINATOR);
        }
        if !self.txns.contains_key(&tid) {
            let pid = self.new_producer_id();
            self.txns.insert(
                tid.clone(),
                FakeTxn {
                    producer_id: pid,
                    epoch: self.initial_epoch,
                    last_epoch: -1,
                    status: TxnStatus::Empty,
                    partitions: BTreeSet::new(),
                    started_at: None,
                    offsets: Vec::new(),
                    timeout: Duration::from_millis(
                        u64::try_from(r.transaction_timeout_ms).unwrap(),
                    ),
                },
            );
        } else {
            let txn = self.txns.get(&tid).cloned().unwrap();
            if version >= 3 && r.producer_id.0 >= 0 {
                let matches = r.producer_id.0 == txn.producer_id
                    && (r.producer_epoch == txn.epoch || r.producer_epoch == txn.last_epoch);
                if !matches {
                    return InitProducerIdResponse::default().with_error_code(if version >= 4 {
                        PRODUCER_FENCED
                    } else {
                        INVALID_PRODUCER_EPOCH
                    });
                }
            }
            if txn.status == TxnStatus::Ongoing {
                self.complete_txn(&tid, false);
            }
            self.bump(&tid);
            if let Some(t) = self.txns.get_mut(&tid) {
                t.timeout = Duration::from_millis(u64::try_from(r.transaction_timeout_ms).unwrap());
                t.status = TxnStatus::Empty;
            }
        }
        let txn = &self.txns[&tid];
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(txn.producer_id))
            .with_producer_epoch(txn.epoch)
    }

    pub(super) fn add_partitions(
        &mut self,
        now: Instant,
        node: i32,
        r: &AddPartitionsToTxnRequest,
    ) -> AddPartitionsToTxnResponse {
        let tid = r.v3_and_below_transactional_id.0.as_str().to_owned();
        let code = if node != self.coordinator {
            NOT_COORDINATOR
        } else {
            match self.txns.get(&tid) {
                None => INVALID_PRODUCER_ID_MAPPING,
                Some(t)
                    if t.producer_id != r.v3_and_below_producer_id.0
                        || t.epoch != r.v3_and_below_producer_epoch =>
                {
                    PRODUCER_FENCED
                }
                Some(_) => 0,
            }
        };
        let mut results = Vec::new();
        for topic in &r.v3_and_below_topics {
            let mut parts = Vec::new();
            for partition in &topic.partitions {
                let exists = self
                    .partition_mut(topic.name.0.as_str(), *partition)
                    .is_some();
                let part_code = if code != 0 {
                    code
                } else if exists {
                    0
                } else {
                    UNKNOWN_TOPIC_OR_PARTITION
                };
                if part_code == 0 {
                    let txn = self.txns.get_mut(&tid).unwrap();
                    if txn.status != TxnStatus::Ongoing {
                        txn.status = TxnStatus::Ongoing;
                        txn.started_at = Some(now);
                    }
                    txn.partitions
                        .insert((topic.name.0.as_str().to_owned(), *partition));
                }
                parts.push(
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*partition)
                        .with_partition_error_code(part_code),
                );
            }
            results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic.name.clone())
                    .with_results_by_partition(parts),
            );
        }
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
    }

    pub(super) fn end_txn(&mut self, node: i32, r: &EndTxnRequest, version: i16) -> EndTxnResponse {
        let error = |code| EndTxnResponse::default().with_error_code(code);
        if node != self.coordinator {
            return error(NOT_COORDINATOR);
        }
        let tid = r.transactional_id.0.as_str().to_owned();
        let Some(txn) = self.txns.get(&tid).cloned() else {
            return error(INVALID_PRODUCER_ID_MAPPING);
        };
        if r.producer_id.0 != txn.producer_id && version < 5 {
            return error(PRODUCER_FENCED);
        }
        let commit = r.committed;
        let identity = |c: &FakeCluster| {
            let t = &c.txns[&tid];
            EndTxnResponse::default()
                .with_producer_id(ProducerId(t.producer_id))
                .with_producer_epoch(t.epoch)
        };
        if version >= 5 {
            let current = r.producer_id.0 == txn.producer_id && r.producer_epoch == txn.epoch;
            let retry = (r.producer_id.0 == txn.producer_id && r.producer_epoch == txn.last_epoch)
                || (txn.last_epoch == -1 && txn.epoch == 0 && r.producer_id.0 != txn.producer_id);
            if current {
                match (txn.status, commit) {
                    (TxnStatus::Ongoing, _) => self.complete_txn(&tid, commit),
                    // Kafka 4 with KIP-890 ends even a transaction it never saw as aborted
                    // (with an epoch bump), so a resent abort is recognised as a retry.
                    (_, false) => {
                        if let Some(t) = self.txns.get_mut(&tid) {
                            t.status = TxnStatus::CompleteAbort;
                        }
                    }
                    (_, true) => return error(INVALID_TXN_STATE),
                }
                self.bump(&tid);
                return identity(self);
            }
            if retry {
                return match (txn.status, commit) {
                    (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                        identity(self)
                    }
                    (TxnStatus::Empty, _) => error(PRODUCER_FENCED),
                    _ => error(INVALID_TXN_STATE),
                };
            }
            return error(PRODUCER_FENCED);
        }
        if r.producer_epoch != txn.epoch {
            return error(PRODUCER_FENCED);
        }
        match (txn.status, commit) {
            (TxnStatus::Ongoing, _) => {
                self.complete_txn(&tid, commit);
                EndTxnResponse::default()
            }
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => {
                EndTxnResponse::default()
            }
            _ => error(INVALID_TXN_STATE),
        }
    }
}
