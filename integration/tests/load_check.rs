//! `kafkatx load --check` against the gateway on a real broker: 200 concurrent requests, then
//! the exactly-once judgement by our read_committed reader and by kcat.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{gateway_settings, start_gateway};
use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::ServerConfig;
use kafkatx_server::backend::idempotency::MarkerSettings;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_testkit::fault_proxy::{Fault, FaultProxy};
use kafkatx_testkit::{bootstrap, create_topic, require_broker, unique_name};
use kafkatx_tools::load::{Endpoint, LoadArgs, execute};
use kafkatx_wire::compression::Compression;
use kafkatx_wire::protocol::messages::ApiKey;

fn load_args(url: &str, endpoint: Endpoint, topic: &str, requests: u64) -> LoadArgs {
    LoadArgs {
        url: url.to_owned(),
        concurrency: 200,
        requests: Some(requests),
        duration: None,
        endpoint,
        topic: Some(topic.to_owned()),
        records_per_request: 3,
        timeout_ms: 60_000,
        check: true,
        bootstrap_server: bootstrap(),
        consumer_properties: Vec::new(),
        kcat: "kcat".to_owned(),
        settle_ms: 500,
        run_id: None,
        idempotency_retries: None,
        json: false,
        ca: None,
        campaign: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_are_exactly_once_for_both_readers() {
    concurrent_requests_are_exactly_once(1).await;
}

/// The same with group commit: requests share transactions, and each must still be
/// all-or-nothing and exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_group_commit_every_request_is_still_exactly_once() {
    concurrent_requests_are_exactly_once(32).await;
}

async fn concurrent_requests_are_exactly_once(max_requests_per_transaction: usize) {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let pair_topic = unique_name("load-check-pair");
    let records_topic = unique_name("load-check-records");
    for topic in [&pair_topic, &records_topic] {
        create_topic(&addr, topic, 3).await.unwrap();
    }
    let settings = KafkaSettings {
        pool_size: 5,
        compression: Compression::Zstd,
        request_timeout: Duration::from_secs(30),
        delivery_timeout: Duration::from_secs(45),
        max_pending_transactions: 256,
        max_requests_per_transaction,
        ..gateway_settings(&addr, &unique_name("load-check"))
    };
    let backend = Arc::new(kafka::connect(settings).await.unwrap());
    let config = ServerConfig {
        errors_topic: pair_topic.clone(),
        ..ServerConfig::default()
    };
    let gateway = start_gateway(Arc::clone(&backend), config).await;
    let url = gateway.url();

    for (endpoint, topic, parts) in [
        (Endpoint::Errors, &pair_topic, 2),
        (Endpoint::Records, &records_topic, 3),
    ] {
        let report = execute(&load_args(&url, endpoint, topic, 600))
            .await
            .unwrap();
        println!("{report}");
        let summary = &report.summary;
        assert_eq!(summary.requests, 600);
        assert!(summary.committed > 0, "{report}");
        let check = report.check.as_ref().unwrap();
        assert!(check.passed(), "{report}");
        for verdict in [&check.kafkatx_reader, &check.kcat_reader] {
            assert_eq!(verdict.anomalies(), 0, "{report}");
            assert_eq!(verdict.committed_ok, summary.committed, "{report}");
            // A fresh topic holds this run's messages only: every committed request's, all of them.
            assert_eq!(verdict.ignored_messages, 0, "{report}");
            assert!(
                verdict.run_messages >= summary.committed * parts,
                "{report}"
            );
        }
    }

    gateway.stop().await;
}

/// Every request with an idempotency key, and a client that gives up after one second while,
/// for the first seconds of the run, the broker swallows commit answers (the gateway's
/// producers resend EndTxn after two): the client's retries with the same key resolve every
/// unknown outcome, and the check finds every committed request exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_retries_resolve_every_unknown_outcome() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("load-check-keyed");
    create_topic(&addr, &topic, 3).await.unwrap();
    let proxy = Arc::new(FaultProxy::start(&addr).await.unwrap());
    let settings = KafkaSettings {
        pool_size: 5,
        compression: Compression::Zstd,
        request_timeout: Duration::from_secs(2),
        delivery_timeout: Duration::from_secs(30),
        max_pending_transactions: 256,
        ..gateway_settings(&proxy.address(), &unique_name("load-check-keyed"))
    };
    let markers = MarkerSettings {
        topic: unique_name("load-check-markers"),
        partitions: 4,
        retention: Duration::from_secs(3600),
        wait: Duration::from_secs(10),
    };
    let log = kafka::marker_log(&settings, markers).await.unwrap();
    let backend = Arc::new(
        kafka::connect(settings)
            .await
            .unwrap()
            .with_idempotency(log),
    );
    let gateway = start_gateway(Arc::clone(&backend), ServerConfig::default()).await;
    let url = gateway.url();
    let faults = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move {
            for _ in 0..10 {
                proxy.inject(Fault::Stall, Some(ApiKey::EndTxn), 1);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            proxy.clear();
        }
    });
    let args = LoadArgs {
        concurrency: 32,
        timeout_ms: 1_000,
        idempotency_retries: Some(Duration::from_secs(60)),
        ..load_args(&url, Endpoint::Records, &topic, 300)
    };
    let report = execute(&args).await.unwrap();
    faults.await.unwrap();
    println!("{report}");
    let summary = &report.summary;
    assert!(proxy.injected() > 0, "no commit answer was swallowed");
    assert!(summary.retries > 0, "no request needed a retry: {report}");
    assert_eq!(summary.unknown, 0, "{report}");
    assert_eq!(summary.committed + summary.failed, 300, "{report}");
    assert!(report.passed(), "{report}");
    let check = report.check.as_ref().unwrap();
    for verdict in [&check.kafkatx_reader, &check.kcat_reader] {
        assert_eq!(verdict.committed_ok, summary.committed, "{report}");
    }
}
