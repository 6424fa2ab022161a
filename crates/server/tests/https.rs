//! The gateway over HTTPS with the fake backend: requests over TLS, start-up errors naming the
//! flag, certificate reload under an open keep-alive connection (SIGHUP-style and by polling
//! the files), a bad new certificate kept out, client certificates (required, or optional
//! beside API keys), and the common name read from certificates.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkatx_server::ServerConfig;
use kafkatx_server::http::auth::{AccessList, KeyHash, SharedAccess};
use kafkatx_server::http::tls::{self, ClientAuth, ServerTls, TlsFiles, common_name};
use rcgen::{DistinguishedName, DnType, DnValue};
use support::certs::{Ca, Key, TempDir, client_config};
use support::https::{self, exchange, keep_alive_request, server_name_of};
use support::{FakeBackend, start_server_tls};

const ONE_RECORD: &str = r#"{"records":[{"value":"v"}]}"#;

/// A CA, a server certificate `server-1` for it, written as files.
struct Setup {
    dir: TempDir,
    ca: Ca,
    files: TlsFiles,
}

fn setup(client_ca: Option<ClientAuth>) -> Setup {
    let dir = TempDir::new("kafkatx-https");
    let ca = Ca::new("test CA");
    let (cert, key) = ca.server("server-1").write(&dir.0, "server");
    let client_ca = client_ca.map(|mode| (ca.write(&dir.0, "ca"), mode));
    Setup {
        files: TlsFiles {
            cert,
            key,
            client_ca,
        },
        dir,
        ca,
    }
}

#[tokio::test]
async fn requests_are_served_over_tls_and_plaintext_is_not() {
    let setup = setup(None);
    let tls = ServerTls::load(&setup.files).unwrap();
    let server = start_server_tls(FakeBackend::new(), ServerConfig::default(), Some(tls)).await;
    let client = client_config(&setup.ca.cert_pem, None);
    let answer = https::request(
        server.addr,
        client,
        "POST",
        "/v1/topics/orders/records",
        &[],
        ONE_RECORD,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(server.backend.seen().len(), 1);
    // Plain HTTP to the TLS port never reaches a handler.
    let plain = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(server.addr),
    )
    .await
    .unwrap()
    .unwrap();
    let mut plain = plain;
    let refused = exchange(&mut plain, &keep_alive_request("GET", "/healthz", &[], "")).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(server.backend.seen().len(), 1);
}

#[test]
fn unusable_files_are_start_up_errors_naming_the_flag() {
    let setup = setup(None);
    let dir = &setup.dir.0;
    let other = setup.ca.server("other").write(dir, "other");
    let load = |cert: &std::path::Path, key: &std::path::Path| {
        ServerTls::load(&TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: None,
        })
        .unwrap_err()
    };
    let missing = load(&dir.join("nope.crt"), &setup.files.key);
    assert_eq!(missing.flag, "--tls-cert");
    assert!(missing.reason.contains("nope.crt"), "{missing}");
    let mismatched = load(&setup.files.cert, &other.1);
    assert_eq!(mismatched.flag, "--tls-key");
    assert!(mismatched.reason.contains("not the key"), "{mismatched}");
    let swapped = load(&setup.files.key, &setup.files.cert);
    assert_eq!(swapped.flag, "--tls-cert", "{swapped}");
    let encrypted = dir.join("encrypted.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let encrypted = load(&setup.files.cert, &encrypted);
    assert!(encrypted.reason.contains("encrypted"), "{encrypted}");
    let no_ca = ServerTls::load(&TlsFiles {
        client_ca: Some((setup.files.key.clone(), ClientAuth::Required)),
        ..setup.files.clone()
    })
    .unwrap_err();
    assert_eq!(no_ca.flag, "--tls-client-ca", "{no_ca}");
}

#[tokio::test]
async fn a_reload_changes_new_handshakes_and_keeps_open_connections() {
    let setup = setup(None);
    let tls = ServerTls::load(&setup.files).unwrap();
    let store = Arc::clone(tls.store());
    let server = start_server_tls(FakeBackend::new(), ServerConfig::default(), Some(tls)).await;
    let client = client_config(&setup.ca.cert_pem, None);
    let request = keep_alive_request("POST", "/v1/topics/orders/records", &[], ONE_RECORD);

    let mut open = https::connect(server.addr, Arc::clone(&client))
        .await
        .unwrap();
    assert_eq!(
        server_name_of(&open, common_name).as_deref(),
        Some("server-1")
    );
    assert_eq!(exchange(&mut open, &request).await.unwrap().status, 200);

    // The SIGHUP path: rewrite the files, reload. The client keeps its session cache, so the
    // new connection would resume the old session if the server had not forgotten it.
    setup.ca.server("server-2").write(&setup.dir.0, "server");
    store.reload().unwrap();
    assert_eq!(exchange(&mut open, &request).await.unwrap().status, 200);
    assert_eq!(
        server_name_of(&open, common_name).as_deref(),
        Some("server-1")
    );
    let fresh = https::connect(server.addr, Arc::clone(&client))
        .await
        .unwrap();
    assert_eq!(
        server_name_of(&fresh, common_name).as_deref(),
        Some("server-2")
    );

    // A bad new certificate is refused and the previous one served.
    std::fs::write(&setup.files.cert, "not a certificate").unwrap();
    let error = store.reload().unwrap_err();
    assert_eq!(error.flag, "--tls-cert");
    let again = https::connect(server.addr, Arc::clone(&client))
        .await
        .unwrap();
    assert_eq!(
        server_name_of(&again, common_name).as_deref(),
        Some("server-2")
    );
    // So is a certificate with another certificate's key.
    let third = setup.ca.server("server-3");
    let other = setup.ca.server("other");
    std::fs::write(&setup.files.cert, &third.cert_pem).unwrap();
    std::fs::write(&setup.files.key, &other.key_pem).unwrap();
    assert_eq!(store.reload().unwrap_err().flag, "--tls-key");
    assert_eq!(exchange(&mut open, &request).await.unwrap().status, 200);
    assert_eq!(server.backend.seen().len(), 3);
}

#[tokio::test]
async fn the_watcher_picks_up_changed_files_by_polling() {
    let setup = setup(None);
    let tls = ServerTls::load(&setup.files).unwrap();
    let store = Arc::clone(tls.store());
    let server = start_server_tls(FakeBackend::new(), ServerConfig::default(), Some(tls)).await;
    let watcher = tokio::spawn(tls::watch(
        Arc::clone(&store),
        Duration::from_millis(50),
        None,
    ));
    let client = client_config(&setup.ca.cert_pem, None);
    let mut open = https::connect(server.addr, Arc::clone(&client))
        .await
        .unwrap();
    let health = keep_alive_request("GET", "/healthz", &[], "");
    assert_eq!(exchange(&mut open, &health).await.unwrap().status, 200);

    // A half-written pair (new certificate, old key) is refused; the complete one is served.
    let next = setup.ca.server("server-2");
    std::fs::write(&setup.files.cert, &next.cert_pem).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = https::connect(server.addr, Arc::clone(&client))
        .await
        .unwrap();
    assert_eq!(
        server_name_of(&during, common_name).as_deref(),
        Some("server-1")
    );
    std::fs::write(&setup.files.key, &next.key_pem).unwrap();
    let started = Instant::now();
    loop {
        let fresh = https::connect(server.addr, Arc::clone(&client))
            .await
            .unwrap();
        if server_name_of(&fresh, common_name).as_deref() == Some("server-2") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(exchange(&mut open, &health).await.unwrap().status, 200);
    watcher.abort();
}

#[tokio::test]
async fn a_required_client_certificate_admits_its_holders_and_refuses_others() {
    let setup = setup(Some(ClientAuth::Required));
    let tls = ServerTls::load(&setup.files).unwrap();
    let server = start_server_tls(FakeBackend::new(), ServerConfig::default(), Some(tls)).await;
    let good = setup.ca.client("any-client");
    let answer = https::request(
        server.addr,
        client_config(&setup.ca.cert_pem, Some(&good)),
        "POST",
        "/v1/topics/orders/records",
        &[],
        ONE_RECORD,
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 200);
    let stranger = Ca::new("other CA").client("any-client");
    for client in [None, Some(&stranger)] {
        let refused = https::request(
            server.addr,
            client_config(&setup.ca.cert_pem, client),
            "POST",
            "/v1/topics/orders/records",
            &[],
            ONE_RECORD,
        )
        .await;
        assert!(refused.is_err(), "{refused:?}");
    }
    assert_eq!(server.backend.seen().len(), 1);
    let metrics = https::request(
        server.addr,
        client_config(&setup.ca.cert_pem, Some(&good)),
        "GET",
        "/metrics",
        &[],
        "",
    )
    .await
    .unwrap()
    .text();
    assert!(
        metrics.contains("kafkatx_http_tls_handshake_failures_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_optional_client_certificate_grants_the_rights_of_its_line() {
    let setup = setup(Some(ClientAuth::Optional));
    let key = "key-holder-0123456789abcdef";
    let text = format!(
        "cert:CN=billing  billing  topics=invoices\n{}  keyed  topics=orders\n",
        KeyHash::of(key.as_bytes())
    );
    let config = ServerConfig {
        access: Some(Arc::new(SharedAccess::fixed(
            AccessList::parse(&text, "t").unwrap(),
        ))),
        ..ServerConfig::default()
    };
    let tls = ServerTls::load(&setup.files).unwrap();
    let server = start_server_tls(FakeBackend::new(), config, Some(tls)).await;
    let billing = client_config(&setup.ca.cert_pem, Some(&setup.ca.client("billing")));
    let unknown = client_config(&setup.ca.cert_pem, Some(&setup.ca.client("unknown")));
    let anonymous = client_config(&setup.ca.cert_pem, None);
    let post = |client, topic: &str, headers: Vec<(&'static str, String)>| {
        let path = format!("/v1/topics/{topic}/records");
        let addr = server.addr;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            https::request(addr, client, "POST", &path, &headers, ONE_RECORD)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        post(Arc::clone(&billing), "invoices", vec![]).await.status,
        200
    );
    assert_eq!(
        post(Arc::clone(&billing), "orders", vec![]).await.status,
        403
    );
    assert_eq!(
        post(Arc::clone(&unknown), "invoices", vec![]).await.status,
        401
    );
    assert_eq!(
        post(Arc::clone(&anonymous), "invoices", vec![])
            .await
            .status,
        401
    );
    let bearer = vec![("Authorization", format!("Bearer {key}"))];
    assert_eq!(post(anonymous, "orders", bearer.clone()).await.status, 200);
    // A key, when sent, decides: the certificate's rights do not add to it.
    assert_eq!(post(billing, "invoices", bearer).await.status, 403);
    assert_eq!(server.backend.seen().len(), 2);
}

#[test]
fn the_common_name_is_read_from_each_string_type_and_never_guessed() {
    let ca = Ca::new("test CA");
    assert_eq!(
        common_name(&ca.client("billing.internal").chain()[0]).as_deref(),
        Some("billing.internal")
    );
    let with_name = |values: &[DnValue]| -> Option<String> {
        let mut params = support::certs::params(Vec::new());
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        for value in values {
            params
                .distinguished_name
                .push(DnType::CommonName, value.clone());
        }
        let cert = params.self_signed(&Key::generate()).unwrap();
        common_name(cert.der())
    };
    let printable = DnValue::PrintableString("Printable Name".try_into().unwrap());
    let ia5 = DnValue::Ia5String("ia5@example".try_into().unwrap());
    let utf8 = DnValue::Utf8String("caf\u{e9}".to_owned());
    let bmp = DnValue::BmpString("bmp".try_into().unwrap());
    assert_eq!(
        with_name(std::slice::from_ref(&printable)).as_deref(),
        Some("Printable Name")
    );
    assert_eq!(with_name(&[ia5]).as_deref(), Some("ia5@example"));
    assert_eq!(with_name(&[utf8]).as_deref(), Some("caf\u{e9}"));
    assert_eq!(
        with_name(&[bmp]),
        None,
        "a type we do not read gives no name"
    );
    assert_eq!(with_name(&[]), None);
    let der = ca.client("x").chain()[0].to_vec();
    for cut in 0..der.len() {
        let _ = common_name(&der[..cut]);
    }
}
