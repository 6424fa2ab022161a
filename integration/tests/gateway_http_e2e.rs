//! The gateway's general endpoints and error answers on the real pool, engine and broker:
//! what a client is told must match what a read_committed reader then finds.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TestGateway, gateway_settings, start_gateway};
use kafkatx_testkit::http as support;

use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::backend::kafka::{self, KafkaBackend, KafkaSettings};
use kafkatx_server::{Backend, ServerConfig};
use kafkatx_wire::compression::Compression;
use kafkatx_wire::reader::{Isolation, TopicRecord, read_topic};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kafkatx_testkit::{bootstrap, require_broker, unique_name};

fn settings(bootstrap: &str, pool_size: usize) -> KafkaSettings {
    KafkaSettings {
        pool_size,
        compression: Compression::Lz4,
        lease_timeout: Duration::from_secs(2),
        delivery_timeout: Duration::from_secs(15),
        // These tests let the broker create their unique topics on first use.
        allow_auto_create_topics: true,
        ..gateway_settings(bootstrap, &unique_name("http-e2e"))
    }
}

/// Starts the gateway; returns it and the backend.
async fn gateway(settings: KafkaSettings) -> (TestGateway, Arc<KafkaBackend>) {
    let backend = Arc::new(kafka::connect(settings).await.unwrap());
    let config = ServerConfig {
        max_body_bytes: 4096,
        ..ServerConfig::default()
    };
    (start_gateway(Arc::clone(&backend), config).await, backend)
}

async fn committed(addr: &str, topic: &str) -> Vec<TopicRecord> {
    read_topic(addr, topic, Isolation::ReadCommitted)
        .await
        .unwrap()
}

fn text(bytes: &Option<bytes::Bytes>) -> Option<String> {
    bytes
        .as_ref()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
}

#[tokio::test]
async fn records_with_keys_and_headers_land_as_sent_and_failures_leave_nothing() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("http-records");
    let other = unique_name("http-other");
    let (served, backend) = gateway(settings(&addr, 2)).await;
    let http = served.addr;
    assert_eq!(support::get(http, "/readyz").await.status, 200);

    // The general endpoint: keys, duplicate header keys, a JSON value, an explicit partition.
    let body = r#"{"records":[
        {"key":"k1","value":"plain","headers":[{"key":"h","value":"1"},{"key":"h","value":"2"}]},
        {"key":"k2","value":{"n":2},"partition":0}]}"#;
    let answer = support::post(http, &format!("/v1/topics/{topic}/records"), body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let placed = answer.json()["records"].clone();
    let mut seen = committed(&addr, &topic).await;
    assert_eq!(seen.len(), 2);
    // The keyed record without a partition may land on any partition: order by key.
    seen.sort_by(|a, b| a.record.key.cmp(&b.record.key));
    assert_eq!(text(&seen[0].record.key).as_deref(), Some("k1"));
    assert_eq!(text(&seen[0].record.value).as_deref(), Some("plain"));
    let headers: Vec<_> = seen[0]
        .record
        .headers
        .iter()
        .map(|h| (h.key.as_str(), text(&h.value).unwrap()))
        .collect();
    assert_eq!(headers, [("h", "1".to_owned()), ("h", "2".to_owned())]);
    assert_eq!(text(&seen[1].record.value).as_deref(), Some(r#"{"n":2}"#));
    for (p, r) in placed.as_array().unwrap().iter().zip(&seen) {
        assert_eq!(p["offset"].as_i64(), Some(r.record.offset));
        assert_eq!(p["partition"].as_i64(), Some(i64::from(r.partition)));
    }
    assert_eq!(seen[1].partition, 0, "the explicit partition is honoured");

    // One transaction across two topics.
    let body = format!(
        r#"{{"records":[{{"topic":"{topic}","value":"a"}},{{"topic":"{other}","value":"b"}}]}}"#
    );
    let answer = support::post(http, "/v1/transactions", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(committed(&addr, &topic).await.len(), 3);
    assert_eq!(committed(&addr, &other).await.len(), 1);

    // A partition the topic does not have: refused, and nothing of the transaction is
    // visible, not even its valid first record.
    let body = r#"{"records":[{"value":"valid"},{"value":"bad","partition":7}]}"#;
    let started = std::time::Instant::now();
    let answer = support::post(http, &format!("/v1/topics/{other}/records"), body).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("partition 7"),
        "the error names the partition: {}",
        answer.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not after a timeout"
    );
    assert_eq!(
        committed(&addr, &other).await.len(),
        1,
        "nothing of it is visible"
    );

    // Input errors never reach Kafka.
    let bad_json = support::post(http, &format!("/v1/topics/{topic}/records"), "{").await;
    assert_eq!(
        (bad_json.status, bad_json.error_code()),
        (400, "invalid_json".to_owned())
    );
    let huge = format!(r#"{{"records":[{{"value":"{}"}}]}}"#, "x".repeat(5000));
    let too_large = support::post(http, &format!("/v1/topics/{topic}/records"), &huge).await;
    assert_eq!(too_large.status, 413);
    let long_id = support::get(http, &format!("/errors/{}", "i".repeat(300))).await;
    assert_eq!(
        (long_id.status, long_id.error_code()),
        (400, "id_too_long".to_owned())
    );
    assert_eq!(committed(&addr, &topic).await.len(), 3);

    // The numbers are there and parse as Prometheus text.
    let metrics = support::get(http, "/metrics").await;
    assert_eq!(metrics.status, 200);
    let samples = support::parse_exposition(&metrics.text());
    let committed_total: f64 = samples
        .iter()
        .filter(|(name, labels, _)| {
            name.starts_with("kafkatx_transactions") && labels.contains("committed")
        })
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(committed_total, 2.0, "{samples:?}");
    backend.pool().close().await;
}

#[tokio::test]
async fn without_a_broker_the_gateway_says_503_and_retry_later() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    // A port nobody listens on.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (served, backend) = gateway(KafkaSettings {
        lease_timeout: Duration::from_millis(300),
        ..settings(&nowhere, 1)
    })
    .await;
    let http = served.addr;
    let ready = support::get(http, "/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let answer = support::get(http, "/errors/nobody").await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(answer.header("retry-after").is_some());
    assert_eq!(answer.json()["error"]["outcome"], "none");
    backend.pool().close().await;
}

/// Group commit on a real broker: concurrent requests share transactions on one producer, each
/// is answered with its own records, a request naming a missing partition fails alone, and
/// read_committed sees exactly the committed requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_group_commit_requests_share_transactions_and_a_bad_one_fails_alone() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    // Created by the broker on first use, like the other topics here.
    let topic = unique_name("http-e2e-group");
    let (served, backend) = gateway(KafkaSettings {
        max_requests_per_transaction: 64,
        max_pending_transactions: 64,
        ..settings(&addr, 1)
    })
    .await;
    let http = served.addr;
    let path = format!("/v1/topics/{topic}/records");
    let warm_up = support::post(http, &path, r#"{"records":[{"value":"warm-up"}]}"#).await;
    assert_eq!(warm_up.status, 200, "{}", warm_up.text());

    // Two waves of 20 concurrent requests behind one producer; the second carries a request
    // naming a partition the topic does not have. (A wave's first request takes the producer and
    // the rest wait for it together, so they share its next transaction.)
    let mut expected = vec!["warm-up".to_owned()];
    for wave in 0..2 {
        let requests: Vec<_> = (0..20)
            .map(|n| {
                let path = path.clone();
                let bad = wave == 1 && n == 7;
                tokio::spawn(async move {
                    let body = if bad {
                        r#"{"records":[{"value":"bad-a"},{"value":"bad-b","partition":9}]}"#.to_owned()
                    } else {
                        format!(r#"{{"records":[{{"value":"w{wave}-{n}-a"}},{{"value":"w{wave}-{n}-b"}}]}}"#)
                    };
                    (n, bad, support::post(http, &path, &body).await)
                })
            })
            .collect();
        for request in requests {
            let (n, bad, answer) = request.await.unwrap();
            if bad {
                assert_eq!(answer.status, 400, "{}", answer.text());
                continue;
            }
            assert_eq!(answer.status, 200, "{n}: {}", answer.text());
            let placed = answer.json()["records"].as_array().unwrap().len();
            assert_eq!(placed, 2, "its own two records");
            expected.extend([format!("w{wave}-{n}-a"), format!("w{wave}-{n}-b")]);
        }
    }
    let mut seen: Vec<String> = committed(&addr, &topic)
        .await
        .iter()
        .filter_map(|r| text(&r.record.value))
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "every committed request once, nothing of the bad one"
    );
    let metrics = support::get(http, "/metrics").await.text();
    let shared: f64 = support::parse_exposition(&metrics)
        .iter()
        .filter(|(name, _, _)| name == "kafkatx_group_commit_shared_transactions_total")
        .map(|(_, _, v)| *v)
        .sum();
    assert!(shared >= 1.0, "requests shared a transaction: {metrics}");
    backend.close().await;
}

/// One record as `kcat -f '%K:%k%S:%s%T\n'` prints it: lengths make the bytes unambiguous.
#[derive(Debug, PartialEq, Eq)]
struct KcatRecord {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp_ms: i64,
}

/// Reads `topic` with kcat (librdkafka), read_committed, binary-safe.
fn kcat_records(addr: &str, topic: &str) -> Vec<KcatRecord> {
    let output = std::process::Command::new("kcat")
        .args(["-C", "-b", addr, "-t", topic, "-e", "-q", "-o", "beginning"])
        .args(["-X", "isolation.level=read_committed"])
        .args(["-f", "%K:%k%S:%s%T\n"])
        .output()
        .expect("kcat runs (./dev test installs it)");
    assert!(output.status.success(), "{output:?}");
    let mut rest = output.stdout.as_slice();
    let mut records = Vec::new();
    // A null key or value has length -1.
    let field = |rest: &mut &[u8]| {
        let colon = rest.iter().position(|b| *b == b':').unwrap();
        let len: i64 = std::str::from_utf8(&rest[..colon])
            .unwrap()
            .parse()
            .unwrap();
        *rest = &rest[colon + 1..];
        let len = usize::try_from(len).ok()?;
        let bytes = rest[..len].to_vec();
        *rest = &rest[len..];
        Some(bytes)
    };
    while !rest.is_empty() {
        let key = field(&mut rest);
        let value = field(&mut rest);
        let newline = rest.iter().position(|b| *b == b'\n').unwrap();
        let timestamp_ms = std::str::from_utf8(&rest[..newline])
            .unwrap()
            .parse()
            .unwrap();
        rest = &rest[newline + 1..];
        records.push(KcatRecord {
            key,
            value,
            timestamp_ms,
        });
    }
    records
}

/// Bytes no text encoding survives: every byte value, NUL and 0xff included.
fn awkward_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend([0x00, 0xff, 0x0a, 0x00]);
    bytes
}

#[tokio::test]
async fn binary_keys_values_and_headers_round_trip_byte_for_byte_with_their_timestamps() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("http-binary");
    let (served, backend) = gateway(settings(&addr, 1)).await;
    let http = served.addr;
    let path = format!("/v1/topics/{topic}/records");
    let value = awkward_bytes();
    let key = vec![0x00, 0xff, 0x80, 0x0a];
    let header = vec![0xff, 0x00, 0x0d, 0x0a];
    let body = serde_json::json!({"records": [
        {"key": BASE64.encode(&key), "key_encoding": "base64",
         "value": BASE64.encode(&value), "value_encoding": "base64",
         "timestamp": 1_700_000_000_123_i64,
         "headers": [{"key": "sig", "value": BASE64.encode(&header), "value_encoding": "base64"},
                     {"key": "text", "value": "plain"}]},
        {"key": "text-key", "value": {"still": "json"}, "timestamp": 1_600_000_000_000_i64},
        {"key": "tombstone", "value": null, "value_encoding": "base64"}
    ]})
    .to_string();
    let answer = support::post(http, &path, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    // The same again as a gzip body: it lands exactly the same.
    let zipped = support::gzip(body.as_bytes());
    let answer = support::request(
        http,
        "POST",
        &path,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        &zipped,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());

    // Our reader: every byte, the headers and the timestamps.
    let seen = committed(&addr, &topic).await;
    assert_eq!(seen.len(), 6);
    for copy in seen.chunks(3) {
        let binary = &copy[0].record;
        assert_eq!(binary.key.as_deref(), Some(key.as_slice()));
        assert_eq!(binary.value.as_deref(), Some(value.as_slice()));
        assert_eq!(binary.timestamp_ms, 1_700_000_000_123);
        assert_eq!(binary.headers.len(), 2);
        assert_eq!(binary.headers[0].key, "sig");
        assert_eq!(binary.headers[0].value.as_deref(), Some(header.as_slice()));
        assert_eq!(text(&binary.headers[1].value).as_deref(), Some("plain"));
        assert_eq!(
            text(&copy[1].record.value).as_deref(),
            Some(r#"{"still":"json"}"#)
        );
        assert_eq!(copy[1].record.timestamp_ms, 1_600_000_000_000);
        assert_eq!(copy[2].record.value, None, "null stays a Kafka null");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let stamped = u128::try_from(copy[2].record.timestamp_ms).unwrap();
        assert!(
            now_ms.abs_diff(stamped) < 600_000,
            "no timestamp: stamped when sent"
        );
    }

    // kcat (librdkafka) reads the same bytes and timestamps.
    let topic_for_kcat = topic.clone();
    let addr_for_kcat = addr.clone();
    let by_kcat =
        tokio::task::spawn_blocking(move || kcat_records(&addr_for_kcat, &topic_for_kcat))
            .await
            .unwrap();
    assert_eq!(by_kcat.len(), 6, "{by_kcat:?}");
    for copy in by_kcat.chunks(3) {
        assert_eq!(
            copy[0],
            KcatRecord {
                key: Some(key.clone()),
                value: Some(value.clone()),
                timestamp_ms: 1_700_000_000_123
            }
        );
        assert_eq!(copy[1].timestamp_ms, 1_600_000_000_000);
        assert_eq!(copy[1].value.as_deref(), Some(&br#"{"still":"json"}"#[..]));
        assert_eq!(copy[2].value, None);
    }

    // Bad base64 never reaches Kafka.
    let bad = r#"{"records":[{"value":"not base64!","value_encoding":"base64"}]}"#;
    let refused = support::post(http, &path, bad).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error_code(), "invalid_base64");
    // Nor does a timestamp the broker refuses (more than an hour ahead by default): 400.
    let future = r#"{"records":[{"value":"x","timestamp":6916997108600}]}"#;
    let refused = support::post(http, &path, future).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.error_code(), "rejected_by_broker");
    assert_eq!(committed(&addr, &topic).await.len(), 6);
    backend.close().await;
}

#[tokio::test]
async fn topics_are_read_from_metadata_without_creating_any() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("http-meta");
    let never = unique_name("http-never");
    let (served, backend) = gateway(settings(&addr, 1)).await;
    let http = served.addr;
    let created = support::post(
        http,
        &format!("/v1/topics/{topic}/records"),
        r#"{"records":[{"value":"x"}]}"#,
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text());

    let one = support::get(http, &format!("/v1/topics/{topic}")).await;
    assert_eq!(one.status, 200, "{}", one.text());
    let json = one.json();
    assert_eq!(json["name"], topic.as_str());
    let partitions = json["partitions"].as_array().unwrap();
    assert!(!partitions.is_empty());
    assert_eq!(partitions[0]["partition"], 0);
    assert!(partitions[0]["leader"].as_i64().unwrap() >= 0);

    // The broker auto-creates topics on Metadata requests that allow it; ours must not.
    let missing = support::get(http, &format!("/v1/topics/{never}")).await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(missing.error_code(), "unknown_topic");
    let internal = support::get(http, "/v1/topics/__consumer_offsets").await;
    assert_eq!(internal.status, 404);

    let list = support::get(http, "/v1/topics").await;
    assert_eq!(list.status, 200);
    let names: Vec<String> = list.json()["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&topic), "{names:?}");
    assert!(!names.contains(&never), "asking created it: {names:?}");
    for hidden in ["__consumer_offsets", "__transaction_state"] {
        assert!(!names.iter().any(|n| n == hidden), "{names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    backend.close().await;
}
