//! `send_offsets`: a consumer group's offsets committed inside the transaction (Java
//! `sendOffsetsToTransaction`, KIP-98 and KIP-447), and the requests it needs.
//!
//! Classic protocol: AddOffsetsToTxn to the transaction coordinator (the group's
//! `__consumer_offsets` partition joins the transaction), FindCoordinator(group), then
//! TxnOffsetCommit to the group coordinator. KIP-890 (Java 4.x): TxnOffsetCommit v5 alone,
//! the group coordinator adds the partition itself, and the transaction counts as started as
//! soon as the call is made. Either way the offsets become visible with the commit, an abort
//! discards them, and EndTxn waits until the group coordinator acknowledged every offset.
//! The answers are handled in `offsets_replies.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use kafkatx_wire::protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafkatx_wire::protocol::messages::{
    AddOffsetsToTxnRequest, ApiKey, FindCoordinatorRequest, GroupId, ProducerId, TopicName,
    TxnOffsetCommitRequest,
};

use super::coordinator_requests::str_bytes;
use super::versions::{FIND_COORDINATOR_CAP, TXN_OFFSET_COMMIT_CAP_TV1};
use super::{CoordKind, TxnMachine};
use crate::consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::error::{Operation, TxnError};
use crate::state::TxnState;
use crate::types::{Destination, Request, TopicPartition, TxnEvent};

/// One `send_offsets` call and its progress.
#[derive(Debug, Clone)]
pub(super) struct OffsetsCommit {
    /// The group and member, as given.
    pub(super) group: ConsumerGroupMetadata,
    /// The offsets, as given (a partition named twice keeps its last offset).
    pub(super) offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// Partitions the group coordinator has not acknowledged yet.
    pub(super) unacked: BTreeSet<TopicPartition>,
    /// AddOffsetsToTxn goes first: the classic protocol, or KIP-890 brokers without
    /// TxnOffsetCommit v5.
    pub(super) needs_add: bool,
}

impl OffsetsCommit {
    fn is_done(&self) -> bool {
        self.unacked.is_empty()
    }

    fn is_same_call(
        &self,
        group: &ConsumerGroupMetadata,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> bool {
        self.group == *group && self.offsets == *offsets
    }
}

/// Why the arguments can never be sent, if they cannot (Java refuses the same).
fn invalid_argument(
    group: &ConsumerGroupMetadata,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Option<&'static str> {
    if group.group_id.is_empty() {
        Some("the consumer group id is empty")
    } else if offsets
        .keys()
        .any(|tp| tp.topic.is_empty() || tp.partition < 0)
    {
        Some("an offset names no valid topic partition")
    } else if offsets.values().any(|o| o.offset < 0) {
        Some("an offset to commit is negative")
    } else {
        None
    }
}

impl TxnMachine {
    /// Commit `offsets` for `group` as part of the open transaction. Finishes with an
    /// `OperationDone(SendOffsets)` once the group coordinator holds them (pending until the
    /// transaction ends). After a `Timeout`, the same call resumes it; commit and abort take
    /// it over (commit still waits for the offsets, abort drops what was not sent).
    pub(crate) fn send_offsets(
        &mut self,
        now: Instant,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TxnError> {
        let op = Operation::SendOffsets;
        if self.closed {
            return Err(TxnError::Closed);
        }
        if !self.is_transactional() {
            return Err(self.usage(op, Some("not a transactional producer")));
        }
        let offsets: BTreeMap<_, _> = offsets.into_iter().collect();
        if let Some(reason) = invalid_argument(&group, &offsets) {
            return Err(self.usage(op, Some(reason)));
        }
        let same_call = self
            .txn
            .offsets()
            .is_some_and(|w| w.is_same_call(&group, &offsets));
        let pending_here = self.operation.is_running(op);
        let unacked_here = self.operation.unacknowledged() == Some(op);
        if same_call && (pending_here || unacked_here) {
            return self.start_op(now, op).map(|_| ());
        }
        if pending_here {
            return Err(self.usage(op, Some("a send_offsets with other offsets is in progress")));
        }
        if unacked_here {
            // The caller moved on to other offsets: the old result is no longer wanted.
            self.operation.forget_unacknowledged();
        }
        if self.operation.running().is_some() {
            return Err(self.usage(op, Some("another operation is still in progress")));
        }
        match self.state {
            TxnState::InTransaction => {}
            TxnState::FatalError | TxnState::AbortableError => {
                return Err(self.last_error.clone().unwrap_or(TxnError::Closed));
            }
            _ => return Err(self.usage(op, Some("no open transaction"))),
        }
        if offsets.is_empty() {
            // Nothing to commit, nothing sent (Java does the same).
            self.out
                .event(TxnEvent::OperationDone { op, result: Ok(()) });
            return Ok(());
        }
        let needs_add = !self.offsets_added_by_group_coordinator();
        if !needs_add {
            // KIP-890: the group coordinator may add the partition even if we never hear
            // back, so from now on ending the transaction needs an EndTxn (Java does so).
            self.txn.mark_started();
        }
        tracing::debug!(
            parent: &self.txn_span,
            group = %group.group_id,
            partitions = offsets.len(),
            needs_add,
            "send offsets"
        );
        self.txn.set_offsets(OffsetsCommit {
            unacked: offsets.keys().cloned().collect(),
            group,
            offsets,
            needs_add,
        });
        self.set_pending(now, op);
        self.pump(now);
        Ok(())
    }

    /// A `send_offsets` whose caller already got `Timeout` does not block commit or abort:
    /// they take its work over.
    pub(super) fn release_timed_out_send_offsets(&mut self) {
        self.operation.release_if_timed_out(Operation::SendOffsets);
    }

    /// The next request the current `send_offsets` needs, if it is not done.
    pub(super) fn next_offsets_work(&self) -> Option<CoordKind> {
        let work = self.txn.offsets().filter(|w| !w.is_done())?;
        let group = work.group.group_id.clone();
        Some(if work.needs_add && self.txn.group_needs_add(&group) {
            CoordKind::AddOffsets { group }
        } else if !self.group_coordinators.contains_key(&group) {
            CoordKind::FindGroupCoordinator { group }
        } else {
            CoordKind::TxnOffsetCommit { group }
        })
    }

    /// Aborting: a group whose AddOffsetsToTxn answer was lost is added again, so that the
    /// EndTxn never meets a transaction the coordinator thinks empty (fatal under TV1). A
    /// re-initialisation aborts whatever is open anyway.
    pub(super) fn group_to_add_again(&self) -> Option<CoordKind> {
        let group = self.txn.group_to_add_again()?.to_owned();
        Some(CoordKind::AddOffsets { group })
    }

    pub(super) fn find_group_coordinator_request(&self, group: &str) -> Option<(Request, i16)> {
        let version = self
            .versions
            .negotiate_any(ApiKey::FindCoordinator, Some(FIND_COORDINATOR_CAP))?;
        // Key type 0 = group; version 0 has no key type and always means a group.
        let request = FindCoordinatorRequest::default()
            .with_key(str_bytes(group))
            .with_key_type(0);
        Some((Request::FindCoordinator(request), version))
    }

    pub(super) fn add_offsets_request(
        &self,
        destination: &Destination,
        group: &str,
    ) -> Option<(Request, i16)> {
        let version = self
            .versions
            .negotiate(destination, ApiKey::AddOffsetsToTxn, None)?;
        let identity = self.identity?;
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(self.transactional_id())
            .with_producer_id(ProducerId(identity.producer_id))
            .with_producer_epoch(identity.epoch)
            .with_group_id(GroupId(str_bytes(group)));
        Some((Request::AddOffsetsToTxn(request), version))
    }

    /// The offsets the group coordinator has not acknowledged yet. `None` when no version
    /// fits: v5 is required without AddOffsetsToTxn, v3 to carry a group member.
    pub(super) fn txn_offset_commit_request(
        &self,
        destination: &Destination,
    ) -> Option<(Request, i16)> {
        let work = self.txn.offsets()?;
        let cap = work.needs_add.then_some(TXN_OFFSET_COMMIT_CAP_TV1);
        let version = self
            .versions
            .negotiate(destination, ApiKey::TxnOffsetCommit, cap)?;
        if (!work.needs_add && version < 5) || (version < 3 && work.group.identifies_a_member()) {
            return None;
        }
        let identity = self.identity?;
        let mut by_topic: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, offset) in work
            .offsets
            .iter()
            .filter(|(tp, _)| work.unacked.contains(*tp))
        {
            // The leader epoch is ignorable before v2: Java drops it there too.
            let leader_epoch = offset.leader_epoch.filter(|_| version >= 2).unwrap_or(-1);
            by_topic.entry(tp.topic.as_str()).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(offset.offset)
                    .with_committed_leader_epoch(leader_epoch)
                    .with_committed_metadata(Some(str_bytes(&offset.metadata))),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(partitions)
            })
            .collect();
        let group = &work.group;
        let mut request = TxnOffsetCommitRequest::default()
            .with_transactional_id(self.transactional_id())
            .with_group_id(GroupId(str_bytes(&group.group_id)))
            .with_producer_id(ProducerId(identity.producer_id))
            .with_producer_epoch(identity.epoch)
            .with_topics(topics);
        if version >= 3 {
            request = request
                .with_generation_id(group.generation_id)
                .with_member_id(str_bytes(&group.member_id))
                .with_group_instance_id(group.group_instance_id.as_deref().map(str_bytes));
        }
        Some((Request::TxnOffsetCommit(request), version))
    }
}
