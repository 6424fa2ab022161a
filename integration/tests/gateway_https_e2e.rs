//! HTTPS and API keys on the real pool, engine and broker: what a refused request leaves in
//! Kafka (nothing, read back read_committed), what an accepted one commits, certificate reload
//! under an open keep-alive connection, and client certificates. The broker is the one of
//! `KAFKATX_BOOTSTRAP` (`kafkatx_testkit::require_broker`): without one the tests are skipped,
//! and fail under CI.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TestGateway, gateway_settings, start_gateway_with_tls};
use kafkatx_server::http::tls::common_name;

use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::ServerConfig;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_server::http::auth::{AccessList, KeyHash, SharedAccess};
use kafkatx_server::http::tls::{ClientAuth, ServerTls, TlsFiles};
use kafkatx_testkit::certs::{Ca, TempDir, client_config};
use kafkatx_testkit::https::{self, exchange, keep_alive_request, server_name_of};
use kafkatx_testkit::{bootstrap, require_broker, unique_name};
use kafkatx_wire::compression::Compression;
use kafkatx_wire::reader::{Isolation, read_topic};

fn settings(bootstrap: &str) -> KafkaSettings {
    KafkaSettings {
        pool_size: 2,
        compression: Compression::Lz4,
        lease_timeout: Duration::from_secs(2),
        delivery_timeout: Duration::from_secs(15),
        // The tests' topics are unique and created by their first allowed write.
        allow_auto_create_topics: true,
        ..gateway_settings(bootstrap, &unique_name("https-e2e"))
    }
}

/// The gateway over HTTPS on the real pool.
async fn gateway(bootstrap: &str, config: ServerConfig, tls: ServerTls) -> TestGateway {
    let backend = Arc::new(kafka::connect(settings(bootstrap)).await.unwrap());
    start_gateway_with_tls(backend, config, Some(tls)).await
}

/// A CA and the server's files in a temporary directory.
fn certificates(client_ca: Option<ClientAuth>) -> (TempDir, Ca, TlsFiles) {
    let dir = TempDir::new("kafkatx-https-e2e");
    let ca = Ca::new("e2e CA");
    let (cert, key) = ca.server("server-1").write(&dir.0, "server");
    let client_ca = client_ca.map(|mode| (ca.write(&dir.0, "ca"), mode));
    let files = TlsFiles {
        cert,
        key,
        client_ca,
    };
    (dir, ca, files)
}

async fn values(bootstrap: &str, topic: &str) -> Vec<String> {
    read_topic(bootstrap, topic, Isolation::ReadCommitted)
        .await
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.record.value.unwrap().to_vec()).unwrap())
        .collect()
}

fn records(value: &str) -> String {
    format!(r#"{{"records":[{{"value":"{value}"}}]}}"#)
}

#[tokio::test]
async fn keys_commit_what_they_may_and_refused_requests_write_nothing() {
    let bootstrap = bootstrap();
    if !require_broker(&bootstrap).await {
        return;
    }
    let (topic_a, topic_b, topic_c) = (
        unique_name("keys-a"),
        unique_name("keys-b"),
        unique_name("keys-c"),
    );
    let (key_a, key_b) = ("key-a-0123456789abcdef", "key-b-0123456789abcdef");
    let text = format!(
        "{} writer-a topics={topic_a}\n{} writer-b topics={topic_b}\n\
         cert:CN=billing billing topics={topic_c}\n",
        KeyHash::of(key_a.as_bytes()),
        KeyHash::of(key_b.as_bytes()),
    );
    let config = ServerConfig {
        access: Some(Arc::new(SharedAccess::fixed(
            AccessList::parse(&text, "e2e").unwrap(),
        ))),
        ..ServerConfig::default()
    };
    let (_dir, ca, files) = certificates(Some(ClientAuth::Optional));
    let served = gateway(&bootstrap, config, ServerTls::load(&files).unwrap()).await;
    let http = served.addr;
    let anonymous = client_config(&ca.cert_pem, None);
    let post =
        |client: Arc<rustls::ClientConfig>, key: Option<&str>, path: String, body: String| {
            let auth = key.map(|k| format!("Bearer {k}"));
            async move {
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("Authorization", a.as_str())).collect();
                https::request(http, client, "POST", &path, &headers, &body)
                    .await
                    .unwrap()
            }
        };
    let path = |topic: &str| format!("/v1/topics/{topic}/records");

    // Allowed: committed, over HTTPS, and read back.
    let ok = post(
        anonymous.clone(),
        Some(key_a),
        path(&topic_a),
        records("a1"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let ok = post(
        anonymous.clone(),
        Some(key_b),
        path(&topic_b),
        records("b1"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());

    // Refused: no key, a wrong key, another caller's topic, one foreign topic of several.
    let refusals = [
        (None, path(&topic_a), records("x1"), 401),
        (
            Some("wrong-0123456789abcdef"),
            path(&topic_a),
            records("x2"),
            401,
        ),
        (Some(key_b), path(&topic_a), records("x3"), 403),
        (
            Some(key_a),
            "/v1/transactions".to_owned(),
            format!(
                r#"{{"records":[{{"topic":"{topic_a}","value":"x4"}},{{"topic":"{topic_b}","value":"x5"}}]}}"#
            ),
            403,
        ),
    ];
    for (key, path, body, status) in refusals {
        let answer = post(anonymous.clone(), key, path.clone(), body).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.text());
        assert_eq!(answer.json()["error"]["outcome"], "none");
    }
    assert_eq!(values(&bootstrap, &topic_a).await, ["a1"]);
    assert_eq!(values(&bootstrap, &topic_b).await, ["b1"]);

    // A client certificate named in the file writes its topic, and only with the certificate.
    let billing = client_config(&ca.cert_pem, Some(&ca.client("billing")));
    let ok = post(billing.clone(), None, path(&topic_c), records("c1")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let refused = post(anonymous, None, path(&topic_c), records("c2")).await;
    assert_eq!(refused.status, 401);
    let refused = post(billing, None, path(&topic_a), records("c3")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(values(&bootstrap, &topic_c).await, ["c1"]);
    assert_eq!(values(&bootstrap, &topic_a).await, ["a1"]);
}

#[tokio::test]
async fn a_reload_under_an_open_keep_alive_connection_loses_nothing() {
    let bootstrap = bootstrap();
    if !require_broker(&bootstrap).await {
        return;
    }
    let topic = unique_name("reload");
    let (dir, ca, files) = certificates(None);
    let tls = ServerTls::load(&files).unwrap();
    let store = Arc::clone(tls.store());
    let watcher = tokio::spawn(kafkatx_server::http::tls::watch(
        Arc::clone(&store),
        Duration::from_millis(100),
        None,
    ));
    let served = gateway(&bootstrap, ServerConfig::default(), tls).await;
    let http = served.addr;
    let client = client_config(&ca.cert_pem, None);
    let path = format!("/v1/topics/{topic}/records");
    let post = |value: &str| keep_alive_request("POST", &path, &[], &records(value));

    let mut open = https::connect(http, Arc::clone(&client)).await.unwrap();
    assert_eq!(
        exchange(&mut open, &post("before")).await.unwrap().status,
        200
    );

    // Renew the files as a renewal tool would: new pair, same names; the watcher notices.
    ca.server("server-2").write(&dir.0, "server");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut fresh = loop {
        let fresh = https::connect(http, Arc::clone(&client)).await.unwrap();
        if server_name_of(&fresh, common_name).as_deref() == Some("server-2") {
            break fresh;
        }
        assert!(tokio::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let old = exchange(&mut open, &post("old-connection")).await.unwrap();
    assert_eq!(old.status, 200, "{}", old.text());
    assert_eq!(
        server_name_of(&open, common_name).as_deref(),
        Some("server-1")
    );
    let new = exchange(&mut fresh, &post("new-connection")).await.unwrap();
    assert_eq!(new.status, 200, "{}", new.text());
    assert_eq!(
        values(&bootstrap, &topic).await,
        ["before", "old-connection", "new-connection"]
    );
    watcher.abort();
}

#[tokio::test]
async fn a_required_client_certificate_is_the_door() {
    let bootstrap = bootstrap();
    if !require_broker(&bootstrap).await {
        return;
    }
    let topic = unique_name("mtls");
    let (_dir, ca, files) = certificates(Some(ClientAuth::Required));
    let served = gateway(
        &bootstrap,
        ServerConfig::default(),
        ServerTls::load(&files).unwrap(),
    )
    .await;
    let http = served.addr;
    let path = format!("/v1/topics/{topic}/records");
    let good = client_config(&ca.cert_pem, Some(&ca.client("any")));
    let ok = https::request(http, good, "POST", &path, &[], &records("in"))
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
    let stranger = Ca::new("stranger CA").client("any");
    for client in [None, Some(&stranger)] {
        let refused = https::request(
            http,
            client_config(&ca.cert_pem, client),
            "POST",
            &path,
            &[],
            &records("out"),
        )
        .await;
        assert!(refused.is_err(), "{refused:?}");
    }
    assert_eq!(values(&bootstrap, &topic).await, ["in"]);
}
