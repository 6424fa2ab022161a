//! The transaction engine against real brokers, under both protocols: `bootstrap()` has
//! `transaction.version=2` (KIP-890), `bootstrap_tv1()` the classic protocol. An independent
//! read_committed reader (kcat, i.e. librdkafka) judges what is visible.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use kafkatx_testkit::{
    bootstrap, create_topic, kafka_script, kcat_committed_values, kcat_read_committed,
    require_broker, unique_name,
};
use kafkatx_txn::{
    ProducerConfig, ProducerRecord, TransactionalProducer, TxnError, partition_for_key,
};

async fn producer(addr: &str, transactional_id: &str) -> TransactionalProducer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(addr)
        .transactional_id(transactional_id)
        .transaction_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TransactionalProducer::new(config).await.unwrap()
}

async fn send_all(producer: &TransactionalProducer, topic: &str, values: &[String]) {
    for value in values {
        producer
            .send(ProducerRecord::new(topic, Bytes::from(value.clone())))
            .await
            .unwrap();
    }
}

async fn commit_visible_abort_invisible(addr: &str) {
    let topic = unique_name("txn-visibility");
    create_topic(addr, &topic, 3).await.unwrap();
    let p = producer(addr, &unique_name("txn-visibility-id")).await;
    p.init_transactions().await.unwrap();

    p.begin_transaction().await.unwrap();
    let committed: Vec<String> = (0..10).map(|n| format!("commit-{n:02}")).collect();
    send_all(&p, &topic, &committed).await;
    p.commit_transaction().await.unwrap();

    p.begin_transaction().await.unwrap();
    let aborted: Vec<String> = (0..5).map(|n| format!("abort-{n:02}")).collect();
    send_all(&p, &topic, &aborted).await;
    p.flush().await.unwrap();
    p.abort_transaction().await.unwrap();

    // A later commit makes the last stable offset pass the aborted records.
    p.begin_transaction().await.unwrap();
    send_all(&p, &topic, &["commit-after".to_owned()]).await;
    p.commit_transaction().await.unwrap();
    p.close().await.unwrap();

    let mut expected = committed;
    expected.push("commit-after".to_owned());
    assert_eq!(kcat_committed_values(addr, &topic), expected);
}

kafkatx_testkit::on_both_protocols!(commit_is_visible_and_abort_is_not => commit_visible_abort_invisible);

async fn back_to_back(addr: &str) {
    let topic = unique_name("txn-back-to-back");
    create_topic(addr, &topic, 3).await.unwrap();
    let p = producer(addr, &unique_name("txn-back-to-back-id")).await;
    p.init_transactions().await.unwrap();
    let mut expected = Vec::new();
    for txn in 0..40 {
        p.begin_transaction().await.unwrap();
        let values: Vec<String> = (0..3).map(|n| format!("t{txn:02}-{n}")).collect();
        send_all(&p, &topic, &values).await;
        if txn % 7 == 6 {
            p.abort_transaction().await.unwrap();
        } else {
            p.commit_transaction().await.unwrap();
            expected.extend(values);
        }
    }
    assert!(p.metrics().commits >= 34);
    p.close().await.unwrap();
    expected.sort();
    assert_eq!(kcat_committed_values(addr, &topic), expected);
}

kafkatx_testkit::on_both_protocols!(many_transactions_back_to_back => back_to_back);

async fn fencing(addr: &str) {
    let topic = unique_name("txn-fencing");
    create_topic(addr, &topic, 1).await.unwrap();
    let id = unique_name("txn-fencing-id");
    let first = producer(addr, &id).await;
    first.init_transactions().await.unwrap();
    first.begin_transaction().await.unwrap();
    send_all(&first, &topic, &["zombie".to_owned()]).await;
    first.flush().await.unwrap();

    let second = producer(addr, &id).await;
    second.init_transactions().await.unwrap();
    let error = first.commit_transaction().await.unwrap_err();
    assert!(
        error.is_fatal(),
        "the fenced producer reports a fatal error: {error:?}"
    );
    assert_eq!(error, TxnError::Fenced);
    assert!(first.begin_transaction().await.unwrap_err().is_fatal());

    second.begin_transaction().await.unwrap();
    send_all(&second, &topic, &["owner".to_owned()]).await;
    second.commit_transaction().await.unwrap();
    second.close().await.unwrap();
    assert_eq!(
        kcat_committed_values(addr, &topic),
        vec!["owner".to_owned()]
    );
}

kafkatx_testkit::on_both_protocols!(second_producer_fences_the_first => fencing);

/// Partition of each key as written by the Java client (kafka-console-producer).
fn java_partitions(addr: &str, topic: &str, keys: &[String]) -> BTreeMap<String, i32> {
    let input: String = keys.iter().map(|k| format!("{k}:java-{k}\n")).collect();
    let mut child = Command::new(kafka_script())
        .args([
            "java",
            "org.apache.kafka.tools.ConsoleProducer",
            "--bootstrap-server",
            addr,
            "--topic",
            topic,
        ])
        .args([
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success(), "console producer failed");
    kcat_read_committed(addr, topic)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.key.map(|k| (k, r.partition)))
        .collect()
}

#[tokio::test]
async fn keyed_records_land_where_the_java_client_puts_them() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let partitions = 7;
    let ours = unique_name("txn-keys-ours");
    let java = unique_name("txn-keys-java");
    create_topic(&addr, &ours, partitions).await.unwrap();
    create_topic(&addr, &java, partitions).await.unwrap();
    let keys: Vec<String> = (0..40).map(|n| format!("key-{n}")).collect();

    let p = producer(&addr, &unique_name("txn-keys-id")).await;
    p.init_transactions().await.unwrap();
    p.begin_transaction().await.unwrap();
    for key in &keys {
        let record = ProducerRecord::new(ours.clone(), Bytes::from(format!("ours-{key}")))
            .with_key(Bytes::from(key.clone()));
        p.send(record).await.unwrap();
    }
    p.commit_transaction().await.unwrap();
    p.close().await.unwrap();

    let placed: BTreeMap<String, i32> = kcat_read_committed(&addr, &ours)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.key.map(|k| (k, r.partition)))
        .collect();
    assert_eq!(placed.len(), keys.len());
    for (key, partition) in &placed {
        assert_eq!(*partition, partition_for_key(key.as_bytes(), 7), "{key}");
    }
    assert_eq!(
        placed,
        java_partitions(&addr, &java, &keys),
        "same partitions as the Java client"
    );
}

#[tokio::test]
async fn every_compression_codec_commits_readably() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = unique_name(&format!("txn-codec-{codec}"));
        create_topic(&addr, &topic, 1).await.unwrap();
        let config = ProducerConfig::builder()
            .set("bootstrap.servers", &addr)
            .and_then(|b| b.set("transactional.id", &unique_name("txn-codec-id")))
            .and_then(|b| b.set("compression.type", codec))
            .and_then(|b| b.set("linger.ms", "20"))
            .unwrap()
            .build()
            .unwrap();
        let p = TransactionalProducer::new(config).await.unwrap();
        p.init_transactions().await.unwrap();
        p.begin_transaction().await.unwrap();
        let values: Vec<String> = (0..50)
            .map(|n| format!("{codec}-{n:02}-{}", "x".repeat(n)))
            .collect();
        send_all(&p, &topic, &values).await;
        p.commit_transaction().await.unwrap();
        p.close().await.unwrap();
        let mut expected = values;
        expected.sort();
        assert_eq!(kcat_committed_values(&addr, &topic), expected, "{codec}");
    }
}
