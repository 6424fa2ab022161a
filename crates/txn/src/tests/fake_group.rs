//! The fake's side of transactional offsets: AddOffsetsToTxn on the transaction coordinator,
//! TxnOffsetCommit on the group coordinator (KIP-447 generation check; v5 adds the offsets
//! partition to the transaction itself, KIP-890), and the committed offsets a consumer would
//! fetch.

use std::time::Instant;

use kafkatx_wire::protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafkatx_wire::protocol::messages::*;

use super::codes::*;
use super::fake_cluster::{FakeCluster, PendingOffset, TxnStatus};

/// The `__consumer_offsets` partition every group uses in the fake.
const OFFSETS_PARTITION: (&str, i32) = ("__consumer_offsets", 0);

impl FakeCluster {
    /// Move every group's coordinator to `node`.
    pub(super) fn move_group_coordinator(&mut self, node: i32) {
        self.group_coordinator = node;
    }

    /// Give `group` members of `generation`: commits naming another generation are refused.
    pub(super) fn set_group_generation(&mut self, group: &str, generation: i32) {
        self.group_generations.insert(group.to_owned(), generation);
    }

    /// The offset a consumer of `group` would resume `topic`/`partition` from.
    pub(super) fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.committed_offsets
            .get(&(group.to_owned(), topic.to_owned(), partition))
            .copied()
    }

    /// Offsets written into `transactional_id`'s open transaction, not yet committed.
    pub(super) fn pending_offsets(&self, transactional_id: &str) -> usize {
        self.txns
            .get(transactional_id)
            .map_or(0, |txn| txn.offsets.len())
    }

    /// The group's offsets partition joins the transaction.
    fn add_offsets_partition(&mut self, now: Instant, transactional_id: &str) {
        if let Some(txn) = self.txns.get_mut(transactional_id) {
            if txn.status != TxnStatus::Ongoing {
                txn.status = TxnStatus::Ongoing;
                txn.started_at = Some(now);
            }
            txn.partitions
                .insert((OFFSETS_PARTITION.0.to_owned(), OFFSETS_PARTITION.1));
        }
    }

    pub(super) fn add_offsets(
        &mut self,
        now: Instant,
        node: i32,
        r: &AddOffsetsToTxnRequest,
    ) -> AddOffsetsToTxnResponse {
        let tid = r.transactional_id.0.as_str().to_owned();
        let code = if node != self.coordinator {
            NOT_COORDINATOR
        } else {
            match self.txns.get(&tid) {
                None => INVALID_PRODUCER_ID_MAPPING,
                Some(t) if t.producer_id != r.producer_id.0 || t.epoch != r.producer_epoch => {
                    PRODUCER_FENCED
                }
                Some(_) => 0,
            }
        };
        if code == 0 {
            self.add_offsets_partition(now, &tid);
        }
        AddOffsetsToTxnResponse::default().with_error_code(code)
    }

    pub(super) fn txn_offset_commit(
        &mut self,
        now: Instant,
        node: i32,
        r: &TxnOffsetCommitRequest,
        version: i16,
    ) -> TxnOffsetCommitResponse {
        let tid = r.transactional_id.0.as_str().to_owned();
        let group = r.group_id.0.as_str().to_owned();
        let stale_generation = self
            .group_generations
            .get(&group)
            .is_some_and(|g| version >= 3 && r.generation_id != -1 && r.generation_id != *g);
        let offsets_partition = (OFFSETS_PARTITION.0.to_owned(), OFFSETS_PARTITION.1);
        let code = if node != self.group_coordinator {
            NOT_COORDINATOR
        } else if stale_generation {
            ILLEGAL_GENERATION
        } else {
            match self.txns.get(&tid) {
                None => INVALID_PRODUCER_ID_MAPPING,
                Some(t) if t.producer_id != r.producer_id.0 || r.producer_epoch < t.epoch => {
                    INVALID_PRODUCER_EPOCH
                }
                // Before v5 the partition must have been added (KIP-890 part 1 verification).
                Some(t)
                    if version < 5
                        && (t.status != TxnStatus::Ongoing
                            || !t.partitions.contains(&offsets_partition)) =>
                {
                    INVALID_TXN_STATE
                }
                Some(_) => 0,
            }
        };
        if code == 0 && version >= 5 {
            self.add_offsets_partition(now, &tid);
        }
        let mut codes = Vec::new();
        for topic in &r.topics {
            for p in &topic.partitions {
                let topic = topic.name.0.as_str().to_owned();
                let partition_code = if code != 0 {
                    code
                } else {
                    self.take_offset_fault(&topic, p.partition_index)
                };
                if partition_code == 0 {
                    if let Some(txn) = self.txns.get_mut(&tid) {
                        txn.offsets.push(PendingOffset {
                            group: group.clone(),
                            topic: topic.clone(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                        });
                    }
                }
                codes.push(((topic, p.partition_index), partition_code));
            }
        }
        Self::txn_offset_commit_answer(r, |topic, partition| {
            codes
                .iter()
                .find(|((t, p), _)| t == topic && *p == partition)
                .map_or(0, |(_, code)| *code)
        })
    }

    /// Make the next TxnOffsetCommit of `topic`/`partition` fail with `code` (that partition
    /// only; the others of the same request succeed).
    pub(super) fn fail_offset_commit_once(&mut self, topic: &str, partition: i32, code: i16) {
        self.offset_faults.push((topic.to_owned(), partition, code));
    }

    fn take_offset_fault(&mut self, topic: &str, partition: i32) -> i16 {
        match self
            .offset_faults
            .iter()
            .position(|(t, p, _)| t == topic && *p == partition)
        {
            Some(index) => self.offset_faults.remove(index).2,
            None => 0,
        }
    }

    /// An answer naming every partition of `r`, with `code_of(topic, partition)`.
    pub(super) fn txn_offset_commit_answer(
        r: &TxnOffsetCommitRequest,
        code_of: impl Fn(&str, i32) -> i16,
    ) -> TxnOffsetCommitResponse {
        let topics = r
            .topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code_of(topic.name.0.as_str(), p.partition_index))
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    }
}
