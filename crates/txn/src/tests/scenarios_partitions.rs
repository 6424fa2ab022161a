//! Records that name a partition their topic does not have: refused alone, under both
//! protocols, without touching the transaction or reaching any broker.

use bytes::Bytes;
use kafkatx_wire::protocol::messages::ApiKey;

use super::fake_cluster::{CLASSIC, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::error::{Operation, TxnError};
use crate::state::TxnState;
use crate::types::{ProducerRecord, Request, TxnEvent};

/// Partition that topic "t" (3 partitions) does not have.
const MISSING: i32 = 7;

fn invalid(partition: i32, partitions: Option<u32>) -> TxnError {
    TxnError::InvalidPartition {
        topic: "t".into(),
        partition,
        partitions,
    }
}

/// Whether any request the cluster received names `partition` of topic "t".
fn some_request_names(h: &Harness, partition: i32) -> bool {
    h.cluster
        .received
        .iter()
        .any(|(_, request, _)| match request {
            Request::Produce(produce) => produce
                .topic_data
                .iter()
                .filter(|topic| topic.name.0.as_str() == "t")
                .flat_map(|topic| topic.partition_data.iter())
                .any(|data| data.index == partition),
            Request::AddPartitionsToTxn(add) => add
                .v3_and_below_topics
                .iter()
                .chain(add.transactions.iter().flat_map(|t| t.topics.iter()))
                .filter(|topic| topic.name.0.as_str() == "t")
                .any(|topic| topic.partitions.contains(&partition)),
            _ => false,
        })
}

#[test]
fn a_partition_beyond_the_known_count_is_refused_at_send_and_the_rest_commits() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::brokers(2, txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "a");
        h.settle();
        assert_eq!(h.record_outcomes().0.len(), 1, "tv{tv}: metadata is known");

        let refused = h.try_send(MISSING, "bogus");
        assert_eq!(refused, Err(invalid(MISSING, Some(3))), "tv{tv}");
        assert_eq!(h.m.state(), TxnState::InTransaction, "tv{tv}");
        assert_eq!(h.m.last_error(), None, "tv{tv}");

        h.send(1, "b");
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Commit),
            Some(Ok(())),
            "tv{tv}: {:?}",
            h.events
        );
        assert_eq!(h.committed(), vec![vec!["a"], vec!["b"], vec![]], "tv{tv}");
        assert!(!some_request_names(&h, MISSING), "tv{tv}");
        let metrics = h.metrics.snapshot();
        assert_eq!((metrics.records_sent, metrics.records_failed), (2, 0));
        assert_eq!(metrics.abortable_errors, 0, "tv{tv}");
    }
}

#[test]
fn a_partition_found_missing_when_metadata_arrives_fails_its_transaction() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::brokers(2, txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        // The topic's partition count is not known yet: both records wait for metadata, and
        // send accepted the first. Refused later, it fails its transaction too (as in Java: a
        // transaction must not commit without a record whose send it accepted).
        let bogus = h.try_send(MISSING, "bogus").unwrap();
        let valid = h.send(0, "ok");
        h.m.flush(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Flush),
            Some(Ok(())),
            "tv{tv}: flush does not wait for the refused record"
        );
        let failures: Vec<_> = h
            .events
            .iter()
            .filter_map(|event| match event {
                TxnEvent::RecordsDone {
                    tokens,
                    result: Err(error),
                } => Some((tokens.clone(), error.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(failures.len(), 2, "tv{tv}: {failures:?}");
        assert_eq!(
            failures[0],
            (vec![bogus], invalid(MISSING, Some(3))),
            "tv{tv}"
        );
        assert_eq!(failures[1].0, vec![valid], "tv{tv}");
        assert!(
            failures[1].1.requires_abort(),
            "tv{tv}: {:?}",
            failures[1].1
        );
        assert_eq!(h.m.state(), TxnState::AbortableError, "tv{tv}");
        assert!(h.m.commit(h.now).is_err(), "tv{tv}");
        assert_eq!(h.run_op_resuming(Operation::Abort), Ok(()), "tv{tv}");
        assert_eq!(h.committed(), vec![Vec::<String>::new(); 3], "tv{tv}");
        assert!(!some_request_names(&h, MISSING), "tv{tv}");
    }
}

#[test]
fn a_negative_partition_is_refused_at_once_and_starts_nothing() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        let requests_before = h.cluster.received.len();
        h.m.begin(h.now).unwrap();
        // Before the topic's metadata is known: refused without asking for it.
        assert_eq!(h.try_send(-1, "neg"), Err(invalid(-1, None)), "tv{tv}");
        h.settle();
        assert_eq!(h.cluster.received.len(), requests_before, "tv{tv}");
        h.m.commit(h.now).unwrap();
        h.settle();
        assert_eq!(h.op_result(Operation::Commit), Some(Ok(())), "tv{tv}");
        assert!(
            h.cluster.received_of(ApiKey::EndTxn).is_empty(),
            "tv{tv}: the refused record did not start the transaction"
        );

        // Once the count is known, the error carries it.
        assert_eq!(h.transaction(&[(2, "known")], true), Some(Ok(())), "tv{tv}");
        h.m.begin(h.now).unwrap();
        assert_eq!(
            h.try_send(i32::MIN, "neg"),
            Err(invalid(i32::MIN, Some(3))),
            "tv{tv}"
        );
        assert_eq!(h.m.state(), TxnState::InTransaction, "tv{tv}");
    }
}

#[test]
fn an_idempotent_producer_refuses_a_missing_partition_and_keeps_sending() {
    let config = crate::config::ProducerConfig::builder().bootstrap_servers("broker-0:9092");
    let mut h = Harness::single_broker(config, NO_TV_FEATURE);
    h.m.init(h.now).unwrap();
    h.settle();
    let record = |partition: i32| {
        ProducerRecord::new("t", Bytes::from_static(b"v")).with_partition(partition)
    };
    let bogus = h.m.send(h.now, record(3)).unwrap();
    let valid = h.m.send(h.now, record(2)).unwrap();
    h.m.flush(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Flush), Some(Ok(())));
    assert_eq!(h.record_outcomes(), (vec![valid], vec![bogus]));
    assert_eq!(h.m.send(h.now, record(3)), Err(invalid(3, Some(3))));
    assert_eq!(h.m.state(), TxnState::Ready);
    assert!(!some_request_names(&h, 3));
}
