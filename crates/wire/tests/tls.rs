//! The TLS mismatches a connection recognises without certificates, against fake peers on
//! loopback: a TLS listener answering our plaintext with an alert, and a plaintext listener
//! closing the connection on our ClientHello. Both must be `WireError::Tls` naming
//! `security.protocol`, and arrive at once. (Certificate errors are tested on a real broker in
//! integration/tests/wire_tls.rs.)

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use kafkatx_wire::{ConnectOptions, Connection, TlsSettings, WireError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn options(tls: bool) -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        tls: tls.then(|| {
            TlsSettings {
                verify_hostname: true,
                ..TlsSettings::default()
            }
            .build()
            .unwrap()
        }),
        ..ConnectOptions::default()
    }
}

fn assert_tls_error(error: &WireError, words: &[&str]) {
    assert!(matches!(error, WireError::Tls(_)), "{error:?}");
    assert!(!error.outcome_unknown());
    let message = error.to_string();
    for word in words {
        assert!(message.contains(word), "`{word}` not in: {message}");
    }
}

#[tokio::test]
async fn plaintext_to_a_tls_listener_is_recognised_from_its_alert() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 64];
        let _ = socket.read(&mut request).await;
        // A fatal alert record, TLS 1.2 framing: content type 21, version 3.3, length 2,
        // level fatal (2), unexpected_message (10), as a TLS server sends for garbage.
        socket.write_all(&[21, 3, 3, 0, 2, 2, 10]).await.unwrap();
        let _ = socket.read(&mut request).await;
    });
    let started = Instant::now();
    let error = Connection::connect(&addr, options(false))
        .await
        .unwrap_err();
    assert_tls_error(&error, &["TLS listener", "security.protocol=SSL"]);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn tls_to_a_plaintext_listener_is_recognised_from_its_silence() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // What Kafka's plaintext listener does with a ClientHello: it reads the first four
        // bytes as a request length of hundreds of MB and closes the connection.
        let mut size = [0u8; 4];
        socket.read_exact(&mut size).await.unwrap();
        assert_eq!(size[0], 22, "a TLS handshake record");
        drop(socket);
    });
    let started = Instant::now();
    let error = Connection::connect(&addr, options(true)).await.unwrap_err();
    assert_tls_error(&error, &["PLAINTEXT", "security.protocol"]);
    assert!(started.elapsed() < Duration::from_secs(2));
}
