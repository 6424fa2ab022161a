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
use crate::classify::{Disposition, Failure, Recovery, RequestKind, classify};
use crate::error::TxnError;
use crate::partitioner::Choice;
use crate::state::TxnState;
use crate::types::{ProducerRecord, RecordToken, TopicPartition};

/// Where a record goes, given what metadata knows now.
enum Placement {
    /// Append it to this partition.
    Partition(Choice),
    /// Its topic's partition count is not known yet.
    Wait,
    /// It names a partition the topic does not have, or a topic the cluster does not have
    /// while auto-creation is off.
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

    /// A record refused after `send` accepted it (its topic's metadata came later): it fails,
    /// and so does its transaction, which must not commit without it (Java makes the
    /// transaction abortable when a send fails the same way).
    fn refuse_record(&mut self, token: RecordToken, error: TxnError) {
        tracing::debug!(parent: &self.txn_span, %error, "record refused");
        let reason = format!("a record of the transaction was refused: {error}");
        let code = error.code().unwrap_or(-1);
        self.fail_tokens(vec![token], error);
        if self.is_transactional() {
            self.enter_abortable(TxnError::Abortable { code, reason }, Recovery::EndTxn);
        }
    }

    /// The error for records of a topic the cluster refuses (e.g. TOPIC_AUTHORIZATION_FAILED
    /// in its metadata), as the one table classifies that error; `None` while waiting may
    /// still help (unknown topic, no leader yet).
    fn topic_refusal(&self, topic: &str) -> Option<TxnError> {
        let code = self.metadata.topic_error(topic)?;
        let disposition = classify(RequestKind::Metadata, Failure::Code(code), self.context());
        matches!(disposition, Disposition::Abortable(_) | Disposition::Fatal).then(|| {
            let reason = format!("the cluster refuses topic `{topic}`");
            if self.is_transactional() {
                TxnError::Abortable { code, reason }
            } else {
                TxnError::Delivery { code, reason }
            }
        })
    }

    fn placement(&mut self, record: &ProducerRecord) -> Placement {
        if let Some(error) = self.invalid_partition(record) {
            return Placement::Refuse(error);
        }
        if let Some(error) = self.topic_refusal(&record.topic) {
            return Placement::Refuse(error);
        }
        // With auto-creation off, waiting for the topic would only end at delivery.timeout.ms:
        // fail its records once metadata has said twice that it does not exist.
        if self.metadata.topic_absent(&record.topic) {
            return Placement::Refuse(TxnError::UnknownTopic {
                topic: record.topic.clone(),
            });
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
        // Every record passes here before its topic's first metadata request is built.
        self.metadata
            .set_allow_auto_create(self.config.allow_auto_create_topics);
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
            Placement::Refuse(error) => self.refuse_record(token, error),
        }
    }

    fn add_to_partition(
        &mut self,
        now: Instant,
        choice: Choice,
        token: RecordToken,
        record: &ProducerRecord,
    ) {
        // A record placed after its transaction failed (an earlier record of the same batch
        // of waiting records was refused) fails with it instead of sitting in a draft that no
        // state drains.
        if self.is_transactional()
            && !matches!(self.state, TxnState::InTransaction | TxnState::Committing)
        {
            let error = self
                .last_error
                .clone()
                .unwrap_or(TxnError::TransactionAborted);
            self.fail_tokens(vec![token], error);
            return;
        }
        let tp = TopicPartition::new(record.topic.clone(), choice.partition);
        if self.is_transactional() {
            self.txn.record_routed(&tp);
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
                Placement::Refuse(error) => self.refuse_record(unrouted.token, error),
            }
        }
        // Every waiting record of a topic found absent was refused in the loop above; a later
        // record of it must look again rather than be refused on an old answer.
        self.metadata.forget_absent_topics();
        if !self.accumulator.unrouted.is_empty() {
            self.metadata.request_refresh();
        }
    }
}
