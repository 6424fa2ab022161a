//! `max.request.size` and `buffer.memory`: a record that could never be sent is refused at
//! `send` and nothing else is touched; the buffer holds a bounded number of bytes; a request
//! never grows past the limit.

use std::time::Duration;

use bytes::Bytes;
use kafkatx_wire::protocol::messages::ApiKey;

use super::fake_cluster::{FakeCluster, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::config::ProducerConfig;
use crate::error::{Operation, TxnError};
use crate::types::{ProducerRecord, Request};

#[test]
fn a_record_larger_than_max_request_size_is_refused_and_the_transaction_still_commits() {
    let config = txn_config()
        .set("max.request.size", "2000")
        .unwrap()
        .batch_size(1000);
    let mut h = Harness::single_broker(config, KIP_890);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.send(0, "small");
    let big = ProducerRecord::new("t", Bytes::from(vec![b'x'; 4000])).with_partition(0);
    let refused = h.m.send(h.now, big);
    assert!(
        matches!(
            refused,
            Err(TxnError::RecordTooLarge {
                max: 2000,
                setting: "max.request.size",
                ..
            })
        ),
        "{refused:?}"
    );
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
    assert_eq!(h.committed()[0], vec!["small"]);
}

#[test]
fn the_buffer_refuses_records_until_the_brokers_answer_for_earlier_ones() {
    let mut cluster = FakeCluster::new(1, NO_TV_FEATURE);
    cluster.create_topic("t", 1);
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .batch_size(500)
        .set("buffer.memory", "1000")
        .unwrap();
    let mut h = Harness::with_cluster(config, cluster);
    h.m.init(h.now).unwrap();
    h.settle();
    let record = || ProducerRecord::new("t", Bytes::from(vec![b'v'; 300])).with_partition(0);
    h.m.send(h.now, record()).unwrap();
    h.m.send(h.now, record()).unwrap();
    let full = h.m.send(h.now, record());
    assert_eq!(
        full,
        Err(TxnError::BufferExhausted {
            buffer_memory: 1000
        })
    );
    h.m.flush(h.now).unwrap();
    h.settle();
    h.m.send(h.now, record()).unwrap();
    h.m.flush(h.now).unwrap();
    h.settle();
    assert_eq!(h.cluster.all_values("t", 0).len(), 3);
}

#[test]
fn a_produce_request_stays_within_max_request_size() {
    let config = txn_config()
        .set("max.request.size", "1200")
        .unwrap()
        .batch_size(1000)
        .linger(Duration::from_millis(50));
    let mut h = Harness::single_broker(config, KIP_890);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    // Three partitions, each with a batch of about 700 bytes: one request per batch.
    for partition in 0..3 {
        let value = Bytes::from(vec![b'a' + partition as u8; 600]);
        h.m.send(
            h.now,
            ProducerRecord::new("t", value).with_partition(partition),
        )
        .unwrap();
    }
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
    let produces = h.cluster.received_of(ApiKey::Produce);
    assert_eq!(produces.len(), 3, "one batch per request");
    for (_, request, _) in produces {
        let Request::Produce(produce) = request else {
            unreachable!()
        };
        let bytes: usize = produce
            .topic_data
            .iter()
            .flat_map(|t| t.partition_data.iter())
            .map(|p| p.records.as_ref().map_or(0, Bytes::len))
            .sum();
        assert!(bytes <= 1200, "{bytes} bytes in one request");
    }
}

#[test]
fn batch_size_above_max_request_size_is_a_configuration_error() {
    let error = txn_config()
        .set("max.request.size", "1000")
        .unwrap()
        .batch_size(5000)
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("batch.size"), "{error}");
}

#[test]
fn a_throttled_broker_gets_no_produce_until_its_throttle_time_passed() {
    let mut cluster = FakeCluster::new(1, NO_TV_FEATURE);
    cluster.create_topic("t", 1);
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .linger(Duration::ZERO);
    let mut h = Harness::with_cluster(config, cluster);
    h.m.init(h.now).unwrap();
    h.settle();
    h.cluster.next_produce_throttle_ms = 300;
    h.send(0, "first");
    h.advance(Duration::from_millis(5));
    let answered = h.now;
    h.send(0, "second");
    h.advance(Duration::from_millis(200));
    assert_eq!(
        h.cluster.received_of(ApiKey::Produce).len(),
        1,
        "held back while throttled"
    );
    h.advance(Duration::from_millis(200));
    assert_eq!(h.cluster.received_of(ApiKey::Produce).len(), 2);
    assert!(h.now - answered >= Duration::from_millis(300));
    assert_eq!(h.cluster.all_values("t", 0).len(), 2);
}
