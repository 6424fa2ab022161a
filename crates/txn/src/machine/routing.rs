//! Placing records on partitions.
//!
//! Every record, explicit partition or not, is placed only once its topic's partition count
//! is known: an explicit partition is checked against it first (like Java's `send`), because
//! a record queued for a partition that does not exist would wait for a leader forever.
//! Until then it waits in `unrouted`, and records of one topic keep their call order.
//! Records without a partition are placed by the [`Partitioner`](crate::partitioner::Partitioner), which
//! is told the bytes each of its sticky choices added.

use std::collections::HashSet;
use std::time::Instant;

use super::TxnMachine;
use super::accumulator::Unrouted;
use crate::error::TxnError;
use crate::partitioner::Choice;
use crate::types::{ProducerRecord, RecordToken, TopicPartition};

/// Where a record goes, given what metadata knows now.
enum Placement {
    /// Append it to this partition.
    Partition(Choice),
    /// Its topic's partition count is not known yet.
    Wait,
    /// It names a partition the topic does not have.
    Refuse(TxnError),
}

impl TxnMachine {
    /// The error for a record whose explicit partition is known to be invalid now: negative,
    /// or beyond the topic's known partition count. `None` when it may be valid.
    pub(super) fn invalid_partition(&self, record: &ProducerRecord) -> Option<TxnError> {
        let partition = record.partition?;
        let partitions = self.metadata.partition_count(&record.topic);
        let out_of_range = partitions.is_some_and(|count| i64::from(partition) >= i64::from(count));
        (partition < 0 || out_of_range).then(|| TxnError::InvalidPartition {
            topic: record.topic.clone(),
            partition,
            partitions,
        })
    }

    fn placement(&mut self, record: &ProducerRecord) -> Placement {
        if let Some(error) = self.invalid_partition(record) {
            return Placement::Refuse(error);
        }
        let Some(count) = self.metadata.partition_count(&record.topic) else {
            return Placement::Wait;
        };
        Placement::Partition(match record.partition {
            Some(partition) => Choice {
                partition,
                sticky: false,
            },
            None => {
                let accumulator = &self.accumulator;
                let bytes_if_appended = |partition: i32| {
                    let tp = TopicPartition::new(record.topic.clone(), partition);
                    accumulator.bytes_if_appended(&tp, record)
                };
                self.partitioner.choose(
                    &record.topic,
                    record.key.as_deref(),
                    count,
                    bytes_if_appended,
                )
            }
        })
    }

    /// Place a record accepted by `send` (its partition already checked), or queue it until
    /// its topic's metadata arrives.
    pub(super) fn route_new(&mut self, now: Instant, token: RecordToken, record: ProducerRecord) {
        // Records of one topic keep their call order: this one must not overtake an earlier
        // one still waiting for metadata.
        let waits_behind = self
            .accumulator
            .unrouted
            .iter()
            .any(|u| u.record.topic == record.topic);
        let placement = if waits_behind {
            Placement::Wait
        } else {
            self.placement(&record)
        };
        match placement {
            Placement::Partition(choice) => self.add_to_partition(now, choice, token, &record),
            Placement::Wait => self.accumulator.unrouted.push_back(Unrouted {
                token,
                record,
                appended_at: now,
            }),
            // `send` refuses a known-invalid partition synchronously before calling this;
            // should one get here anyway, its delivery fails and nothing else is touched.
            Placement::Refuse(error) => self.fail_tokens(vec![token], error),
        }
    }

    fn add_to_partition(
        &mut self,
        now: Instant,
        choice: Choice,
        token: RecordToken,
        record: &ProducerRecord,
    ) {
        let tp = TopicPartition::new(record.topic.clone(), choice.partition);
        if self.is_transactional() {
            if self.txn.tv2 {
                // TV2: the leader adds the partition; the transaction counts as started as
                // soon as a send is attempted (txn-reference §1.1).
                self.txn.started = true;
                self.txn.added.insert(tp.clone());
            } else if !self.txn.added.contains(&tp) {
                self.txn.to_add.insert(tp.clone());
            }
        }
        let appended_bytes = self.accumulator.append(now, tp, token, record);
        if choice.sticky {
            self.partitioner
                .record_appended(&record.topic, choice.partition, appended_bytes);
        }
    }

    /// Place records that waited for metadata. One whose partition turned out not to exist
    /// fails alone; the records behind it are still placed.
    pub(super) fn route_unrouted(&mut self, now: Instant) {
        let waiting: Vec<_> = self.accumulator.unrouted.drain(..).collect();
        // Once a record of a topic stays unrouted, later ones of that topic stay behind it.
        let mut blocked: HashSet<String> = HashSet::new();
        for unrouted in waiting {
            let placement = if blocked.contains(&unrouted.record.topic) {
                Placement::Wait
            } else {
                self.placement(&unrouted.record)
            };
            match placement {
                Placement::Partition(choice) => self.add_to_partition(
                    unrouted.appended_at.min(now),
                    choice,
                    unrouted.token,
                    &unrouted.record,
                ),
                Placement::Wait => {
                    blocked.insert(unrouted.record.topic.clone());
                    self.accumulator.unrouted.push_back(unrouted);
                }
                Placement::Refuse(error) => {
                    tracing::debug!(parent: &self.txn_span, %error, "record refused");
                    self.fail_tokens(vec![unrouted.token], error);
                }
            }
        }
        if !self.accumulator.unrouted.is_empty() {
            self.metadata.request_refresh();
        }
    }
}
