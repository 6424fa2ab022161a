//! SASL over a scripted fake broker on loopback: the request sequence and its versions, PLAIN's
//! frame, a full SCRAM exchange checked by an independent server implementation, the typed
//! errors for refusals and bad server messages, and the session lifetime (KIP-368).

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use kafkatx_wire::frame::{split_frame, write_frame};
use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::api_versions_response::ApiVersion;
use kafkatx_wire::protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafkatx_wire::protocol::protocol::{
    Decodable, Encodable, StrBytes, decode_request_header_from_buffer,
};
use kafkatx_wire::{
    AuthError, ConnectOptions, Connection, SaslCredentials, SaslMechanism, WireError,
};
use sha2::{Digest, Sha256, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Kafka error codes the fake answers with.
const UNSUPPORTED_SASL_MECHANISM: i16 = ResponseError::UnsupportedSaslMechanism.code();
const SASL_AUTHENTICATION_FAILED: i16 = ResponseError::SaslAuthenticationFailed.code();

/// One answer of the fake: a frame, written after `delay`.
struct Reply {
    delay: Duration,
    frame: BytesMut,
}

/// Decides the fake's answer to each request after ApiVersions; `None` closes the socket.
type Handler = Box<dyn FnMut(&RequestHeader, Bytes) -> Option<Reply> + Send>;

/// Every request the fake saw: (api key, version).
type Seen = Arc<Mutex<Vec<(i16, i16)>>>;

fn reply<M: Encodable>(header: &RequestHeader, body: &M) -> Option<Reply> {
    let api = ApiKey::try_from(header.request_api_key).unwrap();
    let version = header.request_api_version;
    let mut frame = BytesMut::new();
    write_frame::<()>(&mut frame, |b| {
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(b, api.response_header_version(version))
            .unwrap();
        body.encode(b, version).unwrap();
        Ok(())
    })
    .unwrap();
    Some(Reply {
        delay: Duration::ZERO,
        frame,
    })
}

fn api_versions(sasl_authenticate_max: Option<i16>) -> ApiVersionsResponse {
    let mut keys = vec![
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::Metadata, 0, 12),
        (ApiKey::SaslHandshake, 0, 1),
    ];
    if let Some(max) = sasl_authenticate_max {
        keys.push((ApiKey::SaslAuthenticate, 0, max));
    }
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

/// A broker that answers ApiVersions with `versions`, then hands every request to `handler`.
async fn fake_broker(versions: ApiVersionsResponse, mut handler: Handler) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Seen::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        loop {
            let frame = loop {
                if let Some(frame) = split_frame(&mut buf, 1 << 20).unwrap() {
                    break frame.freeze();
                }
                if socket.read_buf(&mut buf).await.unwrap() == 0 {
                    return;
                }
            };
            let mut body = frame;
            let header = decode_request_header_from_buffer(&mut body).unwrap();
            record
                .lock()
                .unwrap()
                .push((header.request_api_key, header.request_api_version));
            let answer = if header.request_api_key == ApiKey::ApiVersions as i16 {
                reply(&header, &versions)
            } else {
                handler(&header, body)
            };
            let Some(answer) = answer else { return };
            tokio::time::sleep(answer.delay).await;
            socket.write_all(&answer.frame).await.unwrap();
        }
    });
    (addr, seen)
}

fn options(mechanism: SaslMechanism, password: &str) -> ConnectOptions {
    ConnectOptions {
        sasl: Some(SaslCredentials::new(mechanism, "alice", password).unwrap()),
        ..ConnectOptions::default()
    }
}

fn handshake_ok(header: &RequestHeader, mut body: Bytes, expected: &'static str) -> Option<Reply> {
    let request = SaslHandshakeRequest::decode(&mut body, header.request_api_version).unwrap();
    if request.mechanism.as_str() != expected {
        let refusal = SaslHandshakeResponse::default()
            .with_error_code(UNSUPPORTED_SASL_MECHANISM)
            .with_mechanisms(vec![StrBytes::from_static_str(expected)]);
        return reply(header, &refusal);
    }
    reply(header, &SaslHandshakeResponse::default())
}

fn metadata(header: &RequestHeader) -> Option<Reply> {
    reply(
        header,
        &MetadataResponse::default().with_throttle_time_ms(7),
    )
}

/// A broker accepting PLAIN for alice/secret; wrong credentials get SASL_AUTHENTICATION_FAILED.
fn plain_broker(session_lifetime_ms: i64, metadata_delay: Duration) -> Handler {
    Box::new(move |header, mut body| {
        let version = header.request_api_version;
        match ApiKey::try_from(header.request_api_key).unwrap() {
            ApiKey::SaslHandshake => handshake_ok(header, body, "PLAIN"),
            ApiKey::SaslAuthenticate => {
                let request = SaslAuthenticateRequest::decode(&mut body, version).unwrap();
                let answer = if request.auth_bytes.as_ref() == b"\0alice\0secret" {
                    SaslAuthenticateResponse::default()
                        .with_session_lifetime_ms(session_lifetime_ms)
                } else {
                    SaslAuthenticateResponse::default()
                        .with_error_code(SASL_AUTHENTICATION_FAILED)
                        .with_error_message(Some(StrBytes::from_static_str(
                            "Authentication failed: Invalid username or password",
                        )))
                };
                reply(header, &answer)
            }
            ApiKey::Metadata => {
                let mut answer = metadata(header)?;
                answer.delay = metadata_delay;
                Some(answer)
            }
            other => panic!("unexpected {other:?}"),
        }
    })
}

#[tokio::test]
async fn plain_sends_one_nul_separated_message_after_a_v1_handshake() {
    let (addr, seen) = fake_broker(api_versions(Some(2)), plain_broker(0, Duration::ZERO)).await;
    let conn = Connection::connect(&addr, options(SaslMechanism::Plain, "secret"))
        .await
        .unwrap();
    let (_, answer) = conn
        .send_negotiated(&MetadataRequest::default(), None)
        .await
        .unwrap();
    assert_eq!(answer.throttle_time_ms, 7);
    assert_eq!(conn.session_lifetime(), None, "lifetime 0 means unlimited");
    let apis: Vec<(i16, i16)> = seen.lock().unwrap().clone();
    assert_eq!(
        apis[1..],
        [
            (ApiKey::SaslHandshake as i16, 1),
            (ApiKey::SaslAuthenticate as i16, 2),
            (ApiKey::Metadata as i16, 12),
        ]
    );
}

#[tokio::test]
async fn without_credentials_no_sasl_request_is_sent() {
    let (addr, seen) = fake_broker(api_versions(Some(2)), plain_broker(0, Duration::ZERO)).await;
    let conn = Connection::connect(&addr, ConnectOptions::default())
        .await
        .unwrap();
    conn.send_negotiated(&MetadataRequest::default(), None)
        .await
        .unwrap();
    let apis: Vec<i16> = seen.lock().unwrap().iter().map(|&(api, _)| api).collect();
    assert_eq!(apis, [ApiKey::ApiVersions as i16, ApiKey::Metadata as i16]);
}

#[tokio::test]
async fn a_refused_password_is_the_typed_error_with_the_brokers_code_and_message() {
    let (addr, _) = fake_broker(api_versions(Some(2)), plain_broker(0, Duration::ZERO)).await;
    let err = Connection::connect(&addr, options(SaslMechanism::Plain, "wrong"))
        .await
        .unwrap_err();
    let WireError::Authentication(auth) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(auth.code(), Some(SASL_AUTHENTICATION_FAILED));
    assert!(matches!(auth, AuthError::Refused { message: Some(m), .. } if m.contains("Invalid")));
    assert!(!err.outcome_unknown());
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test]
async fn a_mechanism_the_broker_lacks_lists_what_it_enables() {
    let (addr, _) = fake_broker(api_versions(Some(2)), plain_broker(0, Duration::ZERO)).await;
    let err = Connection::connect(&addr, options(SaslMechanism::ScramSha256, "secret"))
        .await
        .unwrap_err();
    match err {
        WireError::Authentication(AuthError::UnsupportedMechanism { mechanism, enabled }) => {
            assert_eq!(mechanism, "SCRAM-SHA-256");
            assert_eq!(enabled, ["PLAIN"]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_broker_without_sasl_authenticate_is_an_unsupported_version() {
    let (addr, _) = fake_broker(api_versions(None), plain_broker(0, Duration::ZERO)).await;
    let err = Connection::connect(&addr, options(SaslMechanism::Plain, "secret"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::UnsupportedVersion {
                api: ApiKey::SaslAuthenticate,
                ..
            }
        ),
        "{err:?}"
    );
}

/// The broker's session limit: no new request from 85% of it, while an answer to a request
/// sent before that still arrives; the connection then reports itself closed.
#[tokio::test]
async fn a_limited_session_stops_new_requests_but_delivers_answers_in_flight() {
    let lifetime = Duration::from_millis(1500);
    let handler = plain_broker(1500, Duration::from_millis(1600));
    let (addr, _) = fake_broker(api_versions(Some(2)), handler).await;
    let conn = Connection::connect(&addr, options(SaslMechanism::Plain, "secret"))
        .await
        .unwrap();
    assert_eq!(conn.session_lifetime(), Some(lifetime));
    assert!(!conn.is_closed());
    // Answered 1.6 s later, after the session ran out.
    let in_flight = conn.start(&MetadataRequest::default(), 12);
    tokio::time::sleep(lifetime.mul_f64(0.9)).await;
    assert!(conn.is_closed());
    let refused = conn
        .send(&MetadataRequest::default(), 12)
        .await
        .unwrap_err();
    assert!(matches!(refused, WireError::SessionExpired { lifetime: l } if l == lifetime));
    assert!(
        !refused.outcome_unknown(),
        "a refused request was never sent"
    );
    assert_eq!(in_flight.await.unwrap().throttle_time_ms, 7);
}

#[tokio::test]
async fn sasl_authenticate_v0_works_and_has_no_session_lifetime() {
    let (addr, seen) = fake_broker(api_versions(Some(0)), plain_broker(0, Duration::ZERO)).await;
    let conn = Connection::connect(&addr, options(SaslMechanism::Plain, "secret"))
        .await
        .unwrap();
    assert_eq!(conn.session_lifetime(), None);
    assert!(
        seen.lock()
            .unwrap()
            .contains(&(ApiKey::SaslAuthenticate as i16, 0))
    );
}

/// The server side of SCRAM (RFC 5802 section 3), for one user.
#[derive(Clone, Copy, PartialEq)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Hash::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).unwrap();
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }
    fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
    fn hi(self, password: &str, salt: &[u8], i: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt, i).to_vec()
            }
            Hash::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password.as_bytes(), salt, i).to_vec()
            }
        }
    }
    fn mechanism(self) -> &'static str {
        match self {
            Hash::Sha256 => "SCRAM-SHA-256",
            Hash::Sha512 => "SCRAM-SHA-512",
        }
    }
}

/// How the fake SCRAM server misbehaves, if at all.
#[derive(Clone, Copy, PartialEq)]
enum Twist {
    None,
    /// Sends a server signature computed with the wrong key.
    ForgeSignature,
    /// Replaces the client's nonce instead of extending it.
    ForeignNonce,
    /// Sends bytes that are not a SCRAM message at all.
    Garbage,
}

const SALT: &[u8] = b"kafkatx-test-salt";
const PASSWORD: &str = "alice-secret";

fn scram_broker(hash: Hash, twist: Twist) -> Handler {
    let mut auth_message = String::new();
    Box::new(move |header, mut body| {
        let version = header.request_api_version;
        match ApiKey::try_from(header.request_api_key).unwrap() {
            ApiKey::SaslHandshake => handshake_ok(header, body, hash.mechanism()),
            ApiKey::SaslAuthenticate => {
                let request = SaslAuthenticateRequest::decode(&mut body, version).unwrap();
                let message = String::from_utf8(request.auth_bytes.to_vec()).unwrap();
                let token = if let Some(client_first_bare) = message.strip_prefix("n,,") {
                    let client_nonce = client_first_bare.split_once(",r=").unwrap().1;
                    let nonce = match twist {
                        Twist::ForeignNonce => "someone-elses-nonce".to_owned(),
                        _ => format!("{client_nonce}server-part"),
                    };
                    let server_first = format!("r={nonce},s={},i=4096", BASE64.encode(SALT));
                    auth_message = format!("{client_first_bare},{server_first}");
                    match twist {
                        Twist::Garbage => vec![0xff, 0x00, 0x2c],
                        _ => server_first.into_bytes(),
                    }
                } else {
                    let (without_proof, proof) = message.split_once(",p=").unwrap();
                    auth_message = format!("{auth_message},{without_proof}");
                    let salted = hash.hi(PASSWORD, SALT, 4096);
                    let client_key = hash.hmac(&salted, b"Client Key");
                    let signature = hash.hmac(&hash.h(&client_key), auth_message.as_bytes());
                    let expected: Vec<u8> = client_key
                        .iter()
                        .zip(&signature)
                        .map(|(a, b)| a ^ b)
                        .collect();
                    if BASE64.decode(proof).unwrap() != expected {
                        let refusal = SaslAuthenticateResponse::default()
                            .with_error_code(SASL_AUTHENTICATION_FAILED)
                            .with_error_message(Some(StrBytes::from_static_str(
                                "Authentication failed during authentication due to invalid credentials with SASL mechanism",
                            )));
                        return reply(header, &refusal);
                    }
                    let key = match twist {
                        Twist::ForgeSignature => b"not the server key".to_vec(),
                        _ => hash.hmac(&salted, b"Server Key"),
                    };
                    let server_signature = hash.hmac(&key, auth_message.as_bytes());
                    format!("v={}", BASE64.encode(server_signature)).into_bytes()
                };
                reply(
                    header,
                    &SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(token)),
                )
            }
            ApiKey::Metadata => metadata(header),
            other => panic!("unexpected {other:?}"),
        }
    })
}

async fn scram_connect(hash: Hash, twist: Twist, password: &str) -> Result<Connection, WireError> {
    let mechanism = match hash {
        Hash::Sha256 => SaslMechanism::ScramSha256,
        Hash::Sha512 => SaslMechanism::ScramSha512,
    };
    let (addr, _) = fake_broker(api_versions(Some(2)), scram_broker(hash, twist)).await;
    Connection::connect(&addr, options(mechanism, password)).await
}

#[tokio::test]
async fn scram_sha_256_and_512_complete_against_an_independent_server() {
    for hash in [Hash::Sha256, Hash::Sha512] {
        let conn = scram_connect(hash, Twist::None, PASSWORD).await.unwrap();
        let (_, answer) = conn
            .send_negotiated(&MetadataRequest::default(), None)
            .await
            .unwrap();
        assert_eq!(answer.throttle_time_ms, 7, "{}", hash.mechanism());
    }
}

#[tokio::test]
async fn scram_with_a_wrong_password_is_refused_by_the_broker() {
    let err = scram_connect(Hash::Sha512, Twist::None, "not-alice-secret")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WireError::Authentication(auth) if auth.code() == Some(SASL_AUTHENTICATION_FAILED)),
        "{err:?}"
    );
}

#[tokio::test]
async fn scram_refuses_a_broker_that_cannot_prove_it_knows_the_user() {
    let err = scram_connect(Hash::Sha256, Twist::ForgeSignature, PASSWORD)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Authentication(AuthError::ServerSignatureMismatch)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn scram_refuses_a_foreign_nonce_and_garbage_without_panicking() {
    let err = scram_connect(Hash::Sha256, Twist::ForeignNonce, PASSWORD)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WireError::Authentication(AuthError::NonceMismatch)),
        "{err:?}"
    );
    let err = scram_connect(Hash::Sha512, Twist::Garbage, PASSWORD)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Authentication(AuthError::MalformedServerMessage(_))
        ),
        "{err:?}"
    );
}
