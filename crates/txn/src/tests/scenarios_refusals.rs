//! Records refused after `send` accepted them: the refusal reaches the transaction, which
//! must not commit without them, and a topic the cluster refuses fails its records at once
//! instead of at `delivery.timeout.ms`.

use std::time::Duration;

use bytes::Bytes;

use super::codes::*;
use super::fake_cluster::{CLASSIC, FakeCluster, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::config::ProducerConfig;
use crate::error::{Operation, TxnError};
use crate::state::TxnState;
use crate::types::{ProducerRecord, TxnEvent};

fn record(topic: &str, partition: Option<i32>) -> ProducerRecord {
    let record = ProducerRecord::new(topic, Bytes::from_static(b"v"));
    match partition {
        Some(p) => record.with_partition(p),
        None => record,
    }
}

fn failed_records(h: &Harness) -> Vec<TxnError> {
    h.events
        .iter()
        .filter_map(|e| match e {
            TxnEvent::RecordsDone {
                result: Err(error), ..
            } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_partition_found_missing_after_send_makes_the_transaction_abortable() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "kept");
        // The topic does not exist yet: the record waits for its metadata, so send accepts it.
        h.m.send(h.now, record("late", Some(5))).unwrap();
        h.advance(Duration::from_millis(1));
        h.cluster.create_topic("late", 3);
        h.advance(Duration::from_secs(1));
        assert!(
            matches!(
                failed_records(&h).as_slice(),
                [TxnError::InvalidPartition { partition: 5, .. }]
            ),
            "TV{tv}: {:?}",
            h.events
        );
        assert_eq!(h.m.state(), TxnState::AbortableError, "TV{tv}");
        let commit = h.m.commit(h.now);
        assert!(
            matches!(commit, Err(ref e) if e.requires_abort()),
            "TV{tv}: {commit:?}"
        );
        assert_eq!(h.run_op_resuming(Operation::Abort), Ok(()));
        assert!(
            h.committed()[0].is_empty(),
            "TV{tv}: nothing of it committed"
        );
    }
}

#[test]
fn a_topic_the_cluster_refuses_fails_its_records_at_once() {
    let mut h = Harness::single_broker(txn_config(), KIP_890);
    h.cluster.denied_topics.insert("secret".to_owned());
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.m.send(h.now, record("secret", None)).unwrap();
    h.advance(Duration::from_millis(10));
    assert!(
        matches!(
            failed_records(&h).as_slice(),
            [TxnError::Abortable {
                code: TOPIC_AUTHORIZATION_FAILED,
                ..
            }]
        ),
        "{:?}",
        h.events
    );
    assert_eq!(h.m.state(), TxnState::AbortableError);
    assert_eq!(h.run_op_resuming(Operation::Abort), Ok(()));
}

#[test]
fn an_idempotent_producer_fails_records_of_a_refused_topic_at_once() {
    let mut cluster = FakeCluster::new(1, NO_TV_FEATURE);
    cluster.create_topic("t", 1);
    cluster.denied_topics.insert("secret".to_owned());
    let config = ProducerConfig::builder().bootstrap_servers("broker-0:9092");
    let mut h = Harness::with_cluster(config, cluster);
    h.m.init(h.now).unwrap();
    h.settle();
    h.m.send(h.now, record("secret", None)).unwrap();
    h.advance(Duration::from_millis(10));
    assert!(
        matches!(
            failed_records(&h).as_slice(),
            [TxnError::Delivery {
                code: TOPIC_AUTHORIZATION_FAILED,
                ..
            }]
        ),
        "{:?}",
        h.events
    );
    h.send(0, "other topics still work");
    h.m.flush(h.now).unwrap();
    h.settle();
    assert_eq!(h.cluster.all_values("t", 0).len(), 1);
}
