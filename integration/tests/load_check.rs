//! `kafkatx load --check` against the gateway on a real broker: 200 concurrent requests, then
//! the exactly-once judgement by our read_committed reader and by kcat.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kafkatx_integration::{bootstrap, create_topic, require_broker, unique_name};
use kafkatx_server::ServerConfig;
use kafkatx_server::cli::load::{Endpoint, LoadArgs, execute};
use kafkatx_server::kafka_backend::{self, KafkaSettings};
use kafkatx_wire::compression::Compression;
use tokio::net::TcpListener;

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
        kcat: "kcat".to_owned(),
        settle_ms: 500,
        run_id: None,
        json: false,
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
    let seed_topic = unique_name("load-check-seed");
    let records_topic = unique_name("load-check-records");
    for topic in [&seed_topic, &records_topic] {
        create_topic(&addr, topic, 3).await.unwrap();
    }
    let settings = KafkaSettings {
        bootstrap_servers: vec![addr.clone()],
        pool_size: 5,
        instance_id: unique_name("load-check"),
        transactional_id_prefix: "kafkatx".to_owned(),
        compression: Compression::Zstd,
        lease_timeout: Duration::from_secs(30),
        transaction_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(30),
        delivery_timeout: Duration::from_secs(45),
        producer_properties: Vec::new(),
        max_pending_transactions: 256,
        max_requests_per_transaction,
    };
    let backend = Arc::new(kafka_backend::connect(settings).await.unwrap());
    let config = ServerConfig {
        errors_topic: seed_topic.clone(),
        ..ServerConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kafkatx_server::run(
        listener,
        Arc::clone(&backend),
        config,
        async move {
            let _ = stopped.await;
        },
    ));

    for (endpoint, topic, parts) in [
        (Endpoint::Errors, &seed_topic, 2),
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

    stop.send(()).unwrap();
    server.await.unwrap();
}
