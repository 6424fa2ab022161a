//! Answers to the requests of `send_offsets` (FindCoordinator for the group, AddOffsetsToTxn,
//! TxnOffsetCommit), acted on through the one classification table.

use std::collections::BTreeMap;
use std::time::Instant;

use kafkatx_wire::protocol::messages::{
    AddOffsetsToTxnResponse, FindCoordinatorResponse, TxnOffsetCommitResponse,
};

use super::TxnMachine;
use crate::classify::{Disposition, Failure, RequestKind, classify};
use crate::error::Operation;
use crate::metadata::Broker;
use crate::types::TopicPartition;

/// COORDINATOR_NOT_AVAILABLE, for an answer that names no usable coordinator.
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

impl TxnMachine {
    pub(super) fn on_group_coordinator(
        &mut self,
        now: Instant,
        group: &str,
        resp: &FindCoordinatorResponse,
    ) {
        let code = match (resp.error_code, resp.node_id.0) {
            (0, node) if node < 0 => COORDINATOR_NOT_AVAILABLE,
            (code, _) => code,
        };
        if code != 0 {
            self.apply_coordinator_disposition(
                now,
                RequestKind::FindCoordinator,
                Failure::Code(code),
            );
            return;
        }
        let address = format!("{}:{}", resp.host.as_str(), resp.port);
        tracing::debug!(group, node_id = resp.node_id.0, %address, "group coordinator found");
        self.group_coordinators.insert(
            group.to_owned(),
            Broker {
                node_id: resp.node_id.0,
                address,
            },
        );
        self.coord.succeeded();
    }

    pub(super) fn on_add_offsets(
        &mut self,
        now: Instant,
        group: &str,
        resp: &AddOffsetsToTxnResponse,
    ) {
        if resp.error_code != 0 {
            self.apply_coordinator_disposition(
                now,
                RequestKind::AddOffsetsToTxn,
                Failure::Code(resp.error_code),
            );
            return;
        }
        self.coord.succeeded();
        // The coordinator now holds a partition of this transaction: ending it needs EndTxn.
        self.txn.group_added(group);
    }

    /// Acknowledged partitions are done; the rest are retried, or the worst error decides
    /// (Java stops at the first abortable or fatal one; the worst is the same verdict without
    /// depending on the answer's order).
    pub(super) fn on_txn_offset_commit(
        &mut self,
        now: Instant,
        group: &str,
        resp: &TxnOffsetCommitResponse,
    ) {
        let context = self.context();
        // Gone after an abort took over: its EndTxn discards whatever was written.
        let Some(work) = self.txn.offsets_mut().filter(|w| w.group.group_id == group) else {
            return;
        };
        let mut errors = BTreeMap::new();
        for topic in &resp.topics {
            for partition in &topic.partitions {
                let tp = TopicPartition::new(topic.name.0.as_str(), partition.partition_index);
                if partition.error_code == 0 {
                    work.unacked.remove(&tp);
                } else if work.unacked.contains(&tp) {
                    errors.insert(tp, partition.error_code);
                }
            }
        }
        let done = work.unacked.is_empty();
        let rank = |code: i16| match classify(
            RequestKind::TxnOffsetCommit,
            Failure::Code(code),
            context,
        ) {
            Disposition::Fenced | Disposition::Fatal => 3,
            Disposition::Abortable(_) => 2,
            Disposition::RefindCoordinator => 1,
            _ => 0,
        };
        let worst = errors.values().copied().max_by_key(|code| rank(*code));
        match worst {
            Some(code) => self.apply_group_disposition(
                now,
                RequestKind::TxnOffsetCommit,
                Failure::Code(code),
                group,
            ),
            None if done => {
                tracing::debug!(parent: &self.txn_span, group, "offsets sent to the transaction");
                self.coord.succeeded();
                self.complete_op(Operation::SendOffsets, Ok(()));
            }
            // The broker skipped some of our partitions: ask again for those.
            None => self.schedule_coordinator_retry(now, false),
        }
    }

    /// Like `apply_coordinator_disposition`, except that a coordinator that moved is the
    /// group's, not the transaction's.
    pub(super) fn apply_group_disposition(
        &mut self,
        now: Instant,
        kind: RequestKind,
        failure: Failure,
        group: &str,
    ) {
        if classify(kind, failure, self.context()) == Disposition::RefindCoordinator {
            tracing::debug!(parent: &self.txn_span, group, ?failure, "group coordinator moved");
            self.group_coordinators.remove(group);
            self.schedule_coordinator_retry(now, false);
            return;
        }
        self.apply_coordinator_disposition(now, kind, failure);
    }
}
