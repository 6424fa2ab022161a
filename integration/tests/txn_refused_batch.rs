//! A batch the broker refuses for good (here INVALID_RECORD: a record without a key on a
//! compacted topic) fails its transaction alone: after the abort, the next transaction to the
//! same partition commits at once. On the classic protocol the epoch survives an abort, so
//! the refused batch's sequences would otherwise be a gap that stalls the partition for the
//! whole delivery timeout. Checked on the engine and through the gateway with one producer.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{gateway_settings, start_gateway};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkatx_server::ServerConfig;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_testkit::http::post;
use kafkatx_testkit::{create_topic_with_configs, kcat_committed_values, unique_name};
use kafkatx_txn::{ProducerConfig, ProducerRecord, TransactionalProducer};

/// Far below the 120 s delivery timeout a gap would cost.
const AT_ONCE: Duration = Duration::from_secs(10);

async fn compacted_topic(addr: &str, prefix: &str) -> String {
    let topic = unique_name(prefix);
    create_topic_with_configs(addr, &topic, 1, &[("cleanup.policy", "compact")])
        .await
        .unwrap();
    topic
}

async fn engine_commits_at_once_after_a_refused_batch(addr: &str) {
    let topic = compacted_topic(addr, "refused-engine").await;
    let config = ProducerConfig::builder()
        .bootstrap_servers(addr)
        .transactional_id(unique_name("refused-engine-id"))
        .build()
        .unwrap();
    let producer = TransactionalProducer::new(config).await.unwrap();
    producer.init_transactions().await.unwrap();
    let keyed =
        |value: &str| ProducerRecord::new(&topic, Bytes::from(value.to_owned())).with_key("k");

    producer.begin_transaction().await.unwrap();
    producer.send(keyed("first")).await.unwrap();
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().await.unwrap();
    let refused = producer
        .send(ProducerRecord::new(&topic, "no key on a compacted topic"))
        .await
        .unwrap();
    let commit = producer.commit_transaction().await;
    assert!(
        matches!(&commit, Err(e) if e.requires_abort()),
        "the broker refuses the record: {commit:?}"
    );
    assert!(refused.await.is_err());
    producer.abort_transaction().await.unwrap();

    let started = Instant::now();
    producer.begin_transaction().await.unwrap();
    let delivered = producer.send(keyed("second")).await.unwrap();
    producer.commit_transaction().await.unwrap();
    delivered.await.unwrap();
    assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
    assert_eq!(kcat_committed_values(addr, &topic), ["first", "second"]);
}

kafkatx_testkit::on_both_protocols!(
    engine_after_a_refused_batch => engine_commits_at_once_after_a_refused_batch,
    gateway_after_a_refused_request => gateway_commits_at_once_after_a_refused_request,
);

async fn gateway_commits_at_once_after_a_refused_request(addr: &str) {
    let topic = compacted_topic(addr, "refused-gateway").await;
    let settings = KafkaSettings {
        delivery_timeout: Duration::from_secs(120),
        ..gateway_settings(addr, &unique_name("refused-gateway"))
    };
    let backend = Arc::new(kafka::connect(settings).await.unwrap());
    let gateway = start_gateway(Arc::clone(&backend), ServerConfig::default()).await;
    let http = gateway.addr;
    let path = format!("/v1/topics/{topic}/records");

    let (status, body) = post(http, &path, r#"{"records":[{"key":"k","value":"first"}]}"#)
        .await
        .status_and_text();
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(http, &path, r#"{"records":[{"value":"no key"}]}"#)
        .await
        .status_and_text();
    assert!(
        status >= 400,
        "a record the broker refuses fails its request: {status} {body}"
    );
    // Nothing of it is visible: "none" (refused before anything was written) or "aborted".
    assert!(
        body.contains(r#""outcome":"none""#) || body.contains(r#""outcome":"aborted""#),
        "{body}"
    );

    let started = Instant::now();
    let (status, body) = post(http, &path, r#"{"records":[{"key":"k","value":"second"}]}"#)
        .await
        .status_and_text();
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
    assert_eq!(kcat_committed_values(addr, &topic), ["first", "second"]);
}
