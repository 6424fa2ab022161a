//! Failure scenarios (lost answers, coordinator moves, fencing, timeouts), each against the
//! fake cluster in virtual time.

use std::time::Duration;

use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::*;
use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890};
use super::harness::{Harness, TXN_ID, txn_config};
use crate::error::{Operation, TxnError};
use crate::state::TxnState;
use crate::types::{Request, TxnEvent};

fn end_txn_epochs(h: &Harness) -> Vec<i16> {
    h.cluster
        .received_of(ApiKey::EndTxn)
        .iter()
        .map(|(_, r, _)| match r {
            Request::EndTxn(e) => e.producer_epoch,
            _ => unreachable!(),
        })
        .collect()
}

#[test]
fn second_producer_fences_the_first() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::brokers(2, txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "zombie");
        h.settle();
        // A new instance with the same transactional id takes over.
        let fresh = h.new_machine();
        let mut zombie = std::mem::replace(&mut h.m, fresh);
        h.init_ok();
        // The old instance's commit is fenced: fatal, never committed.
        zombie.commit(h.now).unwrap();
        std::mem::swap(&mut h.m, &mut zombie);
        h.clear_events();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Commit),
            Some(Err(TxnError::Fenced)),
            "tv{tv}: {:?}",
            h.events
        );
        assert_eq!(h.m.state(), TxnState::FatalError);
        assert!(h.m.begin(h.now).unwrap_err().is_fatal());
        std::mem::swap(&mut h.m, &mut zombie);
        // The new instance works and the zombie's record was aborted by its InitProducerId.
        assert_eq!(h.transaction(&[(1, "fresh")], true), Some(Ok(())), "tv{tv}");
        assert_eq!(
            h.committed(),
            vec![Vec::<String>::new(), vec!["fresh".to_owned()], vec![]],
            "tv{tv}"
        );
    }
}

#[test]
fn coordinator_moves_mid_transaction() {
    let mut h = Harness::brokers(3, txn_config(), CLASSIC);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.send(0, "a");
    h.settle();
    h.cluster.move_coordinator(2);
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    let end_txns = h.cluster.received_of(ApiKey::EndTxn);
    assert_eq!(
        end_txns
            .iter()
            .map(|(node, _, _)| *node)
            .collect::<Vec<_>>(),
        vec![0, 2]
    );
    assert_eq!(h.cluster.received_of(ApiKey::FindCoordinator).len(), 2);
    assert_eq!(h.committed()[0], vec!["a"]);
}

#[test]
fn concurrent_transactions_is_retried_with_a_short_backoff() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    for _ in 0..3 {
        h.cluster.inject(
            ApiKey::AddPartitionsToTxn,
            Fault::Error(CONCURRENT_TRANSACTIONS),
        );
        h.cluster
            .inject(ApiKey::EndTxn, Fault::Error(CONCURRENT_TRANSACTIONS));
    }
    let start = h.now;
    assert_eq!(
        h.transaction(&[(0, "a")], true),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(h.cluster.received_of(ApiKey::AddPartitionsToTxn).len(), 4);
    assert_eq!(h.cluster.received_of(ApiKey::EndTxn).len(), 4);
    // 6 short retries (20, 40, 80 ms ±20%) stay far below the 100 ms retry.backoff.ms ladder.
    let elapsed = h.now - start;
    assert!(elapsed < Duration::from_millis(600), "took {elapsed:?}");
    assert_eq!(h.committed()[0], vec!["a"]);
}

#[test]
fn lost_produce_response_is_retried_without_duplicates() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        h.cluster.inject(ApiKey::Produce, Fault::LoseReply);
        assert_eq!(
            h.transaction(&[(0, "once")], true),
            Some(Ok(())),
            "tv{tv}: {:?}",
            h.events
        );
        let produces = h.cluster.received_of(ApiKey::Produce);
        assert_eq!(produces.len(), 2, "tv{tv}: resent after the lost answer");
        assert_eq!(
            produces[0].1, produces[1].1,
            "tv{tv}: the retry resends the same bytes"
        );
        assert_eq!(h.committed()[0], vec!["once"], "tv{tv}");
        assert!(h.metrics.snapshot().retries >= 1);
    }
}

/// The EndTxn answer is lost: the same EndTxn goes again, the coordinator recognises the
/// finished transaction, and the commit is confirmed. (Declaring the outcome unknown and
/// recovering by an epoch bump got the producer fenced on a real classic cluster when the
/// coordinator had died before seeing the first EndTxn.)
#[test]
fn lost_end_txn_response_is_resent_and_the_commit_confirmed() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "maybe");
        h.settle();
        h.cluster.inject(ApiKey::EndTxn, Fault::LoseReply);
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())), "tv{tv}");
        assert_eq!(h.m.state(), TxnState::Ready, "tv{tv}");
        assert_eq!(h.cluster.received_of(ApiKey::EndTxn).len(), 2, "tv{tv}");
        assert!(
            h.cluster.received_of(ApiKey::InitProducerId).len() == 1,
            "tv{tv}: no recovery by re-initialisation"
        );
        assert_eq!(h.committed()[0], vec!["maybe"], "tv{tv}: once");
        // The epoch the coordinator answered the resend with (a bumped one under KIP-890).
        let (_, cluster_epoch) = h.cluster.txn_identity(TXN_ID).unwrap();
        assert_eq!(h.m.identity().unwrap().epoch, cluster_epoch, "tv{tv}");
        assert_eq!(h.transaction(&[(0, "next")], true), Some(Ok(())));
        assert_eq!(h.committed()[0], vec!["maybe", "next"], "tv{tv}");
    }
}

/// The first EndTxn was never applied (the connection broke before the broker read it):
/// the resent one commits.
#[test]
fn end_txn_lost_before_the_broker_read_it_is_sent_again_and_commits() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "late");
        h.settle();
        h.cluster.inject(ApiKey::EndTxn, Fault::Disconnect);
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())), "tv{tv}");
        assert_eq!(h.committed()[0], vec!["late"], "tv{tv}");
    }
}

/// After a lost answer, a refusal of the resent commit (here: fenced by a new instance
/// meanwhile) does not prove the first one failed: the outcome is unknown, never "aborted".
#[test]
fn a_refused_resend_after_a_lost_commit_answer_is_outcome_unknown() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "maybe");
        h.settle();
        h.cluster.inject(ApiKey::EndTxn, Fault::LoseReply);
        h.cluster
            .inject(ApiKey::EndTxn, Fault::Error(PRODUCER_FENCED));
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Commit),
            Some(Err(TxnError::OutcomeUnknown)),
            "tv{tv}"
        );
        assert_eq!(h.m.state(), TxnState::OutcomeUnknown, "tv{tv}");
        assert!(
            h.m.commit(h.now).is_err(),
            "tv{tv}: a commit retry is refused"
        );
        // The first EndTxn was applied: the records are visible exactly once.
        assert_eq!(h.committed()[0], vec!["maybe"], "tv{tv}");
    }
}

/// The application stalls past `transaction.timeout.ms`; the coordinator aborts and bumps
/// the epoch; the next produce gets INVALID_PRODUCER_EPOCH, which is abortable.
fn stall_past_transaction_timeout(tv: i16) -> Harness {
    let mut h = Harness::single_broker(
        txn_config().transaction_timeout(Duration::from_secs(10)),
        tv,
    );
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.send(0, "slow-1");
    h.settle();
    h.advance(Duration::from_secs(11));
    h.send(0, "slow-2");
    h.settle();
    assert_eq!(
        h.m.state(),
        TxnState::AbortableError,
        "tv{tv}: {:?}",
        h.events
    );
    let commit = h.m.commit(h.now).unwrap_err();
    assert!(commit.requires_abort(), "tv{tv}: {commit:?}");
    h.m.abort(h.now).unwrap();
    h.settle();
    h
}

#[test]
fn transaction_timeout_under_tv2_is_recovered_by_abort() {
    let mut h = stall_past_transaction_timeout(KIP_890);
    // EndTxn(abort) with the old epoch is the "retry" of the coordinator's abort (KIP-890).
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(
        h.transaction(&[(0, "after")], true),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(h.committed()[0], vec!["after"]);
}

#[test]
fn transaction_timeout_under_tv1_ends_fenced_like_the_java_client() {
    let h = stall_past_transaction_timeout(CLASSIC);
    // TV1 cannot tell a timeout from a new instance: EndTxn with the old epoch is fenced.
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Err(TxnError::Fenced)),
        "{:?}",
        h.events
    );
    assert_eq!(h.m.state(), TxnState::FatalError);
    assert!(
        h.committed()[0].is_empty(),
        "nothing of the timed-out transaction is visible"
    );
}

#[test]
fn leader_change_with_five_requests_in_flight_keeps_order() {
    for tv in [CLASSIC, KIP_890] {
        let mut cluster = FakeCluster::new(2, tv);
        cluster.create_topic("t", 1);
        let config = txn_config().batch_size(64).linger(Duration::ZERO);
        let mut h = Harness::with_cluster(config, cluster);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        // Warm the pipeline: one acknowledged batch allows 5 in flight.
        h.send(0, "warm");
        h.settle();
        let before = h.cluster.received_of(ApiKey::Produce).len();
        h.cluster.move_leader("t", 0, 1);
        let values: Vec<String> = (0..12)
            .map(|n| format!("value-{n:02}-padding-to-fill-a-batch"))
            .collect();
        for value in &values {
            h.send(0, value);
        }
        let in_flight: Vec<_> = h.cluster.received_of(ApiKey::Produce)[before..].to_vec();
        assert_eq!(
            in_flight.len(),
            5,
            "tv{tv}: five requests in flight before the first answer"
        );
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Commit),
            Some(Ok(())),
            "tv{tv}: {:?}",
            h.events
        );
        let mut expected = vec!["warm".to_owned()];
        expected.extend(values.iter().cloned());
        assert_eq!(
            h.committed()[0],
            expected,
            "tv{tv}: every record once, in order"
        );
    }
}

#[test]
fn epoch_exhaustion_under_tv2_rotates_the_producer_id() {
    let mut cluster = FakeCluster::new(1, KIP_890);
    cluster.create_topic("t", 1);
    cluster.initial_epoch = i16::MAX - 3;
    let mut h = Harness::with_cluster(txn_config(), cluster);
    h.init_ok();
    let first = h.m.identity().unwrap();
    for n in 0..4 {
        let value = format!("v{n}");
        assert_eq!(
            h.transaction(&[(0, value.as_str())], true),
            Some(Ok(())),
            "txn {n}: {:?}",
            h.events
        );
    }
    let now = h.m.identity().unwrap();
    assert_ne!(
        now.producer_id, first.producer_id,
        "a new producer id after exhaustion"
    );
    assert!(now.epoch < 3, "epoch restarted: {now:?}");
    assert_eq!(h.committed()[0], vec!["v0", "v1", "v2", "v3"]);
    assert!(h.metrics.snapshot().epoch_bumps >= 4);
}

#[test]
fn tv1_sequence_error_aborts_then_bumps_the_epoch() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    let epoch = h.m.identity().unwrap().epoch;
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(OUT_OF_ORDER_SEQUENCE_NUMBER));
    assert_eq!(
        h.transaction(&[(0, "x")], true)
            .map(|r| r.map_err(|e| e.requires_abort())),
        Some(Err(true))
    );
    assert_eq!(h.m.state(), TxnState::AbortableError);
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(
        end_txn_epochs(&h),
        vec![epoch],
        "EndTxn(abort) with the old epoch first"
    );
    assert_eq!(
        h.m.identity().unwrap().epoch,
        epoch + 1,
        "then InitProducerId bumped it"
    );
    assert_eq!(h.transaction(&[(0, "y")], true), Some(Ok(())));
    assert_eq!(h.committed()[0], vec!["y"]);
}

#[test]
fn record_events_report_offsets_and_failures() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    let a = h.send(0, "a");
    let b = h.send(0, "b");
    h.settle();
    let acked: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            TxnEvent::RecordsDone {
                tokens,
                result: Ok(meta),
            } => Some((tokens.clone(), meta.offset)),
            _ => None,
        })
        .collect();
    assert_eq!(acked, vec![(vec![a, b], 0)]);
    let c = h.send(0, "c");
    h.m.abort(h.now).unwrap();
    h.settle();
    let (_, failed) = h.record_outcomes();
    assert_eq!(
        failed,
        vec![c],
        "unsent records fail with TransactionAborted"
    );
}
