//! Coordinator-bound requests: FindCoordinator, InitProducerId, AddPartitionsToTxn, EndTxn,
//! and the slot they share with the offsets of `send_offsets` (built in `offsets_requests.rs`).
//!
//! At most one is in flight, chosen by priority FindCoordinator > InitProducerId >
//! AddPartitions > offsets > EndTxn (the `Priority` order of Java's `TransactionManager`
//! request queue). EndTxn waits until every batch
//! finished and the offsets are committed.

use std::collections::BTreeMap;
use std::time::Instant;

use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafkatx_wire::protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ProducerId, TopicName, TransactionalId,
};
use kafkatx_wire::protocol::protocol::StrBytes;

use super::versions::{ADD_PARTITIONS_CAP, END_TXN_CAP_TV1, FIND_COORDINATOR_CAP};
use super::{CoordKind, TxnMachine};
use crate::classify::Recovery;
use crate::error::TxnError;
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{Destination, Request, TopicPartition};

pub(super) fn str_bytes(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl TxnMachine {
    /// What the coordinator must be asked next, if anything.
    fn next_coordinator_work(&mut self, now: Instant) -> Option<CoordKind> {
        match self.state {
            TxnState::Initializing => Some(CoordKind::InitProducerId),
            TxnState::InTransaction => self
                .partitions_to_add(now)
                .or_else(|| self.next_offsets_work()),
            TxnState::Committing => {
                // Offsets go before EndTxn: the commit must include them (Java's priorities).
                if let Some(work) = self
                    .partitions_to_add(now)
                    .or_else(|| self.next_offsets_work())
                {
                    return Some(work);
                }
                if !self.accumulator.is_empty() {
                    return None;
                }
                if self.txn.started() {
                    Some(CoordKind::EndTxn { commit: true })
                } else {
                    // An empty transaction sends nothing (Java `nextRequest`).
                    self.finish_transaction(true);
                    None
                }
            }
            TxnState::Aborting => {
                if self.accumulator.has_sent() {
                    return None;
                }
                if let Some(work) = self
                    .partitions_to_add(now)
                    .or_else(|| self.group_to_add_again())
                {
                    return Some(work);
                }
                if self.txn.recovery() == Recovery::Reinit {
                    self.init_bump = true;
                    self.transition(TxnState::Initializing);
                    return Some(CoordKind::InitProducerId);
                }
                if self.txn.started() {
                    Some(CoordKind::EndTxn { commit: false })
                } else {
                    self.finish_transaction(false);
                    None
                }
            }
            _ => None,
        }
    }

    /// TV1: partitions waiting for AddPartitionsToTxn. The transaction's first one waits for
    /// the settle pause after the previous transaction (`settle.rs`).
    fn partitions_to_add(&mut self, now: Instant) -> Option<CoordKind> {
        let partitions = self.txn.partitions_to_add()?;
        if self.txn.first_add_pending() && !self.settle.may_send_first(now) {
            return None;
        }
        Some(CoordKind::AddPartitions(partitions))
    }

    /// Where a coordinator request goes; `None` while that coordinator is unknown.
    fn destination_of(&self, kind: &CoordKind) -> Option<Destination> {
        let broker = match kind {
            CoordKind::FindCoordinator | CoordKind::FindGroupCoordinator { .. } => {
                return Some(Destination::AnyBroker);
            }
            // An idempotent producer gets its id from any broker.
            CoordKind::InitProducerId if !self.is_transactional() => {
                return Some(Destination::AnyBroker);
            }
            CoordKind::TxnOffsetCommit { group } => self.group_coordinators.get(group)?,
            CoordKind::InitProducerId
            | CoordKind::AddPartitions(_)
            | CoordKind::AddOffsets { .. }
            | CoordKind::EndTxn { .. } => self.coord.broker()?,
        };
        Some(Destination::Broker {
            node_id: broker.node_id,
            address: broker.address.clone(),
        })
    }

    pub(super) fn maybe_send_coordinator_request(&mut self, now: Instant) {
        if !self.coord.open(now) {
            return;
        }
        let Some(kind) = self.next_coordinator_work(now) else {
            return;
        };
        // The transaction coordinator comes first whatever the work (Java's priorities).
        let kind = if self.is_transactional() && self.coord.broker().is_none() {
            CoordKind::FindCoordinator
        } else {
            kind
        };
        let Some(destination) = self.destination_of(&kind) else {
            return;
        };
        let built = match &kind {
            CoordKind::FindCoordinator => self.find_coordinator_request(),
            CoordKind::InitProducerId => self.init_producer_id_request(&destination),
            CoordKind::AddPartitions(partitions) => {
                self.add_partitions_request(&destination, partitions)
            }
            CoordKind::FindGroupCoordinator { group } => self.find_group_coordinator_request(group),
            CoordKind::AddOffsets { group } => self.add_offsets_request(&destination, group),
            CoordKind::TxnOffsetCommit { .. } => self.txn_offset_commit_request(&destination),
            CoordKind::EndTxn { commit } => self.end_txn_request(&destination, *commit),
        };
        let Some((request, version)) = built else {
            self.enter_fatal(TxnError::Fatal {
                code: ResponseError::UnsupportedVersion.code(),
                reason: format!("the broker supports no usable version for {kind:?}"),
            });
            return;
        };
        if matches!(
            kind,
            CoordKind::FindCoordinator | CoordKind::FindGroupCoordinator { .. }
        ) {
            self.metrics.incr(Counter::CoordinatorLookups);
        }
        if matches!(kind, CoordKind::AddPartitions(_)) && self.txn.add_sent() {
            self.settle.first_request_sent(now);
        }
        let id = self.next_id();
        tracing::debug!(parent: &self.txn_span, ?kind, version, "coordinator request");
        self.coord.sent(id, kind);
        self.emit_transmit(id, destination, request, version);
    }

    pub(super) fn transactional_id(&self) -> TransactionalId {
        TransactionalId(str_bytes(
            self.config.transactional_id.as_deref().unwrap_or_default(),
        ))
    }

    fn find_coordinator_request(&self) -> Option<(Request, i16)> {
        let version = self
            .versions
            .negotiate_any(ApiKey::FindCoordinator, Some(FIND_COORDINATOR_CAP))?;
        // Version 0 has no key type and would look up a group coordinator.
        if version < 1 {
            return None;
        }
        let request = FindCoordinatorRequest::default()
            .with_key(str_bytes(
                self.config.transactional_id.as_deref().unwrap_or_default(),
            ))
            .with_key_type(1);
        Some((Request::FindCoordinator(request), version))
    }

    fn init_producer_id_request(&self, destination: &Destination) -> Option<(Request, i16)> {
        let version = self
            .versions
            .negotiate(destination, ApiKey::InitProducerId, None)?;
        let timeout_ms =
            i32::try_from(self.config.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
        let mut request = InitProducerIdRequest::default().with_transaction_timeout_ms(timeout_ms);
        request.transactional_id = self.is_transactional().then(|| self.transactional_id());
        if let (true, true, Some(identity)) = (self.init_bump, version >= 3, self.identity) {
            request.producer_id = ProducerId(identity.producer_id);
            request.producer_epoch = identity.epoch;
        }
        Some((Request::InitProducerId(request), version))
    }

    fn add_partitions_request(
        &self,
        destination: &Destination,
        partitions: &[TopicPartition],
    ) -> Option<(Request, i16)> {
        let version = self.versions.negotiate(
            destination,
            ApiKey::AddPartitionsToTxn,
            Some(ADD_PARTITIONS_CAP),
        )?;
        let identity = self.identity?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic
                .entry(tp.topic.as_str())
                .or_default()
                .push(tp.partition);
        }
        let topics = by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(partitions)
            })
            .collect();
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.transactional_id())
            .with_v3_and_below_producer_id(ProducerId(identity.producer_id))
            .with_v3_and_below_producer_epoch(identity.epoch)
            .with_v3_and_below_topics(topics);
        Some((Request::AddPartitionsToTxn(request), version))
    }

    fn end_txn_request(&self, destination: &Destination, commit: bool) -> Option<(Request, i16)> {
        let cap = if self.txn.tv2() {
            None
        } else {
            Some(END_TXN_CAP_TV1)
        };
        let version = self.versions.negotiate(destination, ApiKey::EndTxn, cap)?;
        if self.txn.tv2() && version < 5 {
            return None;
        }
        let identity = self.identity?;
        let request = EndTxnRequest::default()
            .with_transactional_id(self.transactional_id())
            .with_producer_id(ProducerId(identity.producer_id))
            .with_producer_epoch(identity.epoch)
            .with_committed(commit);
        Some((Request::EndTxn(request), version))
    }
}
