//! A transaction that outlives `transaction.timeout.ms` on a real broker: the coordinator
//! aborts it. Under KIP-890 the producer's abort is recognised as a retry of that abort and
//! the producer keeps working; under the classic protocol the stale epoch is fenced, as with
//! the Java client. Nothing of the timed-out transaction is ever visible.

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
use kafkatx_txn::{ProducerConfig, ProducerRecord, TransactionalProducer, TxnError};

/// Runs a transaction that stalls past its timeout; returns the producer and the abort result.
async fn stalled_transaction(
    addr: &str,
    topic: &str,
) -> (TransactionalProducer, Result<(), TxnError>) {
    let config = ProducerConfig::builder()
        .bootstrap_servers(addr)
        .transactional_id(unique_name("txn-timeout-id"))
        .transaction_timeout(Duration::from_millis(1000))
        .build()
        .unwrap();
    let p = TransactionalProducer::new(config).await.unwrap();
    p.init_transactions().await.unwrap();
    p.begin_transaction().await.unwrap();
    p.send(ProducerRecord::new(topic, Bytes::from("stalled-1")))
        .await
        .unwrap();
    p.flush().await.unwrap();
    // The coordinator checks for expired transactions every 10 s by default.
    tokio::time::sleep(Duration::from_secs(16)).await;
    if let Ok(delivery) = p
        .send(ProducerRecord::new(topic, Bytes::from("stalled-2")))
        .await
    {
        let _ = delivery.await;
    }
    let commit = p.commit_transaction().await;
    assert!(
        commit.as_ref().is_err_and(TxnError::requires_abort),
        "commit after the timeout: {commit:?}"
    );
    let abort = p.abort_transaction().await;
    (p, abort)
}

#[tokio::test]
async fn timed_out_transaction_is_aborted_and_the_producer_recovers_tv2() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("txn-timeout");
    create_topic(&addr, &topic, 1).await.unwrap();
    let (p, abort) = stalled_transaction(&addr, &topic).await;
    assert_eq!(abort, Ok(()));
    p.begin_transaction().await.unwrap();
    p.send(ProducerRecord::new(topic.clone(), Bytes::from("after")))
        .await
        .unwrap();
    p.commit_transaction().await.unwrap();
    p.close().await.unwrap();
    let values: Vec<String> = kcat_read_committed(&addr, &topic)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    assert_eq!(values, vec!["after".to_owned()]);
}

#[tokio::test]
async fn timed_out_transaction_is_aborted_and_the_producer_is_fenced_tv1() {
    let addr = bootstrap_tv1();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("txn-timeout-tv1");
    create_topic(&addr, &topic, 1).await.unwrap();
    let (p, abort) = stalled_transaction(&addr, &topic).await;
    assert!(
        abort.as_ref().is_err_and(TxnError::is_fatal),
        "abort after a TV1 timeout: {abort:?}"
    );
    p.close().await.unwrap();
    assert!(kcat_read_committed(&addr, &topic).unwrap().is_empty());
}
