//! The AddOffsetsToTxn and TxnOffsetCommit rows of the classification table (and the group
//! lookup's), exercised through the machine against the fake cluster; plus lost answers and
//! older brokers.

use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::*;
use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890, TxnStatus};
use super::harness::{Harness, TXN_ID, txn_config};
use super::scenarios_offsets::lookups;
use crate::consumer_group::ConsumerGroupMetadata;
use crate::error::{Operation, TxnError};
use crate::state::TxnState;
use crate::types::Request;

fn harness(transaction_version: i16) -> Harness {
    let mut h = Harness::brokers(2, txn_config(), transaction_version);
    h.cluster.move_group_coordinator(1);
    h.init_ok();
    h
}

/// begin, a record, and offsets for group "g"; settles and returns send_offsets' result.
fn offsets_transaction(h: &mut Harness, offset: i64) -> Option<Result<(), TxnError>> {
    h.clear_events();
    h.m.begin(h.now).unwrap();
    h.send(0, &format!("out-{offset}"));
    h.send_offsets("g", &[("in", 0, offset)]).unwrap();
    h.settle();
    h.op_result(Operation::SendOffsets)
}

fn commit(h: &mut Harness) -> Option<Result<(), TxnError>> {
    h.clear_events();
    h.m.commit(h.now).unwrap();
    h.settle();
    h.op_result(Operation::Commit)
}

/// The failed transaction must be aborted; its offsets never commit; the next one does.
fn assert_abortable_then_recovers(h: &mut Harness, code: i16) {
    assert_eq!(h.m.state(), TxnState::AbortableError, "code {code}");
    assert!(h.m.commit(h.now).unwrap_err().requires_abort());
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())), "code {code}");
    assert_eq!(
        h.cluster.committed_offset("g", "in", 0),
        None,
        "code {code}"
    );
    assert_eq!(offsets_transaction(h, 9), Some(Ok(())), "code {code}");
    assert_eq!(commit(h), Some(Ok(())), "code {code}");
    assert_eq!(
        h.cluster.committed_offset("g", "in", 0),
        Some(9),
        "code {code}"
    );
}

#[test]
fn txn_offset_commit_membership_and_authorization_errors_are_abortable() {
    // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION (CommitFailed), FENCED_INSTANCE_ID,
    // GROUP_AUTHORIZATION_FAILED, TRANSACTION_ABORTABLE.
    for tv in [CLASSIC, KIP_890] {
        for code in [
            UNKNOWN_MEMBER_ID,
            ILLEGAL_GENERATION,
            FENCED_INSTANCE_ID,
            GROUP_AUTHORIZATION_FAILED,
            TRANSACTION_ABORTABLE,
        ] {
            let mut h = harness(tv);
            h.cluster
                .inject(ApiKey::TxnOffsetCommit, Fault::Error(code));
            let result = offsets_transaction(&mut h, 1);
            assert!(
                matches!(result, Some(Err(TxnError::Abortable { code: c, .. })) if c == code),
                "tv{tv} code {code}: {result:?}"
            );
            assert_abortable_then_recovers(&mut h, code);
        }
    }
}

#[test]
fn a_zombie_group_member_is_fenced_by_the_group_coordinator() {
    let mut h = harness(KIP_890);
    h.cluster.set_group_generation("g", 5);
    h.m.begin(h.now).unwrap();
    h.send(0, "zombie-output");
    let zombie = ConsumerGroupMetadata::new("g")
        .with_member(4, "member-1")
        .with_group_instance_id("instance-1");
    h.send_offsets_as(zombie, &[("in", 0, 100)]).unwrap();
    h.settle();
    assert!(matches!(
        h.op_result(Operation::SendOffsets),
        Some(Err(TxnError::Abortable {
            code: ILLEGAL_GENERATION,
            ..
        }))
    ));
    let commits = h.cluster.received_of(ApiKey::TxnOffsetCommit);
    let (_, Request::TxnOffsetCommit(request), version) = &commits[0] else {
        unreachable!()
    };
    assert!(*version >= 3);
    assert_eq!(request.generation_id, 4);
    assert_eq!(request.member_id.as_str(), "member-1");
    assert_eq!(request.group_instance_id.as_deref(), Some("instance-1"));
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.committed()[0],
        Vec::<String>::new(),
        "its output is aborted too"
    );

    h.clear_events();
    h.m.begin(h.now).unwrap();
    let current = ConsumerGroupMetadata::new("g").with_member(5, "member-1");
    h.send_offsets_as(current, &[("in", 0, 100)]).unwrap();
    h.settle();
    assert_eq!(commit(&mut h), Some(Ok(())));
    assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(100));
}

#[test]
fn txn_offset_commit_retriable_errors_are_retried_on_the_same_coordinator() {
    // COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, UNKNOWN_TOPIC_OR_PARTITION.
    for code in [
        COORDINATOR_LOAD_IN_PROGRESS,
        CONCURRENT_TRANSACTIONS,
        UNKNOWN_TOPIC_OR_PARTITION,
    ] {
        let mut h = harness(KIP_890);
        h.cluster
            .inject(ApiKey::TxnOffsetCommit, Fault::Error(code));
        assert_eq!(offsets_transaction(&mut h, 3), Some(Ok(())), "code {code}");
        assert_eq!(h.cluster.received_of(ApiKey::TxnOffsetCommit).len(), 2);
        assert_eq!(lookups(&h, 0), 1, "code {code}: no new lookup");
        assert_eq!(commit(&mut h), Some(Ok(())));
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(3));
    }
}

#[test]
fn txn_offset_commit_coordinator_errors_look_the_group_coordinator_up_again() {
    // NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT; and a lost answer.
    for fault in [
        Fault::Error(NOT_COORDINATOR),
        Fault::Error(COORDINATOR_NOT_AVAILABLE),
        Fault::Error(REQUEST_TIMED_OUT),
        Fault::LoseReply,
    ] {
        let mut h = harness(CLASSIC);
        h.cluster.inject(ApiKey::TxnOffsetCommit, fault);
        assert_eq!(offsets_transaction(&mut h, 4), Some(Ok(())), "{fault:?}");
        assert_eq!(lookups(&h, 0), 2, "{fault:?}");
        assert_eq!(
            lookups(&h, 1),
            1,
            "{fault:?}: the transaction coordinator stays"
        );
        assert_eq!(commit(&mut h), Some(Ok(())));
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(4));
    }
}

#[test]
fn only_the_partitions_that_failed_are_sent_again() {
    let mut h = harness(KIP_890);
    h.cluster
        .fail_offset_commit_once("in", 1, COORDINATOR_LOAD_IN_PROGRESS);
    h.m.begin(h.now).unwrap();
    h.send_offsets("g", &[("in", 0, 10), ("in", 1, 11), ("other", 0, 12)])
        .unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::SendOffsets), Some(Ok(())));
    let commits = h.cluster.received_of(ApiKey::TxnOffsetCommit);
    assert_eq!(commits.len(), 2);
    let Request::TxnOffsetCommit(retry) = &commits[1].1 else {
        unreachable!()
    };
    let sent: Vec<(&str, i32)> = retry
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.as_str(), p.partition_index))
        })
        .collect();
    assert_eq!(sent, vec![("in", 1)]);
    assert_eq!(commit(&mut h), Some(Ok(())));
    assert_eq!(h.cluster.committed_offset("g", "in", 1), Some(11));
    assert_eq!(h.cluster.committed_offset("g", "other", 0), Some(12));
}

#[test]
fn txn_offset_commit_fencing_and_authorization_errors_are_fatal() {
    for (code, expected_fenced) in [
        (PRODUCER_FENCED, true),
        (INVALID_PRODUCER_EPOCH, true),
        (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, false),
        (UNSUPPORTED_FOR_MESSAGE_FORMAT, false),
    ] {
        let mut h = harness(CLASSIC);
        h.cluster
            .inject(ApiKey::TxnOffsetCommit, Fault::Error(code));
        let result = offsets_transaction(&mut h, 1).unwrap().unwrap_err();
        assert_eq!(result == TxnError::Fenced, expected_fenced, "code {code}");
        assert!(result.is_fatal(), "code {code}: {result:?}");
        assert_eq!(h.m.state(), TxnState::FatalError);
    }
}

#[test]
fn a_group_lookup_refused_by_authorization_is_abortable() {
    let mut h = harness(KIP_890);
    h.cluster.inject(
        ApiKey::FindCoordinator,
        Fault::Error(GROUP_AUTHORIZATION_FAILED),
    );
    let result = offsets_transaction(&mut h, 1);
    assert!(matches!(
        result,
        Some(Err(TxnError::Abortable {
            code: GROUP_AUTHORIZATION_FAILED,
            ..
        }))
    ));
    assert_abortable_then_recovers(&mut h, 30);
}

#[test]
fn add_offsets_to_txn_rows() {
    // Retried: CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS.
    for code in [CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS] {
        let mut h = harness(CLASSIC);
        h.cluster
            .inject(ApiKey::AddOffsetsToTxn, Fault::Error(code));
        assert_eq!(offsets_transaction(&mut h, 2), Some(Ok(())), "code {code}");
        assert_eq!(h.cluster.received_of(ApiKey::AddOffsetsToTxn).len(), 2);
        assert_eq!(commit(&mut h), Some(Ok(())));
    }
    // The transaction coordinator moved: looked up again.
    let mut h = harness(CLASSIC);
    h.cluster
        .inject(ApiKey::AddOffsetsToTxn, Fault::Error(NOT_COORDINATOR));
    assert_eq!(offsets_transaction(&mut h, 2), Some(Ok(())));
    assert_eq!(lookups(&h, 1), 2);
    // Abortable: GROUP_AUTHORIZATION_FAILED, TRANSACTION_ABORTABLE, UNKNOWN_PRODUCER_ID.
    for code in [
        GROUP_AUTHORIZATION_FAILED,
        TRANSACTION_ABORTABLE,
        UNKNOWN_PRODUCER_ID,
    ] {
        let mut h = harness(CLASSIC);
        h.cluster
            .inject(ApiKey::AddOffsetsToTxn, Fault::Error(code));
        let result = offsets_transaction(&mut h, 2);
        assert!(
            matches!(result, Some(Err(TxnError::Abortable { code: c, .. })) if c == code),
            "code {code}: {result:?}"
        );
        assert!(h.cluster.received_of(ApiKey::TxnOffsetCommit).is_empty());
        assert_abortable_then_recovers(&mut h, code);
    }
    // Fatal: fenced, or a coordinator state we cannot explain.
    for (code, fenced) in [
        (PRODUCER_FENCED, true),
        (INVALID_PRODUCER_EPOCH, true),
        (INVALID_TXN_STATE, false),
        (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, false),
    ] {
        let mut h = harness(CLASSIC);
        h.cluster
            .inject(ApiKey::AddOffsetsToTxn, Fault::Error(code));
        let error = offsets_transaction(&mut h, 2).unwrap().unwrap_err();
        assert_eq!(error == TxnError::Fenced, fenced, "code {code}");
        assert_eq!(h.m.state(), TxnState::FatalError, "code {code}");
    }
}

#[test]
fn unknown_producer_id_on_add_offsets_bumps_the_epoch_when_aborting() {
    let mut h = harness(CLASSIC);
    let epoch = h.m.identity().unwrap().epoch;
    h.m.begin(h.now).unwrap();
    h.send(0, "out");
    // The record's partition is in the transaction first, so the abort needs an EndTxn.
    h.settle();
    h.cluster
        .inject(ApiKey::AddOffsetsToTxn, Fault::Error(UNKNOWN_PRODUCER_ID));
    h.send_offsets("g", &[("in", 0, 2)]).unwrap();
    h.settle();
    assert_eq!(h.m.state(), TxnState::AbortableError);
    h.clear_events();
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())));
    assert_eq!(h.cluster.received_of(ApiKey::EndTxn).len(), 1);
    assert_eq!(
        h.m.identity().unwrap().epoch,
        epoch + 1,
        "EndTxn, then a bump"
    );
}

#[test]
fn invalid_producer_id_mapping_on_add_offsets_recovers_by_reinitialising() {
    let mut h = harness(CLASSIC);
    h.cluster.inject(
        ApiKey::AddOffsetsToTxn,
        Fault::Error(INVALID_PRODUCER_ID_MAPPING),
    );
    let result = offsets_transaction(&mut h, 2);
    assert!(matches!(
        result,
        Some(Err(TxnError::Abortable {
            code: INVALID_PRODUCER_ID_MAPPING,
            ..
        }))
    ));
    let inits = h.cluster.received_of(ApiKey::InitProducerId).len();
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())));
    assert!(
        h.cluster.received_of(ApiKey::EndTxn).is_empty(),
        "the coordinator would refuse EndTxn"
    );
    assert_eq!(
        h.cluster.received_of(ApiKey::InitProducerId).len(),
        inits + 1
    );
    assert_eq!(h.cluster.txns[TXN_ID].status, TxnStatus::Empty);
}

#[test]
fn a_lost_add_offsets_answer_is_added_again_before_the_abort() {
    let config = txn_config().max_block(std::time::Duration::from_secs(1));
    let mut cluster = FakeCluster::new(2, CLASSIC);
    cluster.create_topic("t", 3);
    let mut h = Harness::with_cluster(config, cluster);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.cluster.inject(ApiKey::AddOffsetsToTxn, Fault::LoseReply);
    h.send_offsets("g", &[("in", 0, 1)]).unwrap();
    // The caller gives up before the answer is known lost (request.timeout.ms = 30 s).
    h.advance(std::time::Duration::from_secs(2));
    assert_eq!(
        h.op_result(Operation::SendOffsets),
        Some(Err(TxnError::Timeout {
            op: Operation::SendOffsets
        }))
    );
    assert_eq!(h.cluster.txns[TXN_ID].status, TxnStatus::Ongoing);
    // The abort waits for that answer (lost after request.timeout.ms), resumed past
    // max.block.ms.
    assert_eq!(h.run_op_resuming(Operation::Abort), Ok(()));
    assert_eq!(h.cluster.received_of(ApiKey::AddOffsetsToTxn).len(), 2);
    assert_eq!(h.cluster.received_of(ApiKey::EndTxn).len(), 1);
    assert_eq!(h.cluster.txns[TXN_ID].status, TxnStatus::CompleteAbort);
    assert!(h.cluster.received_of(ApiKey::TxnOffsetCommit).is_empty());
}

#[test]
fn a_kip890_cluster_without_txn_offset_commit_v5_adds_the_offsets_first() {
    let mut cluster = FakeCluster::new(2, KIP_890);
    cluster.create_topic("t", 3);
    cluster.cap_version(ApiKey::TxnOffsetCommit, 4);
    let mut h = Harness::with_cluster(txn_config(), cluster);
    h.init_ok();
    assert!(h.m.uses_tv2());
    assert_eq!(offsets_transaction(&mut h, 6), Some(Ok(())));
    assert_eq!(commit(&mut h), Some(Ok(())));
    assert_eq!(h.cluster.received_of(ApiKey::AddOffsetsToTxn).len(), 1);
    assert_eq!(h.cluster.received_of(ApiKey::TxnOffsetCommit)[0].2, 4);
    assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(6));
}

#[test]
fn a_broker_too_old_for_group_members_refuses_them_but_not_plain_offsets() {
    let old = |tv| {
        let mut cluster = FakeCluster::new(1, tv);
        cluster.create_topic("t", 3);
        cluster.cap_version(ApiKey::TxnOffsetCommit, 1);
        let mut h = Harness::with_cluster(txn_config(), cluster);
        h.init_ok();
        h
    };
    // v1 has no leader epoch: dropped, as Java does; the offset still commits.
    let mut h = old(CLASSIC);
    h.m.begin(h.now).unwrap();
    let offsets = vec![(
        crate::types::TopicPartition::new("in", 0),
        crate::consumer_group::OffsetAndMetadata::new(8).with_leader_epoch(3),
    )];
    h.m.send_offsets(h.now, offsets, ConsumerGroupMetadata::new("g"))
        .unwrap();
    h.settle();
    assert_eq!(commit(&mut h), Some(Ok(())));
    assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(8));
    let commits = h.cluster.received_of(ApiKey::TxnOffsetCommit);
    let (_, Request::TxnOffsetCommit(request), 1) = &commits[0] else {
        panic!("not v1: {commits:?}")
    };
    assert_eq!(request.topics[0].partitions[0].committed_leader_epoch, -1);

    // A member could not be named: sending without it would let a zombie commit.
    let mut h = old(CLASSIC);
    h.m.begin(h.now).unwrap();
    let member = ConsumerGroupMetadata::new("g").with_member(2, "m");
    h.send_offsets_as(member, &[("in", 0, 8)]).unwrap();
    h.settle();
    assert!(matches!(
        h.op_result(Operation::SendOffsets),
        Some(Err(TxnError::Fatal {
            code: UNSUPPORTED_VERSION,
            ..
        }))
    ));
}
