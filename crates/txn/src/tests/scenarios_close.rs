//! `close` as Java's graceful close: an open transaction is aborted (not left for the
//! coordinator's timeout), buffered records of an idempotent producer are delivered, and a
//! forced close reports records in flight as of unknown outcome, never as failed.

use std::time::Duration;

use kafkatx_wire::protocol::messages::ApiKey;

use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::config::ProducerConfig;
use crate::error::{Operation, TxnError};
use crate::types::{Request, TxnEvent};

fn close_result(h: &Harness) -> Option<Result<(), TxnError>> {
    h.op_result(Operation::Close)
}

#[test]
fn closing_with_an_open_transaction_aborts_it() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "x");
        h.advance(Duration::from_millis(20));
        assert_eq!(h.cluster.received_of(ApiKey::Produce).len(), 1, "TV{tv}");
        h.m.close(h.now);
        h.settle();
        assert_eq!(close_result(&h), Some(Ok(())), "TV{tv}: {:?}", h.events);
        let ends = h.cluster.received_of(ApiKey::EndTxn);
        assert!(
            matches!(ends.last(), Some((_, Request::EndTxn(end), _)) if !end.committed),
            "TV{tv}: EndTxn(abort) sent"
        );
        assert!(h.committed()[0].is_empty(), "TV{tv}");
        assert!(h.m.is_closed());
        assert!(matches!(h.m.begin(h.now), Err(TxnError::Closed)));
    }
}

#[test]
fn closing_an_idempotent_producer_delivers_what_is_buffered_first() {
    let mut cluster = FakeCluster::new(1, NO_TV_FEATURE);
    cluster.create_topic("t", 1);
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .linger(Duration::from_secs(10));
    let mut h = Harness::with_cluster(config, cluster);
    h.m.init(h.now).unwrap();
    h.settle();
    h.send(0, "a");
    h.send(0, "b");
    h.m.close(h.now);
    h.settle();
    assert_eq!(close_result(&h), Some(Ok(())), "{:?}", h.events);
    assert_eq!(h.cluster.all_values("t", 0).len(), 2);
    let (acked, failed) = h.record_outcomes();
    assert_eq!((acked.len(), failed.len()), (2, 0));
}

#[test]
fn a_forced_close_reports_records_in_flight_as_of_unknown_outcome() {
    let mut cluster = FakeCluster::new(1, NO_TV_FEATURE);
    cluster.create_topic("t", 1);
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .linger(Duration::ZERO);
    let mut h = Harness::with_cluster(config, cluster);
    h.m.init(h.now).unwrap();
    h.settle();
    // The answer is lost: the batch stays in flight until request.timeout.ms.
    h.cluster.inject(ApiKey::Produce, Fault::LoseReply);
    h.send(0, "in flight");
    h.m.close(h.now);
    h.advance(Duration::from_millis(5));
    assert_eq!(close_result(&h), None, "still waiting for the answer");
    h.m.force_close(h.now);
    h.advance(Duration::ZERO);
    let outcomes: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            TxnEvent::RecordsDone { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, vec![Err(TxnError::OutcomeUnknown)]);
    assert!(h.m.is_closed());
}
