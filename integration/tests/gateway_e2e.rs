//! The gateway on the real pool and engine against a real broker.
//!
//! Uses `KAFKATX_BOOTSTRAP` (default `127.0.0.1:9092`), as `./dev test` exports it. Without a
//! broker the test is skipped with a notice, except under CI where that is a failure. Topics are
//! unique per run and auto-created (the project's test brokers enable that).

mod common;

use common::{gateway_settings, start_gateway};
use kafkatx_testkit::http as support;

use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::ServerConfig;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_wire::compression::Compression;

use kafkatx_testkit::{bootstrap, require_broker, unique_name};

#[tokio::test]
async fn pair_and_record_endpoints_commit_through_the_pool_on_a_real_broker() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("srv-e2e");
    let instance = unique_name("e2e");
    let settings = KafkaSettings {
        pool_size: 2,
        compression: Compression::Zstd,
        lease_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        delivery_timeout: Duration::from_secs(45),
        // Topics here are auto-created on first use (see the module doc).
        allow_auto_create_topics: true,
        ..gateway_settings(&addr, &instance)
    };
    let backend = Arc::new(kafka::connect(settings).await.unwrap());
    let config = ServerConfig {
        errors_topic: topic.clone(),
        warnings_topic: topic.clone(),
        ..ServerConfig::default()
    };
    let gateway = start_gateway(Arc::clone(&backend), config).await;
    let http = gateway.addr;

    let ready = support::get(http, "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text());

    let pair = support::get(http, "/errors/e2e-user").await;
    assert_eq!(pair.status, 200, "{}", pair.text());
    let pair = pair.json();
    let txn_id = pair["transactional_id"].as_str().unwrap();
    assert!(
        txn_id.starts_with(&format!("kafkatx-{instance}-")),
        "{txn_id}"
    );
    assert_eq!(pair["records"].as_array().unwrap().len(), 2);

    let body =
        r#"{"records":[{"key":"k","value":"one","partition":0},{"value":"two","partition":0}]}"#;
    let posted = support::post(http, &format!("/v1/topics/{topic}/records"), body).await;
    assert_eq!(posted.status, 200, "{}", posted.text());
    let records = posted.json()["records"].clone();
    let first = records[0]["offset"].as_i64().unwrap();
    let second = records[1]["offset"].as_i64().unwrap();
    // Records of one transaction on one partition get consecutive offsets.
    assert!(first >= 0);
    assert_eq!(second, first + 1);

    gateway.stop().await;
    assert!(backend.pool().is_closed());
}
