//! A batch that took sequences and then failed must not leave a gap the broker refuses to
//! step over: the next transaction (or, for an idempotent producer, the next batch) to that
//! partition goes through at once instead of waiting out `delivery.timeout.ms`.

use std::time::Duration;

use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::{INVALID_RECORD, MESSAGE_TOO_LARGE, OUT_OF_ORDER_SEQUENCE_NUMBER};
use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::config::ProducerConfig;
use crate::error::{Operation, TxnError};
use crate::state::TxnState;
use crate::types::TxnEvent;

/// Well under `delivery.timeout.ms` (120 s) and the retry backoffs it would take to wait for it.
const PROMPTLY: Duration = Duration::from_secs(2);

/// Produce answers the broker gave with `code`, counted from the harness trace.
fn answers_with(h: &Harness, code: i16) -> usize {
    h.trace
        .iter()
        .filter(|line| line.starts_with("<-") && line.contains(&format!(", {code}, ")))
        .count()
}

/// Commit "a", have the broker refuse the next transaction's batch for good, abort, then
/// commit "c" to the same partition: "c" must go through at once.
fn refused_batch_then_next_transaction(transaction_version: i16, epoch_bump: bool) {
    let mut cluster = FakeCluster::new(1, transaction_version);
    cluster.create_topic("t", 1);
    if !epoch_bump {
        // A broker before KIP-360: InitProducerId v2 cannot bump an epoch.
        cluster.init_producer_id_max = 2;
    }
    let mut h = Harness::with_cluster(txn_config(), cluster);
    h.init_ok();
    assert_eq!(h.transaction(&[(0, "a")], true), Some(Ok(())));

    h.cluster
        .inject(ApiKey::Produce, Fault::Error(INVALID_RECORD));
    let refused = h.transaction(&[(0, "bad")], true);
    assert!(
        matches!(refused, Some(Err(ref e)) if e.requires_abort()),
        "{refused:?}"
    );
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Abort),
        Some(Ok(())),
        "{:?}",
        h.events
    );

    let started = h.now;
    assert_eq!(
        h.transaction(&[(0, "c")], true),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert!(h.now - started < PROMPTLY, "took {:?}", h.now - started);
    assert_eq!(
        answers_with(&h, OUT_OF_ORDER_SEQUENCE_NUMBER),
        0,
        "{:#?}",
        h.trace
    );
    assert_eq!(h.committed()[0], vec!["a", "c"]);
}

#[test]
fn classic_a_refused_batch_leaves_no_gap_for_the_next_transaction() {
    refused_batch_then_next_transaction(CLASSIC, true);
}

#[test]
fn classic_without_epoch_bumps_the_refused_batch_gives_its_sequences_back() {
    refused_batch_then_next_transaction(CLASSIC, false);
}

#[test]
fn kip890_a_refused_batch_leaves_no_gap_for_the_next_transaction() {
    refused_batch_then_next_transaction(KIP_890, true);
}

#[test]
fn a_batch_waiting_for_a_resend_is_resent_through_the_abort_not_dropped() {
    for tv in [CLASSIC, KIP_890] {
        let mut cluster = FakeCluster::new(1, tv);
        cluster.create_topic("t", 1);
        let mut h = Harness::with_cluster(txn_config(), cluster);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        // The connection breaks before the broker reads the batch: it waits for a resend.
        h.cluster.inject(ApiKey::Produce, Fault::Disconnect);
        h.send(0, "x");
        h.advance(Duration::from_millis(10));
        assert_eq!(h.cluster.received_of(ApiKey::Produce).len(), 1);
        h.m.abort(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Abort),
            Some(Ok(())),
            "TV{tv}: {:?}",
            h.events
        );
        assert_eq!(
            h.cluster.received_of(ApiKey::Produce).len(),
            2,
            "TV{tv}: resent before EndTxn(abort)"
        );
        let failed = h.events.iter().any(|e| {
            matches!(
                e,
                TxnEvent::RecordsDone {
                    result: Err(TxnError::TransactionAborted),
                    ..
                }
            )
        });
        assert!(
            failed,
            "TV{tv}: the aborted record is reported as aborted: {:?}",
            h.events
        );

        let started = h.now;
        assert_eq!(h.transaction(&[(0, "y")], true), Some(Ok(())), "TV{tv}");
        assert!(
            h.now - started < PROMPTLY,
            "TV{tv}: took {:?}",
            h.now - started
        );
        assert_eq!(h.committed()[0], vec!["y"], "TV{tv}");
        assert_eq!(h.m.state(), TxnState::Ready);
    }
}

fn idempotent_harness() -> Harness {
    let mut cluster = FakeCluster::new(1, NO_TV_FEATURE);
    cluster.create_topic("t", 1);
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .linger(Duration::ZERO);
    let mut h = Harness::with_cluster(config, cluster);
    h.m.init(h.now).unwrap();
    h.settle();
    h
}

fn delivered_values(h: &Harness) -> Vec<String> {
    h.cluster
        .all_values("t", 0)
        .into_iter()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect()
}

#[test]
fn idempotent_a_batch_failed_for_good_does_not_block_its_partition() {
    let mut h = idempotent_harness();
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(MESSAGE_TOO_LARGE));
    h.send(0, "too-big");
    h.settle();
    let started = h.now;
    h.send(0, "next");
    h.m.flush(h.now).unwrap();
    h.settle();
    assert!(h.now - started < PROMPTLY, "took {:?}", h.now - started);
    assert_eq!(delivered_values(&h), vec!["next"]);
    let (acked, failed) = h.record_outcomes();
    assert_eq!((acked.len(), failed.len()), (1, 1), "{:?}", h.events);
}

#[test]
fn idempotent_batches_behind_one_failed_for_good_are_resent_not_stuck() {
    let mut h = idempotent_harness();
    // A first acknowledged batch opens the pipeline (several requests in flight).
    h.send(0, "first");
    h.settle();
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(MESSAGE_TOO_LARGE));
    h.send(0, "too-big");
    h.send(0, "behind-1");
    h.send(0, "behind-2");
    assert!(
        h.cluster.received_of(ApiKey::Produce).len() >= 3,
        "pipelined"
    );
    let started = h.now;
    h.m.flush(h.now).unwrap();
    h.settle();
    assert!(h.now - started < PROMPTLY, "took {:?}", h.now - started);
    assert_eq!(delivered_values(&h), vec!["first", "behind-1", "behind-2"]);
}
