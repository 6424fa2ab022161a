//! Per-row scenario tests: each row of the classification table, exercised through the
//! machine against the fake cluster (the pure table is checked in `classify_table`).

use std::time::Duration;

use bytes::Bytes;
use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::*;
use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::error::{Operation, TxnError};
use crate::partitioner::partition_for_key;
use crate::state::TxnState;
use crate::types::{ProducerRecord, TxnEvent};

#[test]
fn find_coordinator_retriable_error_is_retried() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.cluster.inject(
        ApiKey::FindCoordinator,
        Fault::Error(COORDINATOR_NOT_AVAILABLE),
    );
    h.cluster.inject(ApiKey::FindCoordinator, Fault::Disconnect);
    h.init_ok();
    assert_eq!(h.cluster.received_of(ApiKey::FindCoordinator).len(), 3);
}

#[test]
fn find_coordinator_authorization_failure_is_fatal() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.cluster.inject(
        ApiKey::FindCoordinator,
        Fault::Error(TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
    );
    h.m.init(h.now).unwrap();
    h.settle();
    assert!(matches!(
        h.op_result(Operation::Init),
        Some(Err(TxnError::Fatal {
            code: TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            ..
        }))
    ));
    assert_eq!(h.m.state(), TxnState::FatalError);
}

#[test]
fn init_producer_id_load_in_progress_and_concurrent_transactions_are_retried() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.cluster.inject(
        ApiKey::InitProducerId,
        Fault::Error(COORDINATOR_LOAD_IN_PROGRESS),
    );
    h.cluster.inject(
        ApiKey::InitProducerId,
        Fault::Error(CONCURRENT_TRANSACTIONS),
    );
    h.init_ok();
    assert_eq!(h.cluster.received_of(ApiKey::InitProducerId).len(), 3);
}

#[test]
fn init_producer_id_not_coordinator_refinds_the_coordinator() {
    let mut h = Harness::brokers(2, txn_config(), CLASSIC);
    h.cluster
        .inject(ApiKey::InitProducerId, Fault::Error(NOT_COORDINATOR));
    h.init_ok();
    assert_eq!(h.cluster.received_of(ApiKey::FindCoordinator).len(), 2);
}

#[test]
fn init_producer_id_authorization_failure_returns_to_uninitialized() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.cluster.inject(
        ApiKey::InitProducerId,
        Fault::Error(TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
    );
    h.m.init(h.now).unwrap();
    h.settle();
    assert!(matches!(
        h.op_result(Operation::Init),
        Some(Err(TxnError::Fatal {
            code: TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            ..
        }))
    ));
    assert_eq!(
        h.m.state(),
        TxnState::Uninitialized,
        "the application may call init again"
    );
    h.init_ok();
}

#[test]
fn init_producer_id_transaction_abortable_is_recovered_by_abort() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.cluster
        .inject(ApiKey::InitProducerId, Fault::Error(TRANSACTION_ABORTABLE));
    h.m.init(h.now).unwrap();
    h.settle();
    assert!(matches!(
        h.op_result(Operation::Init),
        Some(Err(TxnError::Abortable {
            code: TRANSACTION_ABORTABLE,
            ..
        }))
    ));
    assert_eq!(h.m.state(), TxnState::AbortableError);
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert!(h.m.identity().is_some());
    assert_eq!(h.transaction(&[(0, "ok")], true), Some(Ok(())));
}

#[test]
fn init_producer_id_invalid_timeout_is_fatal() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.cluster.inject(
        ApiKey::InitProducerId,
        Fault::Error(INVALID_TRANSACTION_TIMEOUT),
    );
    h.m.init(h.now).unwrap();
    h.settle();
    assert!(matches!(
        h.op_result(Operation::Init),
        Some(Err(TxnError::Fatal {
            code: INVALID_TRANSACTION_TIMEOUT,
            ..
        }))
    ));
}

#[test]
fn add_partitions_topic_authorization_failure_is_abortable() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    h.cluster.inject(
        ApiKey::AddPartitionsToTxn,
        Fault::Error(TOPIC_AUTHORIZATION_FAILED),
    );
    h.m.begin(h.now).unwrap();
    let token = h.send(0, "denied");
    h.settle();
    assert_eq!(h.m.state(), TxnState::AbortableError);
    assert_eq!(
        h.record_outcomes().1,
        vec![token],
        "the unsent record fails"
    );
    assert!(h.m.commit(h.now).unwrap_err().requires_abort());
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())));
    assert_eq!(h.transaction(&[(0, "ok")], true), Some(Ok(())));
}

#[test]
fn add_partitions_fenced_is_fatal() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    h.cluster
        .inject(ApiKey::AddPartitionsToTxn, Fault::Error(PRODUCER_FENCED));
    h.m.begin(h.now).unwrap();
    h.send(0, "x");
    h.settle();
    assert_eq!(h.m.state(), TxnState::FatalError);
    assert_eq!(h.m.last_error(), Some(&TxnError::Fenced));
}

#[test]
fn end_txn_fenced_is_fatal_and_not_coordinator_is_retried() {
    let mut h = Harness::brokers(2, txn_config(), CLASSIC);
    h.init_ok();
    h.cluster
        .inject(ApiKey::EndTxn, Fault::Error(NOT_COORDINATOR));
    assert_eq!(h.transaction(&[(0, "a")], true), Some(Ok(())));
    h.cluster
        .inject(ApiKey::EndTxn, Fault::Error(PRODUCER_FENCED));
    assert_eq!(
        h.transaction(&[(0, "b")], true),
        Some(Err(TxnError::Fenced))
    );
    assert_eq!(h.m.state(), TxnState::FatalError);
}

#[test]
fn end_txn_unknown_producer_id_is_abortable_with_bump() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    let epoch = h.m.identity().unwrap().epoch;
    h.cluster
        .inject(ApiKey::EndTxn, Fault::Error(UNKNOWN_PRODUCER_ID));
    let result = h.transaction(&[(0, "a")], true);
    assert!(
        matches!(
            result,
            Some(Err(TxnError::Abortable {
                code: UNKNOWN_PRODUCER_ID,
                ..
            }))
        ),
        "{result:?}"
    );
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())));
    assert_eq!(h.m.identity().unwrap().epoch, epoch + 1);
}

#[test]
fn produce_duplicate_sequence_counts_as_success() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(DUPLICATE_SEQUENCE_NUMBER));
    h.m.begin(h.now).unwrap();
    let token = h.send(0, "dup");
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
    assert_eq!(
        acked,
        vec![(vec![token], -1)],
        "acknowledged without an offset"
    );
}

#[test]
fn produce_retriable_errors_are_retried_and_abortable_ones_abort() {
    let mut h = Harness::single_broker(txn_config(), KIP_890);
    h.init_ok();
    for code in [
        NOT_ENOUGH_REPLICAS,
        CONCURRENT_TRANSACTIONS,
        REQUEST_TIMED_OUT,
    ] {
        h.cluster.inject(ApiKey::Produce, Fault::Error(code));
    }
    assert_eq!(
        h.transaction(&[(0, "retried")], true),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(h.cluster.received_of(ApiKey::Produce).len(), 4);
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(INVALID_TXN_STATE));
    let result = h.transaction(&[(0, "refused")], true);
    assert!(
        matches!(
            result,
            Some(Err(TxnError::Abortable {
                code: INVALID_TXN_STATE,
                ..
            }))
        ),
        "{result:?}"
    );
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.transaction(&[(0, "after")], true), Some(Ok(())));
    assert_eq!(h.committed()[0], vec!["retried", "after"]);
}

#[test]
fn produce_fenced_is_fatal() {
    let mut h = Harness::single_broker(txn_config(), KIP_890);
    h.init_ok();
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(PRODUCER_FENCED));
    assert_eq!(
        h.transaction(&[(0, "x")], true),
        Some(Err(TxnError::Fenced))
    );
}

#[test]
fn broker_that_disappears_is_routed_around() {
    let mut cluster = FakeCluster::new(2, CLASSIC);
    cluster.create_topic("t", 1);
    let mut h = Harness::with_cluster(txn_config(), cluster);
    h.init_ok();
    h.cluster.set_alive(0, false);
    h.cluster.move_leader("t", 0, 1);
    h.cluster.move_coordinator(1);
    assert_eq!(
        h.transaction(&[(0, "survives")], true),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(h.committed()[0], vec!["survives"]);
}

#[test]
fn usage_errors_never_hang() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    let err = |r: Result<(), TxnError>| matches!(r, Err(TxnError::Usage(_)));
    assert!(err(h.m.begin(h.now)));
    assert!(err(h.m.commit(h.now)));
    assert!(err(h.m.abort(h.now)));
    h.init_ok();
    assert!(err(h.m.init(h.now)));
    assert!(err(h.m.commit(h.now)));
    assert!(matches!(
        h.m.send(h.now, ProducerRecord::new("t", "x")),
        Err(TxnError::Usage(_))
    ));
    h.m.begin(h.now).unwrap();
    assert!(err(h.m.begin(h.now)));
    h.m.commit(h.now).unwrap();
    assert!(
        err(h.m.abort(h.now)),
        "a different operation while commit runs"
    );
}

#[test]
fn timed_out_commit_is_resumed_by_calling_commit_again() {
    let mut h = Harness::single_broker(txn_config().max_block(Duration::from_secs(3)), CLASSIC);
    h.init_ok();
    // The coordinator keeps answering CONCURRENT_TRANSACTIONS for ~4.3 s (retries after 5, 10,
    // 20, ... ms, capped at 1 s; at least 3.4 s with jitter).
    for _ in 0..11 {
        h.cluster
            .inject(ApiKey::EndTxn, Fault::Error(CONCURRENT_TRANSACTIONS));
    }
    h.m.begin(h.now).unwrap();
    h.send(0, "slow");
    h.m.commit(h.now).unwrap();
    h.advance(Duration::from_millis(3100));
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Err(TxnError::Timeout {
            op: Operation::Commit
        }))
    );
    assert!(
        h.m.abort(h.now).is_err(),
        "only the same operation may resume"
    );
    h.clear_events();
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(h.committed()[0], vec!["slow"]);
}

#[test]
fn idempotent_producer_places_keys_like_java_and_flushes() {
    let config = crate::config::ProducerConfig::builder().bootstrap_servers("broker-0:9092");
    let mut h = Harness::single_broker(config, NO_TV_FEATURE);
    h.m.init(h.now).unwrap();
    h.settle();
    for key in ["alpha", "beta", "gamma", "delta"] {
        let record = ProducerRecord::new("t", Bytes::from(key)).with_key(Bytes::from(key));
        h.m.send(h.now, record).unwrap();
    }
    h.m.flush(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Flush),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    for key in ["alpha", "beta", "gamma", "delta"] {
        let partition = partition_for_key(key.as_bytes(), 3);
        let values = h.cluster.all_values("t", partition);
        assert!(
            values.contains(&Bytes::from(key)),
            "{key} on partition {partition}"
        );
    }
    assert_eq!(
        h.committed().iter().map(Vec::len).sum::<usize>(),
        4,
        "non-transactional data is visible"
    );
}

#[test]
fn idempotent_sequence_error_restamps_the_batches_under_a_new_producer_id() {
    let config = crate::config::ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .batch_size(64)
        .linger(Duration::ZERO);
    let mut h = Harness::single_broker(config, NO_TV_FEATURE);
    h.m.init(h.now).unwrap();
    h.settle();
    let first = h.m.identity().unwrap();
    let send = |h: &mut Harness, value: &str| {
        let record = ProducerRecord::new("t", Bytes::from(value.to_owned())).with_partition(0);
        h.m.send(h.now, record).unwrap();
    };
    send(&mut h, "warm");
    h.settle();
    // The broker lost our state: the first of three pipelined batches is rejected, the
    // other two are collateral.
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(OUT_OF_ORDER_SEQUENCE_NUMBER));
    let values: Vec<String> = (0..3)
        .map(|n| format!("value-{n}-padding-to-fill-a-batch"))
        .collect();
    for value in &values {
        send(&mut h, value);
    }
    h.m.flush(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Flush),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert!(
        h.record_outcomes().1.is_empty(),
        "nothing is lost: {:?}",
        h.events
    );
    assert_ne!(h.m.identity().unwrap().producer_id, first.producer_id);
    let mut expected = vec![Bytes::from("warm")];
    expected.extend(values.iter().map(|v| Bytes::from(v.clone())));
    assert_eq!(
        h.cluster.all_values("t", 0),
        expected,
        "once each, in order"
    );
}

#[test]
fn without_kip_360_sequence_errors_are_fatal_and_reinit_uses_no_epoch() {
    let mut cluster = FakeCluster::new(1, CLASSIC);
    cluster.create_topic("t", 1);
    cluster.init_producer_id_max = 2;
    let mut h = Harness::with_cluster(txn_config(), cluster);
    h.init_ok();
    // An unknown commit outcome (the answer lost, the resent EndTxn refused) still recovers:
    // InitProducerId v2 without id/epoch fences and aborts.
    h.cluster.inject(ApiKey::EndTxn, Fault::LoseReply);
    h.cluster
        .inject(ApiKey::EndTxn, Fault::Error(PRODUCER_FENCED));
    assert_eq!(
        h.transaction(&[(0, "a")], true),
        Some(Err(TxnError::OutcomeUnknown))
    );
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    let inits = h.cluster.received_of(ApiKey::InitProducerId);
    assert!(inits.iter().all(|(_, _, version)| *version <= 2));
    // abortable* without an epoch bump is fatal (Java `abortableErrorIfPossible`).
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(OUT_OF_ORDER_SEQUENCE_NUMBER));
    let result = h.transaction(&[(0, "b")], true);
    assert!(
        matches!(
            result,
            Some(Err(TxnError::Fatal {
                code: OUT_OF_ORDER_SEQUENCE_NUMBER,
                ..
            }))
        ),
        "{result:?}"
    );
    assert_eq!(h.m.state(), TxnState::FatalError);
}
