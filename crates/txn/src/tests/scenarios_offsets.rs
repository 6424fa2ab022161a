//! `send_offsets` against the fake cluster: offsets become the group's committed offsets iff
//! the transaction commits, on both protocols; the group coordinator moving; a timed-out call
//! resumed or taken over by commit; calls the machine refuses.

use std::time::Duration;

use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::*;
use super::fake_cluster::{CLASSIC, FakeCluster, KIP_890, TxnStatus};
use super::harness::{Harness, TXN_ID, txn_config};
use crate::config::ProducerConfig;
use crate::error::{Operation, TxnError, UsageError};
use crate::state::TxnState;
use crate::types::{Request, TxnEvent};

/// FindCoordinator requests of `key_type` (0 = group, 1 = transaction) received.
pub(super) fn lookups(h: &Harness, key_type: i8) -> usize {
    h.cluster
        .received_of(ApiKey::FindCoordinator)
        .iter()
        .filter(|(_, r, _)| matches!(r, Request::FindCoordinator(f) if f.key_type == key_type))
        .count()
}

/// Position in arrival order of each request of `api`.
fn positions(h: &Harness, api: ApiKey) -> Vec<usize> {
    let of_api = h.cluster.received_of(api);
    h.cluster
        .received
        .iter()
        .enumerate()
        .filter(|(_, received)| of_api.contains(received))
        .map(|(index, _)| index)
        .collect()
}

/// Three brokers; transactions coordinated by node 0, groups by node `group_node`.
fn harness(transaction_version: i16, group_node: i32) -> Harness {
    let mut h = Harness::brokers(3, txn_config(), transaction_version);
    h.cluster.move_group_coordinator(group_node);
    h.init_ok();
    h
}

#[test]
fn offsets_commit_with_the_transaction_on_both_protocols() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = harness(tv, 2);
        h.m.begin(h.now).unwrap();
        h.send(0, "out");
        h.send_offsets("g", &[("in", 0, 42), ("in", 1, 7)]).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::SendOffsets),
            Some(Ok(())),
            "tv{tv}: {:?}",
            h.events
        );
        assert_eq!(
            h.cluster.committed_offset("g", "in", 0),
            None,
            "pending until commit"
        );
        assert_eq!(h.cluster.pending_offsets(TXN_ID), 2);
        let identity = h.m.identity().unwrap();

        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())), "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(42), "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 1), Some(7), "tv{tv}");
        assert_eq!(h.committed()[0], vec!["out"]);

        let commits = h.cluster.received_of(ApiKey::TxnOffsetCommit);
        assert_eq!(commits.len(), 1, "tv{tv}");
        let (node, Request::TxnOffsetCommit(request), version) = &commits[0] else {
            unreachable!()
        };
        assert_eq!(*node, 2, "sent to the group coordinator");
        assert_eq!(request.group_id.0.as_str(), "g");
        assert_eq!(request.transactional_id.0.as_str(), TXN_ID);
        assert_eq!(
            (request.producer_id.0, request.producer_epoch),
            (identity.producer_id, identity.epoch)
        );
        assert_eq!(request.topics.len(), 1);
        assert_eq!(request.topics[0].partitions.len(), 2);
        assert_eq!(lookups(&h, 0), 1, "one group coordinator lookup");
        let adds = h.cluster.received_of(ApiKey::AddOffsetsToTxn);
        if tv == CLASSIC {
            assert_eq!(
                adds.len(),
                1,
                "classic: the offsets partition is added first"
            );
            assert_eq!(adds[0].0, 0, "to the transaction coordinator");
            assert!(*version <= 4, "classic caps TxnOffsetCommit at v4");
        } else {
            assert!(adds.is_empty(), "KIP-890 sends no AddOffsetsToTxn");
            assert_eq!(*version, 5, "v5 adds the offsets partition itself");
        }
        let end = positions(&h, ApiKey::EndTxn);
        assert!(
            positions(&h, ApiKey::TxnOffsetCommit)[0] < end[0],
            "EndTxn goes last"
        );
    }
}

#[test]
fn abort_discards_the_offsets_on_both_protocols() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = harness(tv, 1);
        h.m.begin(h.now).unwrap();
        h.send_offsets("g", &[("in", 0, 10)]).unwrap();
        assert!(
            matches!(
                h.m.commit(h.now),
                Err(TxnError::Usage(UsageError {
                    op: Operation::Commit,
                    ..
                }))
            ),
            "commit waits until send_offsets answered"
        );
        h.settle();
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(10));

        h.clear_events();
        h.m.begin(h.now).unwrap();
        h.send(0, "aborted");
        h.send_offsets("g", &[("in", 0, 20)]).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::SendOffsets), Some(Ok(())));
        assert_eq!(h.cluster.pending_offsets(TXN_ID), 1);
        h.m.abort(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Abort), Some(Ok(())), "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(10), "tv{tv}");
        assert_eq!(h.cluster.pending_offsets(TXN_ID), 0);

        // The producer goes on: a later transaction's offsets commit.
        h.clear_events();
        h.m.begin(h.now).unwrap();
        h.send(0, "later");
        h.send_offsets("g", &[("in", 0, 30)]).unwrap();
        h.settle();
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())), "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(30), "tv{tv}");
        assert_eq!(h.committed()[0], vec!["later"], "tv{tv}");
    }
}

#[test]
fn a_transaction_of_offsets_alone_commits_on_both_protocols() {
    // KAFKA-18401: under KIP-890 such a transaction is not empty and needs its EndTxn.
    for tv in [CLASSIC, KIP_890] {
        let mut h = harness(tv, 0);
        h.m.begin(h.now).unwrap();
        h.send_offsets("g", &[("in", 2, 5)]).unwrap();
        h.settle();
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Commit),
            Some(Ok(())),
            "tv{tv}: {:?}",
            h.events
        );
        assert_eq!(h.cluster.received_of(ApiKey::EndTxn).len(), 1, "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 2), Some(5), "tv{tv}");
        assert_eq!(h.cluster.txns[TXN_ID].status, TxnStatus::CompleteCommit);
    }
}

#[test]
fn a_moved_group_coordinator_is_found_again() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = harness(tv, 1);
        h.m.begin(h.now).unwrap();
        h.send_offsets("g", &[("in", 0, 1)]).unwrap();
        h.settle();
        h.m.commit(h.now).unwrap();
        h.settle();

        h.cluster.move_group_coordinator(2);
        h.clear_events();
        h.m.begin(h.now).unwrap();
        h.send_offsets("g", &[("in", 0, 2)]).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::SendOffsets), Some(Ok(())), "tv{tv}");
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())), "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(2), "tv{tv}");
        let nodes: Vec<i32> = h
            .cluster
            .received_of(ApiKey::TxnOffsetCommit)
            .iter()
            .map(|(node, _, _)| *node)
            .collect();
        assert_eq!(
            nodes,
            vec![1, 1, 2],
            "NOT_COORDINATOR from the old one, then the new"
        );
        assert_eq!(
            lookups(&h, 0),
            2,
            "the group coordinator is looked up again"
        );
        assert_eq!(
            lookups(&h, 1),
            1,
            "the transaction coordinator did not move"
        );
    }
}

/// A harness whose group coordinator (node 2) is down, and a call that timed out on it.
fn timed_out_send_offsets(tv: i16) -> Harness {
    let config = txn_config().max_block(Duration::from_secs(1));
    let mut cluster = FakeCluster::new(3, tv);
    cluster.create_topic("t", 3);
    cluster.move_group_coordinator(2);
    let mut h = Harness::with_cluster(config, cluster);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.send(0, "out");
    h.cluster.set_alive(2, false);
    h.send_offsets("g", &[("in", 0, 42)]).unwrap();
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.op_result(Operation::SendOffsets),
        Some(Err(TxnError::Timeout {
            op: Operation::SendOffsets
        }))
    );
    assert_eq!(h.m.state(), TxnState::InTransaction);
    h
}

#[test]
fn commit_takes_over_a_timed_out_send_offsets_and_waits_for_it() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = timed_out_send_offsets(tv);
        h.clear_events();
        h.m.commit(h.now).unwrap();
        h.advance(Duration::from_secs(3));
        assert!(h.cluster.received_of(ApiKey::EndTxn).is_empty(), "tv{tv}");
        h.cluster.set_alive(2, true);
        // The commit itself timed out meanwhile (max.block.ms = 1 s): calling it resumes it.
        assert_eq!(h.run_op_resuming(Operation::Commit), Ok(()), "tv{tv}");
        assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(42), "tv{tv}");
        assert_eq!(h.committed()[0], vec!["out"]);
        let accepted = positions(&h, ApiKey::TxnOffsetCommit)
            .into_iter()
            .max()
            .unwrap();
        assert!(accepted < positions(&h, ApiKey::EndTxn)[0], "tv{tv}");
    }
}

#[test]
fn abort_takes_over_a_timed_out_send_offsets() {
    let mut h = timed_out_send_offsets(KIP_890);
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    h.cluster.set_alive(2, true);
    assert_eq!(h.cluster.committed_offset("g", "in", 0), None);
    assert_eq!(h.transaction(&[(0, "next")], true), Some(Ok(())));
    assert_eq!(h.committed()[0], vec!["next"]);
}

#[test]
fn a_timed_out_send_offsets_resumes_only_with_the_same_offsets() {
    let mut h = timed_out_send_offsets(CLASSIC);
    let other = h.send_offsets("g", &[("in", 0, 43)]).unwrap_err();
    assert_eq!(
        usage_detail(other),
        Some("a send_offsets with other offsets is in progress")
    );
    // It finished while nobody waited: the same call again gets the result at once.
    h.cluster.set_alive(2, true);
    h.clear_events();
    h.settle();
    assert_eq!(
        h.op_result(Operation::SendOffsets),
        None,
        "no one to tell yet"
    );
    h.send_offsets("g", &[("in", 0, 42)]).unwrap();
    assert_eq!(h.op_result(Operation::SendOffsets), Some(Ok(())));
    assert_eq!(h.cluster.received_of(ApiKey::TxnOffsetCommit).len(), 1);
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
    assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(42));
}

#[test]
fn a_repeated_call_while_waiting_resumes_the_same_work() {
    let mut h = timed_out_send_offsets(KIP_890);
    h.clear_events();
    h.send_offsets("g", &[("in", 0, 42)]).unwrap();
    h.cluster.set_alive(2, true);
    h.settle();
    assert_eq!(h.op_result(Operation::SendOffsets), Some(Ok(())));
    assert_eq!(
        h.cluster.received_of(ApiKey::TxnOffsetCommit).len(),
        1,
        "one call's work, not two"
    );
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.cluster.committed_offset("g", "in", 0), Some(42));
}

fn usage_detail(error: TxnError) -> Option<&'static str> {
    match error {
        TxnError::Usage(UsageError {
            op: Operation::SendOffsets,
            detail,
            ..
        }) => detail,
        other => panic!("not a send_offsets usage error: {other:?}"),
    }
}

#[test]
fn calls_outside_a_transaction_or_with_bad_arguments_are_refused_and_change_nothing() {
    let mut h = harness(CLASSIC, 0);
    let refused = h.send_offsets("g", &[("in", 0, 1)]).unwrap_err();
    assert_eq!(
        refused,
        TxnError::Usage(UsageError {
            op: Operation::SendOffsets,
            state: TxnState::Ready,
            detail: Some("no open transaction"),
        })
    );
    h.m.begin(h.now).unwrap();
    let bad = [
        ("", ("in", 0, 1), "the consumer group id is empty"),
        ("g", ("in", 0, -1), "an offset to commit is negative"),
        (
            "g",
            ("in", -1, 1),
            "an offset names no valid topic partition",
        ),
        ("g", ("", 0, 1), "an offset names no valid topic partition"),
    ];
    for (group, offset, reason) in bad {
        let error = h.send_offsets(group, &[offset]).unwrap_err();
        assert_eq!(usage_detail(error), Some(reason));
    }
    // Nothing to commit: done at once, nothing sent, and the transaction stays empty.
    h.clear_events();
    h.send_offsets("g", &[]).unwrap();
    assert_eq!(h.op_result(Operation::SendOffsets), Some(Ok(())));
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
    for api in [
        ApiKey::AddOffsetsToTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::EndTxn,
    ] {
        assert!(h.cluster.received_of(api).is_empty(), "{api:?}");
    }
    assert_eq!(lookups(&h, 0), 0);
}

#[test]
fn calls_during_a_commit_or_after_a_failure_are_refused() {
    let mut h = harness(KIP_890, 0);
    h.m.begin(h.now).unwrap();
    h.send(0, "a");
    h.m.commit(h.now).unwrap();
    let during_commit = h.send_offsets("g", &[("in", 0, 1)]).unwrap_err();
    assert_eq!(
        usage_detail(during_commit),
        Some("another operation is still in progress")
    );
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));

    // A failed transaction answers with its cause.
    h.cluster.inject(
        ApiKey::Produce,
        super::fake_cluster::Fault::Error(INVALID_RECORD),
    );
    h.m.begin(h.now).unwrap();
    h.send(0, "bad");
    h.settle();
    assert_eq!(h.m.state(), TxnState::AbortableError);
    let error = h.send_offsets("g", &[("in", 0, 1)]).unwrap_err();
    assert!(error.requires_abort(), "{error:?}");
    assert!(h.cluster.received_of(ApiKey::TxnOffsetCommit).is_empty());

    let idempotent = ProducerConfig::builder().bootstrap_servers("broker-0:9092");
    let mut h = Harness::single_broker(idempotent, CLASSIC);
    let error = h.send_offsets("g", &[("in", 0, 1)]).unwrap_err();
    assert_eq!(usage_detail(error), Some("not a transactional producer"));
}

#[test]
fn a_record_failure_fails_a_waiting_send_offsets() {
    let mut h = harness(CLASSIC, 1);
    h.m.begin(h.now).unwrap();
    h.cluster.inject(
        ApiKey::Produce,
        super::fake_cluster::Fault::Error(INVALID_RECORD),
    );
    h.send(0, "bad");
    h.cluster.set_alive(1, false);
    h.send_offsets("g", &[("in", 0, 1)]).unwrap();
    h.advance(Duration::from_millis(500));
    let done: Vec<_> = h
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                TxnEvent::OperationDone {
                    op: Operation::SendOffsets,
                    ..
                }
            )
        })
        .collect();
    assert!(
        matches!(
            done.as_slice(),
            [TxnEvent::OperationDone {
                result: Err(TxnError::Abortable {
                    code: INVALID_RECORD,
                    ..
                }),
                ..
            }]
        ),
        "{done:?}"
    );
    h.cluster.set_alive(1, true);
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())));
    assert_eq!(h.cluster.committed_offset("g", "in", 0), None);
}
