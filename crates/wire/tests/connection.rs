//! The pipelined connection against a scripted fake broker on loopback: pipelining, the
//! ApiVersions fallback, and poisoning on EOF, timeouts and answers nobody asked for.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafkatx_wire::frame::{split_frame, write_frame};
use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::api_versions_response::ApiVersion;
use kafkatx_wire::protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafkatx_wire::protocol::protocol::{Decodable, Encodable, decode_request_header_from_buffer};
use kafkatx_wire::{ConnectOptions, Connection, WireError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake does with each request after the handshake.
#[derive(Clone, Copy)]
enum Script {
    /// Answer Metadata requests, holding `hold` of them and answering those in reverse order.
    AnswerReversed { hold: usize },
    /// Close the socket after reading one request.
    CloseAfterOne,
    /// Never answer.
    Silent,
    /// Answer with a correlation id that was never used.
    WrongCorrelation,
    /// Answer every Metadata request at once, and report the number of topics it asked for
    /// on the channel of seen versions (after the handshake's entries).
    ReportOrder,
}

async fn read_request(
    socket: &mut TcpStream,
    buf: &mut BytesMut,
) -> Option<(RequestHeader, Bytes)> {
    loop {
        if let Some(frame) = split_frame(buf, 1 << 20).unwrap() {
            let mut frame = frame.freeze();
            let header = decode_request_header_from_buffer(&mut frame).unwrap();
            return Some((header, frame));
        }
        if socket.read_buf(buf).await.unwrap() == 0 {
            return None;
        }
    }
}

fn answer<M: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &M,
    version: i16,
) -> BytesMut {
    let mut out = BytesMut::new();
    write_frame::<()>(&mut out, |b| {
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(b, header_version)
            .unwrap();
        body.encode(b, version).unwrap();
        Ok(())
    })
    .unwrap();
    out
}

fn api_versions(max_api_versions: i16) -> ApiVersionsResponse {
    let keys = [
        (ApiKey::ApiVersions, 0, max_api_versions),
        (ApiKey::Metadata, 0, 12),
    ];
    ApiVersionsResponse::default().with_api_keys(
        keys.iter()
            .map(|&(k, min, max)| {
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

/// Starts a fake broker that speaks ApiVersions up to `max_api_versions` and then follows
/// `script`. Returns its address and a channel of the ApiVersions versions it was asked at.
async fn fake_broker(
    max_api_versions: i16,
    script: Script,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<i16>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        // Handshake, with the UNSUPPORTED_VERSION fallback the protocol defines.
        loop {
            let (header, _) = read_request(&mut socket, &mut buf).await.unwrap();
            let v = header.request_api_version;
            let _ = seen_tx.send(v);
            if v > max_api_versions {
                let refusal = api_versions(max_api_versions)
                    .with_error_code(ResponseError::UnsupportedVersion.code());
                socket
                    .write_all(&answer(header.correlation_id, 0, &refusal, 0))
                    .await
                    .unwrap();
                continue;
            }
            socket
                .write_all(&answer(
                    header.correlation_id,
                    0,
                    &api_versions(max_api_versions),
                    v,
                ))
                .await
                .unwrap();
            break;
        }
        let mut held = Vec::new();
        while let Some((header, mut body)) = read_request(&mut socket, &mut buf).await {
            let v = header.request_api_version;
            match script {
                Script::AnswerReversed { hold } => {
                    let req = MetadataRequest::decode(&mut body, v).unwrap();
                    let topics = req.topics.unwrap_or_default().len() as i32;
                    // Echo the number of topics asked for in throttle_time_ms, so the
                    // client can check it got *its* answer.
                    let resp = MetadataResponse::default().with_throttle_time_ms(topics);
                    let hv = ApiKey::Metadata.response_header_version(v);
                    held.push(answer(header.correlation_id, hv, &resp, v));
                    if held.len() == hold {
                        for frame in held.drain(..).rev() {
                            socket.write_all(&frame).await.unwrap();
                        }
                    }
                }
                Script::ReportOrder => {
                    let req = MetadataRequest::decode(&mut body, v).unwrap();
                    let topics = req.topics.unwrap_or_default().len() as i16;
                    let _ = seen_tx.send(topics);
                    let resp = MetadataResponse::default().with_throttle_time_ms(i32::from(topics));
                    let hv = ApiKey::Metadata.response_header_version(v);
                    socket
                        .write_all(&answer(header.correlation_id, hv, &resp, v))
                        .await
                        .unwrap();
                }
                Script::CloseAfterOne => return,
                Script::Silent => {}
                Script::WrongCorrelation => {
                    let mut frame = BytesMut::new();
                    frame.put_i32(4);
                    frame.put_i32(header.correlation_id + 1000);
                    socket.write_all(&frame).await.unwrap();
                }
            }
        }
    });
    (addr, seen_rx)
}

fn metadata_for(n: usize) -> MetadataRequest {
    use kafkatx_wire::protocol::messages::metadata_request::MetadataRequestTopic;
    let topics = (0..n).map(|_| MetadataRequestTopic::default()).collect();
    MetadataRequest::default().with_topics(Some(topics))
}

#[tokio::test]
async fn many_requests_in_flight_are_matched_by_correlation_id() {
    let (addr, _) = fake_broker(4, Script::AnswerReversed { hold: 20 }).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    let calls = (1..=20).map(|n| {
        let conn = conn.clone();
        async move {
            let (_, resp) = conn.send_negotiated(&metadata_for(n), None).await.unwrap();
            (n as i32, resp.throttle_time_ms)
        }
    });
    for (asked, answered) in futures_join_all(calls).await {
        assert_eq!(asked, answered);
    }
    assert!(!conn.is_closed());
}

/// Requests reach the broker in the order they were started, however their answers are
/// awaited: here each on its own task, spawned in reverse order. An idempotent producer's
/// sequences depend on this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_the_broker_in_the_order_they_were_started() {
    let (addr, mut seen) = fake_broker(4, Script::ReportOrder).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(seen.recv().await, Some(4), "the handshake");
    let version = conn.versions().negotiate(ApiKey::Metadata, None).unwrap();
    let started: Vec<_> = (1..=30)
        .map(|n| (n, conn.start(&metadata_for(n), version)))
        .collect();
    let tasks: Vec<_> = started
        .into_iter()
        .rev()
        .map(|(n, answer)| tokio::spawn(async move { (n, answer.await.unwrap()) }))
        .collect();
    for task in tasks {
        let (n, response) = task.await.unwrap();
        assert_eq!(response.throttle_time_ms, n as i32, "its own answer");
    }
    for n in 1..=30 {
        assert_eq!(seen.recv().await, Some(n), "arrival order");
    }
}

/// A caller that stops waiting does not break the connection when its answer comes later.
#[tokio::test]
async fn an_abandoned_request_does_not_poison_the_connection() {
    let (addr, _) = fake_broker(4, Script::AnswerReversed { hold: 2 }).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    let version = conn.versions().negotiate(ApiKey::Metadata, None).unwrap();
    drop(conn.start(&metadata_for(1), version));
    let second = conn.send(&metadata_for(2), version).await.unwrap();
    assert_eq!(second.throttle_time_ms, 2);
    // The abandoned request's answer follows the second one on the socket.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn api_versions_falls_back_to_the_brokers_highest_version() {
    let (addr, mut seen) = fake_broker(2, Script::Silent).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(seen.recv().await, Some(4));
    assert_eq!(seen.recv().await, Some(2));
    assert_eq!(conn.versions().range(ApiKey::Metadata), Some((0, 12)));
}

#[tokio::test]
async fn eof_fails_every_waiter_and_poisons_the_connection() {
    let (addr, _) = fake_broker(4, Script::CloseAfterOne).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    let (one, two) = (metadata_for(1), metadata_for(2));
    let a = conn.send_negotiated(&one, None);
    let b = conn.send_negotiated(&two, None);
    let (a, b) = tokio::join!(a, b);
    for result in [a, b] {
        let err = result.unwrap_err();
        assert!(matches!(err, WireError::Closed | WireError::Io(_)), "{err}");
        assert!(
            err.outcome_unknown(),
            "a request in flight may have been applied"
        );
    }
    assert!(conn.is_closed());
    let later = conn
        .send_negotiated(&metadata_for(1), None)
        .await
        .unwrap_err();
    assert!(matches!(later, WireError::Poisoned(_)), "{later}");
    assert!(!later.outcome_unknown(), "a refused request was never sent");
}

#[tokio::test]
async fn a_request_without_answer_times_out_and_poisons() {
    let (addr, _) = fake_broker(4, Script::Silent).await;
    let options = ConnectOptions {
        request_timeout: Duration::from_millis(200),
        ..ConnectOptions::default()
    };
    let conn = Connection::connect(&addr, options).await.unwrap();
    let err = conn
        .send_negotiated(&metadata_for(1), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Timeout {
                api: ApiKey::Metadata,
                ..
            }
        ),
        "{err}"
    );
    assert!(conn.is_closed());
}

#[tokio::test]
async fn an_answer_to_no_request_poisons() {
    let (addr, _) = fake_broker(4, Script::WrongCorrelation).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    let err = conn
        .send_negotiated(&metadata_for(1), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WireError::UnexpectedCorrelationId(_)),
        "{err}"
    );
    assert!(conn.is_closed());
}

#[tokio::test]
async fn connect_to_a_closed_port_is_a_typed_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, WireError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn connect_any_skips_a_dead_bootstrap_address_and_an_empty_list_is_typed() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (live, _seen) = fake_broker(4, Script::Silent).await;
    let conn = Connection::connect_any([dead.as_str(), live.as_str()], ConnectOptions::default())
        .await
        .unwrap();
    assert!(!conn.is_closed());
    let only_dead = Connection::connect_any([dead.as_str()], ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(only_dead, WireError::Connect { .. }),
        "{only_dead}"
    );
    let none = Connection::connect_any([], ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(none, WireError::NoAddress), "{none}");
    assert!(
        !none.outcome_unknown() && !only_dead.outcome_unknown(),
        "nothing was sent"
    );
}

/// A tiny join_all so the tests need no futures crate.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
