//! The `kafkatx serve` binary on SIGHUP: the TLS certificate and the access file are both read
//! again (each watcher has its own handler), the process keeps running, and a bad access file
//! keeps the previous callers. No broker is needed: `/v1/topics` answers 503 to an
//! authenticated caller without one, and 401 before that to anyone else.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafkatx_server::http::auth::KeyHash;
use kafkatx_server::http::tls::common_name;
use support::certs::{Ca, TempDir, client_config};
use support::https;

const OLD_KEY: &str = "old-key-0123456789abcdef";
const NEW_KEY: &str = "new-key-0123456789abcdef";

/// Kills the gateway when the test ends, also on a failed assertion.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn key_line(key: &str) -> String {
    format!("{}  app  topics=orders\n", KeyHash::of(key.as_bytes()))
}

fn hangup(gateway: &Gateway) {
    let pid = gateway.0.id().to_string();
    let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(sent.success());
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_the_access_file() {
    let dir = TempDir::new("kafkatx-sighup");
    let ca = Ca::new("sighup CA");
    let (cert, key) = ca.server("server-1").write(&dir.0, "server");
    let keys = dir.0.join("keys.txt");
    std::fs::write(&keys, key_line(OLD_KEY)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let gateway = Gateway(
        Command::new(env!("CARGO_BIN_EXE_kafkatx"))
            .args([
                "serve",
                "--bootstrap-server",
                "127.0.0.1:1",
                "--listen",
                &listen,
            ])
            .args(["--pool-size", "1", "--instance-id", "sighup-test"])
            // Without a broker, start-up waits for the first producer attempt: keep it short.
            .args(["--producer-property", "max.block.ms=500"])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--api-keys")
            .arg(&keys)
            // Polling out of the way: only SIGHUP reloads within this test.
            .args(["--tls-reload-interval-secs", "3600"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = listen.parse().unwrap();
    let client = client_config(&ca.cert_pem, None);
    let status = |key: &'static str| {
        let client = client.clone();
        async move {
            let auth = format!("Bearer {key}");
            let answer = https::request(
                addr,
                client,
                "GET",
                "/v1/topics",
                &[("Authorization", &auth)],
                "",
            )
            .await;
            answer.map(|a| a.status).ok()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(OLD_KEY).await.is_none() {
        assert!(Instant::now() < deadline, "the gateway never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(OLD_KEY).await, Some(503), "authenticated, no broker");
    assert_eq!(status(NEW_KEY).await, Some(401));

    ca.server("server-2").write(&dir.0, "server");
    std::fs::write(&keys, key_line(NEW_KEY)).unwrap();
    hangup(&gateway);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(NEW_KEY).await != Some(503) {
        assert!(
            Instant::now() < deadline,
            "the access file was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(OLD_KEY).await, Some(401));
    let fresh = https::connect(addr, client.clone()).await.unwrap();
    assert_eq!(
        https::server_name_of(&fresh, common_name).as_deref(),
        Some("server-2")
    );

    // A file that does not parse is refused and the callers stay as they were.
    std::fs::write(&keys, "sha256:not-a-digest app\n").unwrap();
    hangup(&gateway);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status(NEW_KEY).await, Some(503));
    let mut gateway = gateway;
    assert!(
        gateway.0.try_wait().unwrap().is_none(),
        "SIGHUP ended the process"
    );
}
