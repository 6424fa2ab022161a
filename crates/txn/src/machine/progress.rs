//! What the current transaction has done so far, as far as its coordinator may know: which
//! partitions and consumer groups joined it, which requests were sent but never answered,
//! and how an abort of it must recover. A new `TxnProgress` starts with every transaction.
//!
//! The machine asks it questions (may records of this partition go out? does ending need an
//! EndTxn?) and tells it what happened (a partition was acknowledged, an answer was lost);
//! it never edits the sets directly. Which protocol the transaction speaks (classic, or
//! KIP-890's "transaction version 2") is fixed here for its whole life: the machine only
//! changes it at a transaction boundary.

use std::collections::BTreeSet;

use super::offsets_requests::OffsetsCommit;
use crate::classify::Recovery;
use crate::types::TopicPartition;

/// The progress of one transaction. See the module documentation.
#[derive(Debug, Clone)]
pub(super) struct TxnProgress {
    /// KIP-890 protocol for this transaction.
    tv2: bool,
    /// Something may exist on the coordinator side, so ending needs an EndTxn.
    started: bool,
    /// Classic: partitions the coordinator acknowledged. KIP-890: partitions written to.
    added: BTreeSet<TopicPartition>,
    /// Classic: partitions waiting for AddPartitionsToTxn.
    to_add: BTreeSet<TopicPartition>,
    /// How the next abort recovers; only ever raised (see `escalate`).
    recovery: Recovery,
    /// Classic: an AddPartitionsToTxn answer was lost and no later answer settled it.
    add_unconfirmed: bool,
    /// The latest `send_offsets` call of this transaction, finished or not.
    offsets: Option<OffsetsCommit>,
    /// Groups whose offsets partition the coordinator acknowledged (AddOffsetsToTxn).
    groups_added: BTreeSet<String>,
    /// Groups whose AddOffsetsToTxn answer was lost: an abort adds them again before its
    /// EndTxn, as for partitions.
    groups_unconfirmed: BTreeSet<String>,
    /// An EndTxn(commit) was sent and its answer lost: it may have been applied, so a later
    /// refusal of the resent one does not prove the commit failed.
    commit_maybe_applied: bool,
    /// The first request that asks the coordinator to add partitions (classic:
    /// AddPartitionsToTxn; KIP-890: the first Produce) was sent; see `settle.rs`.
    first_add_sent: bool,
}

/// How hard a recovery is: an abort's recovery can only get harder.
fn severity(recovery: Recovery) -> u8 {
    match recovery {
        Recovery::EndTxn => 0,
        Recovery::EndTxnThenBump => 1,
        Recovery::Reinit => 2,
    }
}

impl TxnProgress {
    /// A transaction that has done nothing yet, on the KIP-890 protocol if `tv2`.
    pub(super) fn new(tv2: bool) -> Self {
        Self {
            tv2,
            started: false,
            added: BTreeSet::new(),
            to_add: BTreeSet::new(),
            recovery: Recovery::EndTxn,
            add_unconfirmed: false,
            offsets: None,
            groups_added: BTreeSet::new(),
            groups_unconfirmed: BTreeSet::new(),
            commit_maybe_applied: false,
            first_add_sent: false,
        }
    }

    /// Whether this transaction uses the KIP-890 protocol.
    pub(super) fn tv2(&self) -> bool {
        self.tv2
    }

    /// Whether the coordinator may hold something of this transaction, so that ending it
    /// needs an EndTxn (an empty transaction ends without a request, as in Java).
    pub(super) fn started(&self) -> bool {
        self.started
    }

    /// Something may now exist on the coordinator side.
    pub(super) fn mark_started(&mut self) {
        self.started = true;
    }

    /// How the next abort recovers.
    pub(super) fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// Raises the recovery to `recovery` if that is harder than the current one; an easier
    /// one never replaces a harder one (a fence seen first still needs its re-init).
    pub(super) fn escalate(&mut self, recovery: Recovery) {
        if severity(recovery) > severity(self.recovery) {
            self.recovery = recovery;
        }
    }

    // ----- partitions -----

    /// A record of this transaction was routed to `tp`. KIP-890: the partition leader adds
    /// the partition, so the transaction counts as started as soon as a send is attempted
    /// (Java's `TransactionManager.maybeAddPartition` under transaction version 2). Classic:
    /// the partition waits for AddPartitionsToTxn unless already acknowledged.
    pub(super) fn record_routed(&mut self, tp: &TopicPartition) {
        if self.tv2 {
            self.started = true;
            self.added.insert(tp.clone());
        } else if !self.added.contains(tp) {
            self.to_add.insert(tp.clone());
        }
    }

    /// Whether records of `tp` may be produced: always under KIP-890; classic, once the
    /// coordinator acknowledged the partition.
    pub(super) fn may_produce_to(&self, tp: &TopicPartition) -> bool {
        self.tv2 || self.added.contains(tp)
    }

    /// Classic: the partitions an AddPartitionsToTxn must add now, if any.
    pub(super) fn partitions_to_add(&self) -> Option<Vec<TopicPartition>> {
        if self.tv2 || self.to_add.is_empty() {
            return None;
        }
        Some(self.to_add.iter().cloned().collect())
    }

    /// An AddPartitionsToTxn was answered (whatever the answer): the coordinator's view of
    /// the partitions is known again.
    pub(super) fn add_answered(&mut self) {
        self.add_unconfirmed = false;
    }

    /// The coordinator acknowledged `tp`.
    pub(super) fn partition_added(&mut self, tp: &TopicPartition) {
        self.to_add.remove(tp);
        self.added.insert(tp.clone());
        self.started = true;
    }

    /// An AddPartitionsToTxn answer was lost: the coordinator may hold the partitions, so an
    /// abort adds them again before its EndTxn (or the EndTxn could hit an empty, and on the
    /// classic protocol invalid, transaction).
    pub(super) fn add_lost(&mut self) {
        self.add_unconfirmed = true;
    }

    /// Whether the first request that adds partitions is still to be sent.
    pub(super) fn first_add_pending(&self) -> bool {
        !self.first_add_sent
    }

    /// A request that adds partitions is being sent; true if it is the transaction's first.
    pub(super) fn add_sent(&mut self) -> bool {
        !std::mem::replace(&mut self.first_add_sent, true)
    }

    // ----- ending -----

    /// The transaction failed: nothing more joins it, not even again after a lost answer.
    pub(super) fn stop_joining(&mut self) {
        self.to_add.clear();
        self.groups_unconfirmed.clear();
    }

    /// An abort begins. Partitions never added are dropped, unless an add's answer was lost
    /// (the coordinator may hold them, and the abort must add them again); offsets not yet
    /// sent are moot, and EndTxn discards whatever the group coordinator holds.
    pub(super) fn abort_started(&mut self) {
        if !self.add_unconfirmed {
            self.to_add.clear();
        }
        self.offsets = None;
    }

    /// An EndTxn(commit) answer was lost: the commit may have been applied.
    pub(super) fn commit_lost(&mut self) {
        self.commit_maybe_applied = true;
    }

    /// Whether an EndTxn(commit) of this transaction may have been applied unanswered.
    pub(super) fn commit_maybe_applied(&self) -> bool {
        self.commit_maybe_applied
    }

    // ----- consumer offsets (`send_offsets`) -----

    /// The latest `send_offsets` call, finished or not.
    pub(super) fn offsets(&self) -> Option<&OffsetsCommit> {
        self.offsets.as_ref()
    }

    /// The latest `send_offsets` call, to record its answers.
    pub(super) fn offsets_mut(&mut self) -> Option<&mut OffsetsCommit> {
        self.offsets.as_mut()
    }

    /// A `send_offsets` call replaces the previous one.
    pub(super) fn set_offsets(&mut self, offsets: OffsetsCommit) {
        self.offsets = Some(offsets);
    }

    /// Whether `group`'s offsets partition still needs AddOffsetsToTxn.
    pub(super) fn group_needs_add(&self, group: &str) -> bool {
        !self.groups_added.contains(group)
    }

    /// The coordinator acknowledged `group`'s offsets partition (AddOffsetsToTxn).
    pub(super) fn group_added(&mut self, group: &str) {
        self.groups_unconfirmed.remove(group);
        self.groups_added.insert(group.to_owned());
        self.started = true;
    }

    /// An AddOffsetsToTxn answer for `group` was lost: an abort adds the group again first.
    pub(super) fn group_add_lost(&mut self, group: &str) {
        self.groups_unconfirmed.insert(group.to_owned());
    }

    /// A group an abort must add again before its EndTxn. None when the abort re-initialises
    /// instead: that aborts whatever is open anyway.
    pub(super) fn group_to_add_again(&self) -> Option<&str> {
        if self.recovery == Recovery::Reinit {
            return None;
        }
        self.groups_unconfirmed.first().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(partition: i32) -> TopicPartition {
        TopicPartition::new("t", partition)
    }

    #[test]
    fn classic_partitions_wait_for_the_coordinator() {
        let mut progress = TxnProgress::new(false);
        progress.record_routed(&tp(0));
        progress.record_routed(&tp(1));
        assert!(!progress.started());
        assert!(!progress.may_produce_to(&tp(0)));
        assert_eq!(progress.partitions_to_add(), Some(vec![tp(0), tp(1)]));

        progress.partition_added(&tp(0));
        assert!(progress.started());
        assert!(progress.may_produce_to(&tp(0)));
        assert_eq!(progress.partitions_to_add(), Some(vec![tp(1)]));

        // A partition already added does not wait again.
        progress.record_routed(&tp(0));
        assert_eq!(progress.partitions_to_add(), Some(vec![tp(1)]));
        progress.partition_added(&tp(1));
        assert_eq!(progress.partitions_to_add(), None);
    }

    #[test]
    fn kip_890_partitions_go_out_at_once_and_start_the_transaction() {
        let mut progress = TxnProgress::new(true);
        assert!(progress.may_produce_to(&tp(0)));
        progress.record_routed(&tp(0));
        assert!(progress.started());
        assert_eq!(progress.partitions_to_add(), None);
    }

    #[test]
    fn an_abort_keeps_partitions_whose_add_answer_was_lost() {
        let mut dropped = TxnProgress::new(false);
        dropped.record_routed(&tp(0));
        dropped.abort_started();
        assert_eq!(dropped.partitions_to_add(), None);

        let mut kept = TxnProgress::new(false);
        kept.record_routed(&tp(0));
        kept.add_lost();
        kept.abort_started();
        assert_eq!(kept.partitions_to_add(), Some(vec![tp(0)]));

        // Any later answer settles what the lost one left open.
        kept.add_answered();
        kept.abort_started();
        assert_eq!(kept.partitions_to_add(), None);
    }

    #[test]
    fn a_failed_transaction_takes_no_new_members() {
        let mut progress = TxnProgress::new(false);
        progress.record_routed(&tp(0));
        progress.group_add_lost("g");
        progress.stop_joining();
        assert_eq!(progress.partitions_to_add(), None);
        assert_eq!(progress.group_to_add_again(), None);
    }

    #[test]
    fn recovery_only_gets_harder() {
        let mut progress = TxnProgress::new(false);
        assert_eq!(progress.recovery(), Recovery::EndTxn);
        progress.escalate(Recovery::Reinit);
        progress.escalate(Recovery::EndTxnThenBump);
        progress.escalate(Recovery::EndTxn);
        assert_eq!(progress.recovery(), Recovery::Reinit);

        let mut progress = TxnProgress::new(false);
        progress.escalate(Recovery::EndTxnThenBump);
        assert_eq!(progress.recovery(), Recovery::EndTxnThenBump);
    }

    #[test]
    fn groups_lost_are_added_again_unless_the_abort_reinitialises() {
        let mut progress = TxnProgress::new(false);
        assert!(progress.group_needs_add("g"));
        progress.group_add_lost("g");
        assert_eq!(progress.group_to_add_again(), Some("g"));
        assert!(!progress.started());

        progress.group_added("g");
        assert!(progress.started());
        assert!(!progress.group_needs_add("g"));
        assert_eq!(progress.group_to_add_again(), None);

        progress.group_add_lost("h");
        progress.escalate(Recovery::Reinit);
        assert_eq!(progress.group_to_add_again(), None);
    }

    #[test]
    fn only_the_first_add_is_first() {
        let mut progress = TxnProgress::new(true);
        assert!(progress.first_add_pending());
        assert!(progress.add_sent());
        assert!(!progress.first_add_pending());
        assert!(!progress.add_sent());
    }

    #[test]
    fn a_lost_commit_answer_leaves_the_commit_in_doubt() {
        let mut progress = TxnProgress::new(true);
        assert!(!progress.commit_maybe_applied());
        progress.commit_lost();
        assert!(progress.commit_maybe_applied());
    }
}
