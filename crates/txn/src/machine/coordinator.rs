//! Coordinator-bound requests: FindCoordinator, InitProducerId, AddPartitionsToTxn, EndTxn.
//!
//! At most one is in flight, chosen by priority FindCoordinator > InitProducerId >
//! AddPartitions > EndTxn (txn-reference §1.2). EndTxn waits until every batch finished.

use std::collections::BTreeMap;
use std::time::Instant;

use kafkatx_wire::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafkatx_wire::protocol::messages::{
    AddPartitionsToTxnRequest, ApiKey, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ProducerId, TopicName, TransactionalId,
};
use kafkatx_wire::protocol::protocol::StrBytes;

use super::versions::{ADD_PARTITIONS_CAP, END_TXN_CAP_TV1, FIND_COORDINATOR_CAP};
use super::{CoordInFlight, CoordKind, TxnMachine};
use crate::classify::Recovery;
use crate::error::TxnError;
use crate::metrics::Counter;
use crate::state::TxnState;
use crate::types::{Destination, Request, TopicPartition};

fn str_bytes(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl TxnMachine {
    fn coordinator_destination(&self) -> Option<Destination> {
        self.coordinator.as_ref().map(|c| Destination::Broker {
            node_id: c.node_id,
            address: c.address.clone(),
        })
    }

    /// What the coordinator must be asked next, if anything.
    fn next_coordinator_work(&mut self) -> Option<CoordKind> {
        match self.state {
            TxnState::Initializing => Some(CoordKind::InitProducerId),
            TxnState::InTransaction if !self.txn.tv2 && !self.txn.to_add.is_empty() => Some(
                CoordKind::AddPartitions(self.txn.to_add.iter().cloned().collect()),
            ),
            TxnState::Committing => {
                if !self.txn.tv2 && !self.txn.to_add.is_empty() {
                    return Some(CoordKind::AddPartitions(
                        self.txn.to_add.iter().cloned().collect(),
                    ));
                }
                if !self.accumulator.is_empty() {
                    return None;
                }
                if self.txn.started {
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
                if !self.txn.tv2 && !self.txn.to_add.is_empty() {
                    return Some(CoordKind::AddPartitions(
                        self.txn.to_add.iter().cloned().collect(),
                    ));
                }
                if self.txn.recovery == Recovery::Reinit {
                    self.init_bump = true;
                    self.transition(TxnState::Initializing);
                    return Some(CoordKind::InitProducerId);
                }
                if self.txn.started {
                    Some(CoordKind::EndTxn { commit: false })
                } else {
                    self.finish_transaction(false);
                    None
                }
            }
            _ => None,
        }
    }

    pub(super) fn maybe_send_coordinator_request(&mut self, now: Instant) {
        if self.coord_request.is_some() || self.coord_retry_at.is_some_and(|at| now < at) {
            return;
        }
        self.coord_retry_at = None;
        let Some(kind) = self.next_coordinator_work() else {
            return;
        };
        let transactional = self.is_transactional();
        let kind = if transactional && self.coordinator.is_none() {
            CoordKind::FindCoordinator
        } else {
            kind
        };
        let destination = if transactional && kind != CoordKind::FindCoordinator {
            match self.coordinator_destination() {
                Some(destination) => destination,
                None => return,
            }
        } else {
            Destination::AnyBroker
        };
        let built = match &kind {
            CoordKind::FindCoordinator => self.find_coordinator_request(),
            CoordKind::InitProducerId => self.init_producer_id_request(&destination),
            CoordKind::AddPartitions(partitions) => {
                self.add_partitions_request(&destination, partitions)
            }
            CoordKind::EndTxn { commit } => self.end_txn_request(&destination, *commit),
        };
        let Some((request, version)) = built else {
            self.enter_fatal(TxnError::Fatal {
                code: 35,
                reason: format!("the broker supports no usable version for {kind:?}"),
            });
            return;
        };
        if kind == CoordKind::FindCoordinator {
            self.metrics.incr(Counter::CoordinatorLookups);
        }
        let id = self.next_id();
        tracing::debug!(parent: &self.txn_span, ?kind, version, "coordinator request");
        self.coord_request = Some(CoordInFlight { id, kind });
        self.emit_transmit(id, destination, request, version);
    }

    fn transactional_id(&self) -> TransactionalId {
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
        let cap = if self.txn.tv2 {
            None
        } else {
            Some(END_TXN_CAP_TV1)
        };
        let version = self.versions.negotiate(destination, ApiKey::EndTxn, cap)?;
        if self.txn.tv2 && version < 5 {
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
