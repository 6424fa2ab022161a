//! `Idempotency-Key` against the real broker: a retry replays the first attempt's answer byte
//! for byte and writes nothing; the same key with another request is refused; racing attempts
//! on two gateway instances commit exactly once; and a retry resolves an attempt whose gateway
//! died after sending its commit, or before.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TestGateway, gateway_settings, start_gateway};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::ServerConfig;
use kafkatx_server::backend::idempotency::MarkerSettings;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_testkit::fault_proxy::{Fault, FaultProxy};
use kafkatx_testkit::http::{HttpResponse, try_request};
use kafkatx_testkit::{create_topic, unique_name};
use kafkatx_wire::protocol::messages::ApiKey;
use kafkatx_wire::reader::{Isolation, read_topic};

fn settings(bootstrap: &str, instance: &str, transaction_timeout: Duration) -> KafkaSettings {
    KafkaSettings {
        pool_size: 3,
        transaction_timeout,
        request_timeout: Duration::from_secs(5),
        max_pending_transactions: 256,
        ..gateway_settings(bootstrap, instance)
    }
}

fn markers(topic: &str) -> MarkerSettings {
    MarkerSettings {
        topic: topic.to_owned(),
        partitions: 4,
        retention: Duration::from_secs(3600),
        wait: Duration::from_secs(20),
    }
}

/// Starts a gateway with idempotency keys on the current runtime.
async fn gateway(settings: KafkaSettings, marker_topic: &str) -> TestGateway {
    let log = kafka::marker_log(&settings, markers(marker_topic))
        .await
        .unwrap();
    let backend = kafka::connect(settings)
        .await
        .unwrap()
        .with_idempotency(log);
    start_gateway(Arc::new(backend), ServerConfig::default()).await
}

async fn post_keyed(
    http: SocketAddr,
    path: &str,
    key: &str,
    body: &str,
) -> std::io::Result<HttpResponse> {
    let headers = [
        ("idempotency-key", key),
        ("content-type", "application/json"),
    ];
    try_request(http, "POST", path, &headers, body.as_bytes()).await
}

/// Every committed value of `topic`, with how often it is visible.
async fn visible(addr: &str, topic: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for record in read_topic(addr, topic, Isolation::ReadCommitted)
        .await
        .unwrap()
    {
        let value = record.record.value.unwrap_or_default();
        *seen
            .entry(String::from_utf8(value.to_vec()).unwrap())
            .or_default() += 1;
    }
    seen
}

async fn replays_and_refuses_reuse(addr: &str) {
    let topic = unique_name("idem-replay");
    create_topic(addr, &topic, 3).await.unwrap();
    let served = gateway(
        settings(addr, &unique_name("idem-replay"), Duration::from_secs(60)),
        &unique_name("idem-markers"),
    )
    .await;
    let http = served.addr;
    let path = format!("/v1/topics/{topic}/records");
    let body = r#"{"records":[{"value":"one"},{"value":"two"}]}"#;

    let first = post_keyed(http, &path, "order-1", body).await.unwrap();
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = post_keyed(http, &path, "\"order-1\"", body).await.unwrap();
    assert_eq!(retry.status, 200, "{}", retry.text());
    assert_eq!(retry.text(), first.text(), "byte for byte the first answer");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));

    let other = r#"{"records":[{"value":"three"}]}"#;
    let reused = post_keyed(http, &path, "order-1", other).await.unwrap();
    assert_eq!(reused.status, 422, "{}", reused.text());
    assert!(
        reused.text().contains(r#""code":"key_reused""#),
        "{}",
        reused.text()
    );
    assert!(
        reused.text().contains(r#""outcome":"none""#),
        "{}",
        reused.text()
    );

    let bad = post_keyed(http, &path, "", body).await.unwrap();
    assert_eq!(bad.status, 400, "{}", bad.text());
    let unkeyed = try_request(
        http,
        "POST",
        &path,
        &[("content-type", "application/json")],
        br#"{"records":[{"value":"four"}]}"#,
    )
    .await
    .unwrap();
    assert_eq!(unkeyed.status, 200, "{}", unkeyed.text());

    // The pair endpoints take keys too: their values name the producer, and a replay
    // returns the first answer, not a second pair of records.
    let errors = try_request(
        http,
        "GET",
        "/errors/7",
        &[("idempotency-key", "pair-7")],
        b"",
    )
    .await
    .unwrap();
    assert!(
        errors.status == 200 || errors.status == 404,
        "{}",
        errors.text()
    );
    if errors.status == 200 {
        let again = try_request(
            http,
            "GET",
            "/errors/7",
            &[("idempotency-key", "pair-7")],
            b"",
        )
        .await
        .unwrap();
        assert_eq!(again.text(), errors.text());
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }

    let seen = visible(addr, &topic).await;
    let expected: HashMap<String, usize> = [("one", 1), ("two", 1), ("four", 1)]
        .map(|(v, n)| (v.to_owned(), n))
        .into();
    assert_eq!(seen, expected);
}

async fn racing_attempts_on_two_instances_commit_once(addr: &str) {
    const KEYS: usize = 1000;
    const AT_ONCE: usize = 32;
    let topic = unique_name("idem-race");
    create_topic(addr, &topic, 3).await.unwrap();
    let marker_topic = unique_name("idem-race-markers");
    let timeout = Duration::from_secs(60);
    let first_gateway = gateway(
        settings(addr, &unique_name("idem-race-a"), timeout),
        &marker_topic,
    )
    .await;
    let second_gateway = gateway(
        settings(addr, &unique_name("idem-race-b"), timeout),
        &marker_topic,
    )
    .await;
    let (first, second) = (first_gateway.addr, second_gateway.addr);
    let path = format!("/v1/topics/{topic}/records");
    let mut ran = 0;
    let mut replayed = 0;
    for batch in 0..KEYS.div_ceil(AT_ONCE) {
        let mut races = Vec::new();
        for i in batch * AT_ONCE..((batch + 1) * AT_ONCE).min(KEYS) {
            let path = path.clone();
            races.push(tokio::spawn(async move {
                let key = format!("race-{i}");
                let body = format!(r#"{{"records":[{{"value":"r{i}"}}]}}"#);
                // A random head start for either side, so each orders first in turn.
                let delay = |seed: usize| Duration::from_micros(((seed * 7919) % 5000) as u64);
                let (a, b) = tokio::join!(
                    async {
                        tokio::time::sleep(delay(i)).await;
                        post_keyed(first, &path, &key, &body).await.unwrap()
                    },
                    async {
                        tokio::time::sleep(delay(i * 31 + 17)).await;
                        post_keyed(second, &path, &key, &body).await.unwrap()
                    }
                );
                (i, a, b)
            }));
        }
        for race in races {
            let (i, a, b) = race.await.unwrap();
            assert_eq!(
                (a.status, b.status),
                (200, 200),
                "key {i}: {} / {}",
                a.text(),
                b.text()
            );
            assert_eq!(
                a.text(),
                b.text(),
                "key {i}: both answers name the same records"
            );
            let replays = [&a, &b]
                .iter()
                .filter(|x| x.header("idempotent-replayed") == Some("true"))
                .count();
            assert_eq!(replays, 1, "key {i}: exactly one attempt ran");
            ran += 1;
            replayed += replays;
        }
    }
    assert_eq!((ran, replayed), (KEYS, KEYS));
    let seen = visible(addr, &topic).await;
    assert_eq!(seen.len(), KEYS);
    assert!(
        seen.values().all(|&n| n == 1),
        "a key's records are visible once"
    );
}

/// A gateway on a runtime of its own, so that dropping the runtime kills it at once: its
/// tasks stop mid-flight and its connections close, as with SIGKILL.
struct DoomedGateway {
    gateway: TestGateway,
    runtime: tokio::runtime::Runtime,
}

impl DoomedGateway {
    fn start(settings: KafkaSettings, marker_topic: String) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let gateway = runtime.block_on(gateway(settings, &marker_topic));
        Self { gateway, runtime }
    }

    fn kill(self) {
        self.runtime.shutdown_background();
    }
}

async fn a_retry_resolves_an_attempt_whose_gateway_died(addr: &str) {
    let topic = unique_name("idem-crash");
    create_topic(addr, &topic, 1).await.unwrap();
    let marker_topic = unique_name("idem-crash-markers");
    let path = format!("/v1/topics/{topic}/records");
    let survivor_gateway = gateway(
        settings(addr, &unique_name("idem-crash-b"), Duration::from_secs(60)),
        &marker_topic,
    )
    .await;
    let survivor = survivor_gateway.addr;

    // Case 1: the gateway dies after sending EndTxn, before its answer: the commit happened.
    // Case 2: it dies while it looks up earlier attempts (its ListOffsets answer never comes),
    // its claim written: the transaction stays open until the broker aborts it
    // (transaction.timeout.ms), and the retry then runs as a first attempt.
    for (case, fault_on, committed_first) in
        [(1, ApiKey::EndTxn, true), (2, ApiKey::ListOffsets, false)]
    {
        let proxy = FaultProxy::start(addr).await.unwrap();
        let doomed_settings = settings(
            &proxy.address(),
            &unique_name("idem-crash-a"),
            Duration::from_secs(5),
        );
        let doomed = tokio::task::spawn_blocking({
            let marker_topic = marker_topic.clone();
            move || DoomedGateway::start(doomed_settings, marker_topic)
        })
        .await
        .unwrap();
        let key = format!("crash-{case}");
        let body = format!(r#"{{"records":[{{"value":"crash-{case}"}}]}}"#);
        let doomed_addr = doomed.gateway.addr;
        proxy.inject(Fault::Stall, Some(fault_on), 1);
        let attempt = {
            let (path, key, body) = (path.clone(), key.clone(), body.clone());
            tokio::spawn(async move { post_keyed(doomed_addr, &path, &key, &body).await })
        };
        for _ in 0..200 {
            if proxy.injected() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            proxy.injected(),
            1,
            "case {case}: the fault was not reached"
        );
        tokio::task::spawn_blocking(move || doomed.kill())
            .await
            .unwrap();
        drop(proxy);
        let lost = attempt.await.unwrap();
        assert!(
            lost.is_err() || lost.as_ref().unwrap().status != 200,
            "case {case}: {lost:?}"
        );

        let mut retry = post_keyed(survivor, &path, &key, &body).await.unwrap();
        while retry.status == 409 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            retry = post_keyed(survivor, &path, &key, &body).await.unwrap();
        }
        assert_eq!(retry.status, 200, "case {case}: {}", retry.text());
        let replayed = retry.header("idempotent-replayed") == Some("true");
        assert_eq!(replayed, committed_first, "case {case}: {retry:?}");
        let seen = visible(addr, &topic).await;
        assert_eq!(
            seen.get(&format!("crash-{case}")),
            Some(&1),
            "case {case}: {seen:?}"
        );
    }
}

/// A marker topic the cluster refuses to create stops the start with the reason; a cluster that
/// does not answer yet does not (the producers wait for it too).
async fn a_refused_marker_topic_stops_the_start(addr: &str) {
    let refused = kafka::marker_log(
        &settings(addr, &unique_name("idem-refused"), Duration::from_secs(60)),
        markers("no spaces in topic names"),
    )
    .await;
    let error = refused.expect_err("an invalid topic name cannot be created");
    assert!(
        error.to_string().contains("--idempotency-topic"),
        "the error names the setting: {error}"
    );
    let later = kafka::marker_log(
        &settings(
            "127.0.0.1:1",
            &unique_name("idem-later"),
            Duration::from_secs(60),
        ),
        markers(&unique_name("idem-later")),
    )
    .await;
    assert!(later.is_ok(), "no broker yet is not an error: {later:?}");
}

kafkatx_testkit::on_both_protocols!(
    refused_topic => a_refused_marker_topic_stops_the_start,
    replay_and_reuse => replays_and_refuses_reuse,
    racing_instances => racing_attempts_on_two_instances_commit_once,
    gateway_died => a_retry_resolves_an_attempt_whose_gateway_died,
);
