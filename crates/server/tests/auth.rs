//! `--api-keys` over HTTP with the fake backend: 401 without or with a wrong key, 403 for a
//! topic the key may not write, open probes, `/metrics` behind `--metrics-require-key`, and
//! nothing reaching the backend from a refused request.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;

use kafkatx_server::ServerConfig;
use kafkatx_server::http::auth::{AccessList, KeyHash, SharedAccess};
use support::{TestServer, request, start_server_with};

const ORDERS_KEY: &str = "orders-key-0123456789abcdef";
const PAIR_KEY: &str = "pair-key-0123456789abcdef";
const SCRAPER_KEY: &str = "scraper-key-0123456789abcdef";

fn access() -> Arc<SharedAccess> {
    let text = format!(
        "# test callers\n\
         {}  orders-app  topics=orders,payments-*\n\
         {}  pair-app    topics=errors-topic\n\
         {}  scraper     metrics\n",
        KeyHash::of(ORDERS_KEY.as_bytes()),
        KeyHash::of(PAIR_KEY.as_bytes()),
        KeyHash::of(SCRAPER_KEY.as_bytes()),
    );
    Arc::new(SharedAccess::fixed(
        AccessList::parse(&text, "test").unwrap(),
    ))
}

async fn server(metrics_require_key: bool) -> TestServer {
    start_server_with(ServerConfig {
        access: Some(access()),
        metrics_require_key,
        ..ServerConfig::default()
    })
    .await
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

async fn post_as(
    server: &TestServer,
    key: Option<&str>,
    path: &str,
    body: &str,
) -> support::HttpResponse {
    let auth = key.map(bearer);
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    request(server.addr, "POST", path, &headers, body.as_bytes()).await
}

async fn get_as(server: &TestServer, key: Option<&str>, path: &str) -> support::HttpResponse {
    let auth = key.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    request(server.addr, "GET", path, &headers, b"").await
}

fn assert_refused(response: &support::HttpResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.error_code(), code);
    assert_eq!(response.json()["error"]["outcome"], "none");
    assert!(response.header("x-request-id").is_some());
}

const ONE_RECORD: &str = r#"{"records":[{"value":"v"}]}"#;

#[tokio::test]
async fn without_or_with_a_wrong_key_writes_are_401_and_reach_no_producer() {
    let server = server(false).await;
    let path = "/v1/topics/orders/records";
    let missing = post_as(&server, None, path, ONE_RECORD).await;
    assert_refused(&missing, 401, "unauthorized");
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="kafkatx""#)
    );
    let wrong = post_as(
        &server,
        Some("wrong-key-0123456789abcdef"),
        path,
        ONE_RECORD,
    )
    .await;
    assert_refused(&wrong, 401, "unauthorized");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some(r#"Bearer realm="kafkatx", error="invalid_token""#)
    );
    let basic = request(
        server.addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Basic {ORDERS_KEY}")),
        ],
        ONE_RECORD.as_bytes(),
    )
    .await;
    assert_refused(&basic, 401, "unauthorized");
    for path in [
        "/errors/1",
        "/warnings/1",
        "/v1/topics",
        "/v1/topics/orders",
    ] {
        assert_refused(&get_as(&server, None, path).await, 401, "unauthorized");
    }
    let multi = r#"{"records":[{"topic":"orders","value":"v"}]}"#;
    assert_refused(
        &post_as(&server, None, "/v1/transactions", multi).await,
        401,
        "unauthorized",
    );
    assert!(server.backend.seen().is_empty(), "nothing reached Kafka");
}

#[tokio::test]
async fn a_key_writes_its_topics_and_prefixes_and_nothing_else() {
    let server = server(false).await;
    let key = Some(ORDERS_KEY);
    for topic in ["orders", "payments-eu"] {
        let path = format!("/v1/topics/{topic}/records");
        let answer = post_as(&server, key, &path, ONE_RECORD).await;
        assert_eq!(answer.status, 200, "{topic}: {}", answer.text());
    }
    assert_eq!(server.backend.seen().len(), 2);
    for topic in ["audit", "payments", "orders2"] {
        let path = format!("/v1/topics/{topic}/records");
        let refused = post_as(&server, key, &path, ONE_RECORD).await;
        assert_refused(&refused, 403, "forbidden");
        assert!(refused.text().contains(topic), "{}", refused.text());
    }
    // One forbidden topic refuses the whole multi-topic transaction.
    let mixed = r#"{"records":[{"topic":"orders","value":"a"},{"topic":"audit","value":"b"}]}"#;
    let refused = post_as(&server, key, "/v1/transactions", mixed).await;
    assert_refused(&refused, 403, "forbidden");
    assert!(refused.text().contains("audit"));
    let allowed =
        r#"{"records":[{"topic":"orders","value":"a"},{"topic":"payments-x","value":"b"}]}"#;
    assert_eq!(
        post_as(&server, key, "/v1/transactions", allowed)
            .await
            .status,
        200
    );
    assert_eq!(
        server.backend.seen().len(),
        3,
        "no refused request reached Kafka"
    );
    // Reading metadata needs a caller, not a topic right.
    assert_eq!(get_as(&server, key, "/v1/topics").await.status, 200);
}

#[tokio::test]
async fn the_pair_endpoints_need_the_right_on_their_configured_topic() {
    let server = server(false).await;
    assert_eq!(
        get_as(&server, Some(PAIR_KEY), "/errors/1").await.status,
        200
    );
    let refused = get_as(&server, Some(PAIR_KEY), "/warnings/1").await;
    assert_refused(&refused, 403, "forbidden");
    assert!(refused.text().contains("warnings-topic"));
    assert_refused(
        &get_as(&server, Some(ORDERS_KEY), "/errors/1").await,
        403,
        "forbidden",
    );
    assert_eq!(server.backend.seen().len(), 1);
}

#[tokio::test]
async fn probes_and_the_document_stay_open() {
    let server = server(true).await;
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(get_as(&server, None, path).await.status, 200, "{path}");
        let wrong = get_as(&server, Some("wrong-key-0123456789"), path).await;
        assert_eq!(
            wrong.status, 200,
            "{path}: a key is ignored where none is needed"
        );
    }
}

#[tokio::test]
async fn metrics_need_the_metrics_right_only_when_asked() {
    let open = server(false).await;
    assert_eq!(get_as(&open, None, "/metrics").await.status, 200);
    let guarded = server(true).await;
    assert_refused(
        &get_as(&guarded, None, "/metrics").await,
        401,
        "unauthorized",
    );
    assert_refused(
        &get_as(&guarded, Some(ORDERS_KEY), "/metrics").await,
        403,
        "forbidden",
    );
    let scraped = get_as(&guarded, Some(SCRAPER_KEY), "/metrics").await;
    assert_eq!(scraped.status, 200);
    // Refusals are counted like any answer.
    assert!(
        scraped
            .text()
            .contains(r#"route="metrics",method="GET",status="401""#),
        "{}",
        scraped.text()
    );
}

#[tokio::test]
async fn without_an_access_file_any_header_is_ignored() {
    let server = start_server_with(ServerConfig::default()).await;
    let answer = post_as(
        &server,
        Some("anything"),
        "/v1/topics/orders/records",
        ONE_RECORD,
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn browsers_may_send_a_key_and_read_the_challenge() {
    let server = start_server_with(ServerConfig {
        access: Some(access()),
        cors_origins: vec!["https://app.example".to_owned()],
        ..ServerConfig::default()
    })
    .await;
    // A preflight carries no credentials (Fetch standard) and is answered without them.
    let preflight = request(
        server.addr,
        "OPTIONS",
        "/v1/topics/orders/records",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    )
    .await;
    assert_eq!(preflight.status, 204);
    let allowed = preflight.header("access-control-allow-headers").unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");
    let refused = request(
        server.addr,
        "GET",
        "/v1/topics",
        &[("Origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(refused.status, 401);
    let exposed = refused.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
}
