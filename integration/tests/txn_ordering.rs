//! Many batches of one partition in flight at once, on a multi-threaded runtime, against a real
//! broker: every batch must reach the broker in sequence order. Before requests were queued on
//! the connection in the order the engine emitted them, each Produce was written from its own
//! task and the broker answered OUT_OF_ORDER_SEQUENCE_NUMBER now and then.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bytes::Bytes;
use kafkatx_testkit::{
    bootstrap, bootstrap_tv1, create_topic, kcat_read_committed, require_broker, unique_name,
};
use kafkatx_txn::{ProducerConfig, ProducerRecord, TransactionalProducer};

const RECORDS: usize = 4000;
const ROUNDS: usize = 3;

async fn batches_in_flight_keep_their_order(addr: &str) {
    let topic = unique_name("txn-ordering");
    create_topic(addr, &topic, 1).await.unwrap();
    // Small batches and no linger: hundreds of batches, five in flight at a time.
    let config = ProducerConfig::builder()
        .bootstrap_servers(addr)
        .transactional_id(unique_name("txn-ordering-id"))
        .transaction_timeout(Duration::from_secs(60))
        .batch_size(1024)
        .linger(Duration::ZERO)
        .max_in_flight(5)
        .build()
        .unwrap();
    let producer = TransactionalProducer::new(config).await.unwrap();
    producer.init_transactions().await.unwrap();
    let mut expected = Vec::new();
    for round in 0..ROUNDS {
        producer.begin_transaction().await.unwrap();
        let mut deliveries = Vec::with_capacity(RECORDS);
        for n in 0..RECORDS {
            let value = format!("r{round}-{n:05}-{}", "x".repeat(80));
            expected.push(value.clone());
            let record = ProducerRecord::new(topic.as_str(), Bytes::from(value)).with_partition(0);
            deliveries.push(producer.send(record).await.unwrap());
        }
        producer.commit_transaction().await.unwrap();
        let mut last = -1;
        for delivery in deliveries {
            let offset = delivery.await.unwrap().offset;
            assert!(offset > last, "offsets follow the send order");
            last = offset;
        }
    }
    let metrics = producer.metrics();
    producer.close().await.unwrap();
    let seen: Vec<String> = kcat_read_committed(addr, &topic)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    assert_eq!(seen.len(), expected.len(), "{metrics:?}");
    assert!(
        seen == expected,
        "kcat sees every record once, in send order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kip890_batches_in_flight_keep_their_order() {
    let addr = bootstrap();
    if require_broker(&addr).await {
        batches_in_flight_keep_their_order(&addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_batches_in_flight_keep_their_order() {
    let addr = bootstrap_tv1();
    if require_broker(&addr).await {
        batches_in_flight_keep_their_order(&addr).await;
    }
}
