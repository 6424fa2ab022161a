//! The gateway over real TCP with a fake backend: endpoints, error statuses and shapes, limits,
//! metrics and graceful shutdown.

mod support;

use std::time::Duration;

use bytes::Bytes;
use kafkatx_server::{ServerConfig, TxnFailure};
use support::{
    Behaviour, FAKE_TXN_ID, FakeBackend, get, gzip, parse_exposition, parse_response, post,
    post_request, read_response, send_raw, start_server, start_server_on, start_server_with,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn errors_endpoint_commits_its_two_messages_in_one_transaction() {
    let server = start_server().await;
    let response = get(server.addr, "/errors/42").await;
    assert_eq!(response.status, 200);
    let json = response.json();
    assert_eq!(json["transactional_id"], FAKE_TXN_ID);
    assert_eq!(json["records"].as_array().unwrap().len(), 2);
    assert_eq!(json["records"][0]["topic"], "errors-topic");
    assert_eq!(json["records"][1]["offset"], 101);

    let seen = server.backend.seen();
    assert_eq!(seen.len(), 1, "exactly one transaction");
    let values: Vec<_> = seen[0].iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(
        values,
        vec![
            Bytes::from(format!("err: 1 - pro: {FAKE_TXN_ID} - usr: 42")),
            Bytes::from(format!("err: 2 - pro: {FAKE_TXN_ID} - usr: 42")),
        ]
    );
    assert!(
        seen[0]
            .iter()
            .all(|r| r.key.is_none() && r.partition.is_none())
    );
}

#[tokio::test]
async fn warnings_use_the_configured_topic_and_the_decoded_id() {
    let config = ServerConfig {
        warnings_topic: "my-warnings".to_owned(),
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let response = get(server.addr, "/warnings/caf%C3%A9").await;
    assert_eq!(response.status, 200);
    let seen = server.backend.seen();
    assert_eq!(seen[0][0].topic, "my-warnings");
    assert_eq!(
        seen[0][1].value.as_deref(),
        Some(format!("war: 2 - pro: {FAKE_TXN_ID} - usr: café").as_bytes())
    );
}

#[tokio::test]
async fn bad_ids_are_400_and_reach_no_producer() {
    let config = ServerConfig {
        max_id_bytes: 8,
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let too_long = get(server.addr, "/errors/123456789").await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.error_code(), "id_too_long");
    let not_utf8 = get(server.addr, "/errors/%FF%FE").await;
    assert_eq!(not_utf8.status, 400);
    assert_eq!(not_utf8.error_code(), "invalid_path");
    let bad_escape = get(server.addr, "/warnings/%G1").await;
    assert_eq!(bad_escape.error_code(), "invalid_path");
    assert!(server.backend.seen().is_empty());
}

#[tokio::test]
async fn topic_records_are_one_transaction_and_the_answer_places_each_record() {
    let server = start_server().await;
    let body = r#"{"records":[
        {"key":"k1","value":"v1","headers":[{"key":"h","value":"x"}],"partition":3},
        {"value":{"n":1}}
    ]}"#;
    let response = post(server.addr, "/v1/topics/orders/records", body).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let json = response.json();
    assert_eq!(json["records"][0]["partition"], 3);
    assert_eq!(json["records"][0]["offset"], 100);
    assert_eq!(json["records"][1]["offset"], 101);

    let seen = server.backend.seen();
    assert_eq!(seen.len(), 1);
    let first = &seen[0][0];
    assert_eq!(first.topic, "orders");
    assert_eq!(first.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(first.headers, vec![("h".to_owned(), Bytes::from("x"))]);
    assert_eq!(seen[0][1].value.as_deref(), Some(&br#"{"n":1}"#[..]));
}

#[tokio::test]
async fn one_transaction_spans_several_topics() {
    let server = start_server().await;
    let body = r#"{"records":[{"topic":"a","value":"1"},{"topic":"b","value":"2"}]}"#;
    let response = post(server.addr, "/v1/transactions", body).await;
    assert_eq!(response.status, 200);
    let json = response.json();
    assert_eq!(json["records"][0]["topic"], "a");
    assert_eq!(json["records"][1]["topic"], "b");
    let seen = server.backend.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].len(), 2);
}

#[tokio::test]
async fn invalid_bodies_are_400_with_a_stable_code() {
    let config = ServerConfig {
        max_records: 2,
        max_record_bytes: 10,
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let cases = [
        ("/v1/topics/t/records", "{not json", "invalid_json"),
        (
            "/v1/topics/t/records",
            r#"{"records":[{},{},{}]}"#,
            "too_many_records",
        ),
        (
            "/v1/topics/t/records",
            r#"{"records":[{"value":"12345678901"}]}"#,
            "record_too_large",
        ),
        (
            "/v1/topics/bad%20topic/records",
            r#"{"records":[{}]}"#,
            "invalid_topic",
        ),
        (
            "/v1/transactions",
            r#"{"records":[{"value":"x"}]}"#,
            "missing_topic",
        ),
    ];
    for (path, body, code) in cases {
        let response = post(server.addr, path, body).await;
        assert_eq!(response.status, 400, "{path} {body}");
        assert_eq!(response.error_code(), code, "{path} {body}");
        assert_eq!(response.json()["error"]["outcome"], "none");
    }
    assert!(server.backend.seen().is_empty());
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_413_before_it_is_sent() {
    let config = ServerConfig {
        max_body_bytes: 1024,
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let head = "POST /v1/topics/t/records HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
                Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n";
    let response = send_raw(server.addr, head.as_bytes()).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.error_code(), "body_too_large");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let config = ServerConfig {
        max_body_bytes: 1024,
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /v1/transactions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
                Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("800\r\n{}\r\n", "x".repeat(0x800));
    // The server may answer and close before the last chunk; that write error is expected.
    let _ = stream.write_all(chunk.as_bytes()).await;
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.error_code(), "body_too_large");
}

#[tokio::test]
async fn backend_failures_map_to_honest_statuses() {
    let cases = [
        (
            TxnFailure::Invalid("unknown topic".into()),
            400,
            "rejected_by_broker",
            "none",
            false,
        ),
        (TxnFailure::LeaseTimeout, 503, "lease_timeout", "none", true),
        (TxnFailure::Saturated, 503, "saturated", "none", true),
        (
            TxnFailure::Unavailable("down".into()),
            503,
            "broker_unavailable",
            "none",
            true,
        ),
        (
            TxnFailure::Aborted("produce failed".into()),
            500,
            "transaction_aborted",
            "aborted",
            false,
        ),
        (
            TxnFailure::OutcomeUnknown("EndTxn lost".into()),
            502,
            "outcome_unknown",
            "unknown",
            false,
        ),
    ];
    for (failure, status, code, outcome, retry_after) in cases {
        let server = start_server().await;
        server.backend.then(Behaviour::Fail(failure.clone()));
        let response = get(server.addr, "/errors/1").await;
        assert_eq!(response.status, status, "{failure:?}");
        assert_eq!(response.error_code(), code);
        assert_eq!(response.json()["error"]["outcome"], outcome);
        assert_eq!(
            response.header("retry-after").is_some(),
            retry_after,
            "{failure:?}"
        );
    }
}

#[tokio::test]
async fn transactions_beyond_the_admission_limit_are_refused_with_retry_after() {
    let config = ServerConfig {
        max_pending_transactions: 1,
        ..ServerConfig::default()
    };
    let backend = FakeBackend::new();
    backend.then(Behaviour::Hold);
    let server = start_server_on(backend, config).await;
    let addr = server.addr;
    let held = tokio::spawn(async move { get(addr, "/errors/1").await });
    server.backend.entered.notified().await;

    let refused = get(server.addr, "/errors/2").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.error_code(), "saturated");
    assert_eq!(refused.header("retry-after"), Some("1"));

    server.backend.release.notify_one();
    assert_eq!(held.await.unwrap().status, 200);
}

#[tokio::test]
async fn health_and_readiness_follow_the_backend() {
    let server = start_server().await;
    let health = get(server.addr, "/healthz").await;
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, "ok".into())
    );
    let ready = get(server.addr, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["producers_ready"], 5);

    server.backend.readiness.lock().unwrap().cluster_reachable = false;
    let not_ready = get(server.addr, "/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.json()["status"], "not_ready");
    assert_eq!(not_ready.json()["cluster_reachable"], false);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let server = start_server().await;
    let missing = get(server.addr, "/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    let wrong = post(server.addr, "/errors/1", "").await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET"));
}

#[tokio::test]
async fn garbage_on_the_socket_gets_an_http_error_not_a_crash() {
    let server = start_server().await;
    let response = send_raw(server.addr, b"\x00\x01 nonsense \r\n\r\n").await;
    assert_eq!(response.status, 400);
    // The server still serves after it.
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_requests_latency_outcomes_and_pool_numbers() {
    let server = start_server().await;
    assert_eq!(get(server.addr, "/errors/1").await.status, 200);
    server
        .backend
        .then(Behaviour::Fail(TxnFailure::Aborted("x".into())));
    assert_eq!(get(server.addr, "/errors/2").await.status, 500);

    let response = get(server.addr, "/metrics").await;
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().contains("text"));
    let text = response.text();
    let samples = parse_exposition(&text);

    let types: Vec<_> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    for expected in [
        "# TYPE kafkatx_http_requests counter",
        "# TYPE kafkatx_http_request_duration_seconds histogram",
        "# TYPE kafkatx_transactions counter",
        "# TYPE kafkatx_pool_producers_idle gauge",
    ] {
        assert!(types.contains(&expected), "missing {expected:?} in\n{text}");
    }
    let value = |name: &str, labels: &[&str]| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && labels.iter().all(|want| l.contains(want)))
            .map(|(_, _, v)| *v)
    };
    let ok = ["route=\"errors\"", "status=\"200\"", "method=\"GET\""];
    assert_eq!(value("kafkatx_http_requests_total", &ok), Some(1.0));
    assert_eq!(
        value("kafkatx_http_request_duration_seconds_count", &ok),
        Some(1.0)
    );
    assert_eq!(
        value("kafkatx_transactions_total", &["outcome=\"committed\""]),
        Some(1.0)
    );
    assert_eq!(
        value("kafkatx_transactions_total", &["outcome=\"aborted\""]),
        Some(1.0)
    );
    assert_eq!(value("kafkatx_pool_producers_idle", &[]), Some(5.0));
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight_then_closes_the_backend() {
    let backend = FakeBackend::new();
    backend.then(Behaviour::Hold);
    let mut server = start_server_on(backend, ServerConfig::default()).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { get(addr, "/errors/7").await });
    server.backend.entered.notified().await;

    server.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.done.is_finished(),
        "shutdown must wait for the request"
    );
    assert!(
        !server
            .backend
            .closed
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    // The listener closes once the accept loop sees the trigger; give a loaded machine time.
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused)
        .await
        .expect("no new connections after shutdown");

    server.backend.release.notify_one();
    let response = in_flight.await.unwrap();
    assert_eq!(response.status, 200);
    tokio::time::timeout(Duration::from_secs(5), &mut server.done)
        .await
        .expect("server stops after draining")
        .unwrap();
    assert!(
        server
            .backend
            .closed
            .load(std::sync::atomic::Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_client_that_leaves_does_not_cancel_its_transaction() {
    let backend = FakeBackend::new();
    backend.then(Behaviour::Hold);
    let mut server = start_server_on(backend, ServerConfig::default()).await;
    {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = "GET /errors/9 HTTP/1.1\r\nHost: test\r\n\r\n";
        stream.write_all(request.as_bytes()).await.unwrap();
        server.backend.entered.notified().await;
    } // the client hangs up here, mid-transaction
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !server.done.is_finished(),
        "shutdown waits for the orphaned transaction"
    );

    server.backend.release.notify_one();
    tokio::time::timeout(Duration::from_secs(5), &mut server.done)
        .await
        .expect("server stops once the transaction finished")
        .unwrap();
    assert_eq!(
        server
            .backend
            .completed
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(
        server
            .backend
            .closed
            .load(std::sync::atomic::Ordering::SeqCst)
    );
}

#[tokio::test]
async fn keep_alive_connections_serve_several_requests() {
    let server = start_server().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let twice = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n{}",
        post_request("/v1/topics/t/records", r#"{"records":[{"value":"v"}]}"#)
    );
    stream.write_all(twice.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
        .await
        .unwrap();
    let text = String::from_utf8(raw.clone()).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let second = text.rfind("HTTP/1.1").unwrap();
    assert_eq!(
        parse_response(&raw[second..]).json()["records"][0]["topic"],
        "t"
    );
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_408() {
    let config = ServerConfig {
        body_read_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let partial = "POST /v1/transactions HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
                   Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"rec";
    stream.write_all(partial.as_bytes()).await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("the server answers instead of waiting forever");
    assert_eq!(response.status, 408);
    assert_eq!(response.error_code(), "body_timeout");
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_header_timeout() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut silent, &mut rest),
    )
    .await;
    assert!(
        closed.is_ok(),
        "a silent client must not hold a connection slot forever"
    );
}

#[tokio::test]
async fn head_is_allowed_on_probes_but_never_runs_a_transaction() {
    let server = start_server().await;
    let probe = send_raw(
        server.addr,
        b"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(probe.status, 200);
    assert!(probe.body.is_empty());
    let pair = send_raw(
        server.addr,
        b"HEAD /errors/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(pair.status, 405);
    assert!(server.backend.seen().is_empty());
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_a_slot_frees() {
    let config = ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let holder = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let addr = server.addr;
    let waiting = tokio::spawn(async move { get(addr, "/healthz").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second connection must wait for a slot"
    );

    drop(holder);
    let response = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once the slot is free")
        .unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn a_panicking_backend_yields_500_with_an_unknown_outcome_and_the_server_lives_on() {
    let server = start_server().await;
    server.backend.then(Behaviour::Panic);
    let response = get(server.addr, "/errors/1").await;
    assert_eq!(response.status, 500);
    assert_eq!(response.error_code(), "internal");
    assert_eq!(response.json()["error"]["outcome"], "unknown");
    assert_eq!(get(server.addr, "/errors/2").await.status, 200);
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test]
async fn binary_fields_are_base64_and_timestamps_reach_the_backend() {
    let server = start_server().await;
    let body = r#"{"records":[
        {"key":"AP8=","key_encoding":"base64","value":"AAEC/w==","value_encoding":"base64",
         "timestamp":1700000000123,
         "headers":[{"key":"bin","value":"/wA=","value_encoding":"base64"},{"key":"t","value":"x"}]},
        {"key":"plain","value":{"n":1}},
        {"value":null,"value_encoding":"base64"}]}"#;
    let response = post(server.addr, "/v1/topics/orders/records", body).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = server.backend.seen();
    let records = &seen[0];
    assert_eq!(records[0].key.as_deref(), Some(&[0x00, 0xff][..]));
    assert_eq!(
        records[0].value.as_deref(),
        Some(&[0x00, 0x01, 0x02, 0xff][..])
    );
    assert_eq!(records[0].timestamp_ms, Some(1_700_000_000_123));
    assert_eq!(
        records[0].headers,
        vec![
            ("bin".to_owned(), Bytes::from_static(&[0xff, 0x00])),
            ("t".to_owned(), Bytes::from("x"))
        ]
    );
    // Today's shapes are unchanged and null stays a Kafka null.
    assert_eq!(records[1].key.as_deref(), Some(&b"plain"[..]));
    assert_eq!(records[1].value.as_deref(), Some(&br#"{"n":1}"#[..]));
    assert_eq!(records[1].timestamp_ms, None);
    assert_eq!(records[2].value, None);
}

#[tokio::test]
async fn bad_base64_and_bad_timestamps_are_400_naming_the_field() {
    let server = start_server().await;
    let cases = [
        (
            r#"{"records":[{"value":"a"},{"value":"not base64!","value_encoding":"base64"}]}"#,
            "invalid_base64",
            "records[1].value",
        ),
        (
            r#"{"records":[{"key":{"a":1},"key_encoding":"base64"}]}"#,
            "invalid_base64",
            "records[0].key",
        ),
        (
            r#"{"records":[{"headers":[{"key":"h","value":"%%","value_encoding":"base64"}]}]}"#,
            "invalid_base64",
            "records[0].headers[0].value",
        ),
        (
            r#"{"records":[{"timestamp":0}]}"#,
            "invalid_timestamp",
            "records[0].timestamp",
        ),
        (
            r#"{"records":[{"timestamp":-5}]}"#,
            "invalid_timestamp",
            "records[0].timestamp",
        ),
        (
            r#"{"records":[{"value_encoding":"hex"}]}"#,
            "invalid_json",
            "base64",
        ),
    ];
    for (body, code, names) in cases {
        let response = post(server.addr, "/v1/topics/orders/records", body).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.error_code(), code, "{body}");
        let message = response.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(names), "{body}: {message}");
    }
    assert!(server.backend.seen().is_empty());
}

#[tokio::test]
async fn bodies_must_be_json_and_415_otherwise() {
    let server = start_server().await;
    let body = br#"{"records":[{"value":"v"}]}"#;
    for ok in [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON;charset=UTF-8",
    ] {
        let response = support::request(
            server.addr,
            "POST",
            "/v1/topics/t/records",
            &[("Content-Type", ok)],
            body,
        )
        .await;
        assert_eq!(response.status, 200, "{ok}: {}", response.text());
    }
    let cases: [&[(&str, &str)]; 4] = [
        &[],
        &[("Content-Type", "text/plain")],
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &[("Content-Type", "application/json; charset=iso-8859-1")],
    ];
    for headers in cases {
        let response =
            support::request(server.addr, "POST", "/v1/transactions", headers, body).await;
        assert_eq!(response.status, 415, "{headers:?}");
        assert_eq!(response.error_code(), "unsupported_media_type");
        assert_eq!(response.json()["error"]["outcome"], "none");
    }
    assert_eq!(server.backend.seen().len(), 3, "only the JSON bodies ran");
}

#[tokio::test]
async fn gzip_bodies_are_inflated_within_the_body_limit() {
    let config = ServerConfig {
        max_body_bytes: 4096,
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let body = gzip(br#"{"records":[{"value":"zipped"}]}"#);
    let response = support::request(
        server.addr,
        "POST",
        "/v1/topics/t/records",
        &[JSON, ("Content-Encoding", "gzip")],
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        server.backend.seen()[0][0].value.as_deref(),
        Some(&b"zipped"[..])
    );

    // A bomb: 1 MB of JSON whitespace in about a kilobyte of gzip, under the raw limit.
    let mut bomb_json = br#"{"records":[{"value":"x"}]"#.to_vec();
    bomb_json.extend(std::iter::repeat_n(b' ', 1_000_000));
    bomb_json.push(b'}');
    let bomb = gzip(&bomb_json);
    assert!(bomb.len() < 4096);
    let response = support::request(
        server.addr,
        "POST",
        "/v1/topics/t/records",
        &[JSON, ("Content-Encoding", "gzip")],
        &bomb,
    )
    .await;
    assert_eq!(response.status, 413);
    assert_eq!(response.error_code(), "body_too_large");

    let garbage = support::request(
        server.addr,
        "POST",
        "/v1/topics/t/records",
        &[JSON, ("Content-Encoding", "gzip")],
        b"this is not gzip",
    )
    .await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.error_code(), "invalid_body");

    let brotli = support::request(
        server.addr,
        "POST",
        "/v1/topics/t/records",
        &[JSON, ("Content-Encoding", "br")],
        &body,
    )
    .await;
    assert_eq!(brotli.status, 415);
    assert_eq!(brotli.error_code(), "unsupported_content_encoding");
    assert_eq!(brotli.header("accept-encoding"), Some("gzip"));
    assert_eq!(server.backend.seen().len(), 1, "nothing else was written");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_echoed_when_sane() {
    let server = start_server().await;
    let echoed = support::request(
        server.addr,
        "GET",
        "/healthz",
        &[("X-Request-Id", "req-42.a_b")],
        b"",
    )
    .await;
    assert_eq!(echoed.header("x-request-id"), Some("req-42.a_b"));
    let too_long = "r".repeat(129);
    for bad in [too_long.as_str(), "has space", "tab\there"] {
        let response =
            support::request(server.addr, "GET", "/nope", &[("X-Request-Id", bad)], b"").await;
        assert_eq!(response.status, 404);
        let id = response.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 128);
    }
    let first = get(server.addr, "/errors/1").await;
    let second = get(server.addr, "/v1/transactions").await;
    let (a, b) = (
        first.header("x-request-id").unwrap(),
        second.header("x-request-id").unwrap(),
    );
    assert_ne!(a, b, "generated ids differ");
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let server = start_server().await;
    let preflight = support::request(
        server.addr,
        "OPTIONS",
        "/v1/transactions",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(preflight.status, 405);
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    let answer = support::request(
        server.addr,
        "GET",
        "/healthz",
        &[("Origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let config = ServerConfig {
        cors_origins: vec!["https://app.example".to_owned()],
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let addr = server.addr;
    let preflight = |origin: &'static str, path: &'static str| async move {
        let headers = [
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ];
        support::request(addr, "OPTIONS", path, &headers, b"").await
    };
    let allowed = preflight("https://app.example", "/v1/topics/t/records").await;
    assert_eq!(allowed.status, 204);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(allowed.header("access-control-allow-methods"), Some("POST"));
    let allowed_headers = allowed.header("access-control-allow-headers").unwrap();
    for name in ["content-type", "content-encoding", "x-request-id"] {
        assert!(allowed_headers.contains(name), "{allowed_headers}");
    }
    assert!(allowed.header("x-request-id").is_some());

    let other = preflight("https://evil.example", "/v1/topics/t/records").await;
    assert_eq!(other.status, 405);
    assert_eq!(other.header("access-control-allow-origin"), None);
    let unknown_path = preflight("https://app.example", "/nope").await;
    assert_eq!(unknown_path.status, 404);

    let body = br#"{"records":[{"value":"v"}]}"#;
    let from_app = support::request(
        server.addr,
        "POST",
        "/v1/topics/t/records",
        &[JSON, ("Origin", "https://app.example")],
        body,
    )
    .await;
    assert_eq!(from_app.status, 200);
    assert_eq!(
        from_app.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        from_app
            .header("access-control-expose-headers")
            .unwrap()
            .contains("x-request-id")
    );
    assert_eq!(from_app.header("vary"), Some("origin"));
    let from_evil = support::request(
        server.addr,
        "GET",
        "/healthz",
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(from_evil.status, 200);
    assert_eq!(from_evil.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn topics_come_from_cluster_metadata() {
    let server = start_server().await;
    let list = get(server.addr, "/v1/topics").await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json(),
        serde_json::json!({"topics": [
            {"name": "orders", "partitions": 3},
            {"name": "audit", "partitions": 1}
        ]})
    );
    let one = get(server.addr, "/v1/topics/orders").await;
    assert_eq!(one.status, 200);
    let json = one.json();
    assert_eq!(json["name"], "orders");
    assert_eq!(json["partitions"].as_array().unwrap().len(), 3);
    assert_eq!(
        json["partitions"][2],
        serde_json::json!({"partition": 2, "leader": 1, "replicas": [1], "in_sync_replicas": [1]})
    );

    let missing = get(server.addr, "/v1/topics/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "unknown_topic");
    let illegal = get(server.addr, "/v1/topics/a%2Fb").await;
    assert_eq!(illegal.status, 400);
    assert_eq!(illegal.error_code(), "invalid_topic");
    let wrong_method = post(server.addr, "/v1/topics", "{}").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));

    *server.backend.cluster_topics.lock().unwrap() = Err(
        kafkatx_server::MetadataError::Unavailable("down".to_owned()),
    );
    let down = get(server.addr, "/v1/topics").await;
    assert_eq!(down.status, 503);
    assert_eq!(down.error_code(), "broker_unavailable");
    assert!(down.header("retry-after").is_some());
    assert!(
        server.backend.seen().is_empty(),
        "reading metadata runs no transaction"
    );
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let server = start_server().await;
    let response = get(server.addr, "/openapi.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.json()["openapi"], "3.1.0");
}

/// Collects what the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("capture buffer poisoned"))?;
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// The current-thread runtime runs the server's tasks on this thread, so the thread's default
// subscriber sees their log lines.
#[tokio::test(flavor = "current_thread")]
async fn the_request_id_is_in_the_requests_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = start_server().await;
    let response = support::request(
        server.addr,
        "GET",
        "/errors/7",
        &[("X-Request-Id", "trace-me-7")],
        b"",
    )
    .await;
    assert_eq!(response.status, 200);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("answered"))
        .unwrap_or_else(|| panic!("no answered line in {logs}"));
    assert!(line.contains("request_id=trace-me-7"), "{line}");
}
