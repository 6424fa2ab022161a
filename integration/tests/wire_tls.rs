//! TLS against real Kafka brokers, each started by this test with `integration/kafka start`
//! and stopped at the end:
//!
//! * port 9620, `--tls`: an SSL listener (certificates from a throwaway CA), plus on 9622 an
//!   expired certificate, on 9623 a certificate for another host name and on 9624 PLAINTEXT.
//!   Transactional and idempotent producers commit over SSL, our reader and kcat read the
//!   records back with read_committed; every configuration error (unknown CA, expired
//!   certificate, host name mismatch, TLS to a plaintext port and plaintext to a TLS port) is
//!   fatal within seconds and names the setting to fix; the gateway over SSL answers 404
//!   `unknown_topic` for a topic that does not exist, and does not create it; `kafkatx load
//!   --check` reads back over SSL with both readers.
//! * port 9630, `--mtls --sasl`: SASL_SSL with client certificates required. Every SASL
//!   mechanism authenticates over TLS with a client certificate; without one the broker refuses
//!   the connection and a producer fails at once saying which setting is missing; the gateway
//!   serves over SASL_SSL end to end, read back by kcat.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TestGateway, gateway_settings, start_gateway};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkatx_server::ServerConfig;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_testkit::{create_topic, in_ci, kafka, unique_name};
use kafkatx_tools::load::{Endpoint, LoadArgs, execute};
use kafkatx_txn::{
    Producer, ProducerConfig, ProducerConfigBuilder, ProducerRecord, TransactionalProducer,
};
use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::metadata_request::MetadataRequestTopic;
use kafkatx_wire::protocol::messages::{MetadataRequest, TopicName};
use kafkatx_wire::protocol::protocol::StrBytes;
use kafkatx_wire::reader::{Isolation, read_topic_with};
use kafkatx_wire::{
    ConnectOptions, Connection, SaslCredentials, SaslMechanism, TlsSettings, WireError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SSL_PORT: u16 = 9620;
const MTLS_PORT: u16 = 9630;
/// The test user of `--sasl` instances (integration/broker/lib/common.sh).
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
/// A configuration error must end the producer this fast (max.block.ms is 60 s).
const FAST: Duration = Duration::from_secs(5);

/// A dedicated broker; stopped when dropped, also when an assertion failed.
struct Broker {
    port: u16,
}

impl Broker {
    fn start(port: u16, flags: &[&str]) -> Option<Broker> {
        let port_text = port.to_string();
        let mut args = vec!["start", "--port", port_text.as_str()];
        args.extend_from_slice(flags);
        match kafka(&args) {
            Ok(_) => Some(Broker { port }),
            Err(e) if in_ci() => panic!("could not start the TLS broker on port {port}: {e}"),
            Err(e) => {
                eprintln!("SKIPPED: could not start a TLS broker on port {port}: {e}");
                None
            }
        }
    }

    /// `127.0.0.1:port + offset`.
    fn addr(&self, offset: u16) -> String {
        format!("127.0.0.1:{}", self.port + offset)
    }

    /// The instance's work directory (integration/broker/lib/common.sh).
    fn dir(&self) -> PathBuf {
        let root = std::env::var_os("KAFKATX_KAFKA_WORK")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/kafkatx-kafka"));
        root.join(format!("single-{}", self.port))
    }

    fn cert(&self, file: &str) -> String {
        self.dir().join("certs").join(file).display().to_string()
    }

    /// `integration/kafka` wrote kafkatx's settings for this instance, one KEY=VALUE a line.
    fn kafkatx_properties(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir().join("kafkatx.properties"))
            .unwrap()
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Err(e) = kafka(&["stop", "--port", &self.port.to_string()]) {
            eprintln!("could not stop the broker on port {}: {e}", self.port);
        }
    }
}

fn builder(addr: &str, properties: &[(String, String)]) -> ProducerConfigBuilder {
    properties.iter().fold(
        ProducerConfig::builder()
            .bootstrap_servers(addr)
            .socket_timeouts(),
        |b, (k, v)| b.set(k, v).unwrap(),
    )
}

/// Short timeouts: a test that waits a minute for an error hides a slow failure.
trait SocketTimeouts {
    fn socket_timeouts(self) -> Self;
}

impl SocketTimeouts for ProducerConfigBuilder {
    fn socket_timeouts(self) -> Self {
        self.set("socket.connection.setup.timeout.ms", "5000")
            .unwrap()
            .set("request.timeout.ms", "10000")
            .unwrap()
    }
}

fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn connect_options(properties: &[(String, String)]) -> ConnectOptions {
    let security = kafkatx_txn::config::connection_security(
        properties.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .unwrap();
    ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        sasl: security.sasl,
        tls: security.tls,
        ..ConnectOptions::default()
    }
}

/// One test per broker, so that each is started once and stopped once, after every check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_against_a_real_broker() {
    let Some(broker) = Broker::start(SSL_PORT, &["--tls"]) else {
        return;
    };
    transactional_and_idempotent_producers_commit_over_ssl(&broker).await;
    host_name_verification_can_be_turned_off(&broker).await;
    configuration_errors_are_fatal_at_once_and_name_the_setting(&broker).await;
    the_gateway_never_creates_a_topic(&broker).await;
    load_check_reads_back_over_ssl(&broker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_with_client_certificates_against_a_real_broker() {
    let Some(broker) = Broker::start(MTLS_PORT, &["--mtls", "--sasl"]) else {
        return;
    };
    every_mechanism_authenticates_over_tls_with_a_client_certificate(&broker).await;
    without_a_client_certificate_the_broker_refuses(&broker).await;
    the_gateway_serves_over_sasl_ssl(&broker).await;
}

async fn transactional_and_idempotent_producers_commit_over_ssl(broker: &Broker) {
    let addr = broker.addr(0);
    let properties = broker.kafkatx_properties();
    let topic = unique_name("wire-tls");
    // Through the PLAINTEXT listener: creating topics is not what is tested here.
    create_topic(&broker.addr(4), &topic, 2).await.unwrap();

    let config = builder(&addr, &properties)
        .transactional_id(unique_name("wire-tls-txn"))
        .build()
        .unwrap();
    let producer = TransactionalProducer::new(config).await.unwrap();
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..3 {
        let record = ProducerRecord::new(&topic, Bytes::from(format!("committed-{i}")));
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.commit_transaction().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.begin_transaction().await.unwrap();
    let record = ProducerRecord::new(&topic, Bytes::from_static(b"aborted"));
    let aborted = producer.send(record).await.unwrap();
    producer.abort_transaction().await.unwrap();
    // Its delivery fails or succeeds depending on whether it was sent before the abort.
    drop(aborted);
    producer.close().await.unwrap();

    let config = builder(&addr, &properties).build().unwrap();
    let producer = Producer::new(config).await.unwrap();
    for i in 0..2 {
        let record = ProducerRecord::new(&topic, Bytes::from(format!("idempotent-{i}")));
        producer.send(record).await.unwrap().await.unwrap();
    }
    producer.close().await.unwrap();

    let expected = [
        "committed-0",
        "committed-1",
        "committed-2",
        "idempotent-0",
        "idempotent-1",
    ];
    // Our reader over TLS.
    let records = read_topic_with(
        &addr,
        &topic,
        Isolation::ReadCommitted,
        &connect_options(&properties),
    )
    .await
    .unwrap();
    let mut ours: Vec<String> = records
        .iter()
        .filter_map(|r| r.record.value.as_ref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    ours.sort();
    assert_eq!(ours, expected);
    // librdkafka over TLS, with its own names, as a user would call it.
    let theirs = kcat_committed_values(
        &addr,
        &topic,
        &[
            "security.protocol=ssl".to_owned(),
            format!("ssl.ca.location={}", broker.cert("ca.crt")),
        ],
    );
    assert_eq!(theirs, expected);
}

/// `ssl.endpoint.identification.algorithm=` (empty): a certificate for another host name is
/// accepted as long as the trust store vouches for it.
async fn host_name_verification_can_be_turned_off(broker: &Broker) {
    let properties = props(&[
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &broker.cert("ca.crt")),
        ("ssl.endpoint.identification.algorithm", ""),
    ]);
    let conn = Connection::connect(
        &format!("localhost:{}", broker.port + 3),
        connect_options(&properties),
    )
    .await
    .unwrap();
    let (_, metadata) = conn
        .send_negotiated(&MetadataRequest::default(), None)
        .await
        .unwrap();
    assert_eq!(metadata.brokers.len(), 1);
}

/// Starts a transactional producer with `properties` against `addr`; it must fail fatally
/// within [`FAST`] with a message containing every one of `words`.
async fn assert_fatal_fast(
    what: &str,
    addr: &str,
    properties: &[(String, String)],
    words: &[&str],
) {
    let config = builder(addr, properties)
        .transactional_id(unique_name("wire-tls-refused"))
        .build()
        .unwrap();
    let started = Instant::now();
    let producer = TransactionalProducer::new(config).await.unwrap();
    let error = producer.init_transactions().await.unwrap_err();
    let took = started.elapsed();
    assert!(error.is_fatal(), "{what}: {error:?}");
    let message = error.to_string();
    for word in words {
        assert!(message.contains(word), "{what}: `{word}` not in: {message}");
    }
    assert!(took < FAST, "{what}: took {took:?}");
    let _ = producer.close().await;
}

async fn configuration_errors_are_fatal_at_once_and_name_the_setting(broker: &Broker) {
    let ca = broker.cert("ca.crt");
    let trusted = props(&[
        ("security.protocol", "SSL"),
        ("ssl.truststore.location", &ca),
    ]);
    // No trust store: the public roots of webpki-roots do not know our CA.
    assert_fatal_fast(
        "default roots",
        &broker.addr(0),
        &props(&[("security.protocol", "SSL")]),
        &["not trusted", "ssl.truststore.location", "ssl.ca.location"],
    )
    .await;
    assert_fatal_fast(
        "another CA",
        &broker.addr(0),
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", &broker.cert("other-ca.crt")),
        ]),
        &["not trusted", "ssl.ca.location"],
    )
    .await;
    assert_fatal_fast(
        "expired certificate",
        &broker.addr(2),
        &trusted,
        &["expired", "ssl.keystore.location"],
    )
    .await;
    assert_fatal_fast(
        "host name mismatch",
        &format!("localhost:{}", broker.port + 3),
        &trusted,
        &[
            "not valid for the host name `localhost`",
            "ssl.endpoint.identification.algorithm",
        ],
    )
    .await;
    assert_fatal_fast(
        "TLS to a plaintext port",
        &broker.addr(4),
        &trusted,
        &["PLAINTEXT", "security.protocol"],
    )
    .await;
    assert_fatal_fast(
        "plaintext to a TLS port",
        &broker.addr(0),
        &[],
        &["TLS listener", "security.protocol=SSL"],
    )
    .await;

    // The idempotent producer fails the same way, and the wire error is typed.
    let started = Instant::now();
    let error = Producer::new(
        builder(&broker.addr(0), &props(&[("security.protocol", "SSL")]))
            .build()
            .unwrap(),
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(error.is_fatal() && started.elapsed() < FAST, "{error:?}");
    let wire = Connection::connect(&broker.addr(2), connect_options(&trusted))
        .await
        .unwrap_err();
    assert!(matches!(wire, WireError::Tls(_)), "{wire:?}");
    assert!(!wire.outcome_unknown());
}

/// The gateway over SSL answers 404 `unknown_topic` for a topic that does not exist, soon,
/// and the topic still does not exist afterwards (the broker has auto.create.topics.enable).
async fn the_gateway_never_creates_a_topic(broker: &Broker) {
    let addr = broker.addr(0);
    let settings = tls_gateway_settings(&addr, broker.kafkatx_properties());
    let gateway = start_tls_gateway(settings, &unique_name("wire-tls-pair")).await;
    let http = gateway.addr;
    let (status, body) = http_request(http, "GET", "/readyz", "").await;
    assert_eq!(status, 200, "{body}");

    let topic = unique_name("nonexistent-xyz");
    let started = Instant::now();
    let path = format!("/v1/topics/{topic}/records");
    // Several records: all of them wait for the same metadata answers and fail together.
    let records = r#"{"records":[{"value":"a"},{"value":"b"},{"value":"c"}]}"#;
    let (status, body) = http_request(http, "POST", &path, records).await;
    let took = started.elapsed();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"unknown_topic\""), "{body}");
    assert!(body.contains("\"outcome\":\"none\""), "{body}");
    assert!(took < FAST, "took {took:?}");
    // A second request is answered the same way (and not from a stale answer: see below).
    let (status, body) = http_request(http, "POST", &path, r#"{"records":[{"value":"x"}]}"#).await;
    assert_eq!(status, 404, "{body}");

    let conn = Connection::connect(&broker.addr(4), ConnectOptions::default())
        .await
        .unwrap();
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.clone())))),
        ]))
        .with_allow_auto_topic_creation(false);
    let (_, metadata) = conn.send_negotiated(&request, None).await.unwrap();
    assert_eq!(
        metadata.topics[0].error_code,
        ResponseError::UnknownTopicOrPartition.code(),
        "{topic} was created"
    );

    // Created afterwards, the same gateway writes to it: an unknown topic is not remembered.
    create_topic(&broker.addr(4), &topic, 1).await.unwrap();
    let (status, body) = http_request(http, "POST", &path, r#"{"records":[{"value":"x"}]}"#).await;
    assert_eq!(status, 200, "{body}");
    gateway.stop().await;
}

/// `kafkatx load --check` against the gateway over SSL: both readers (ours with
/// `--consumer-property`, kcat with librdkafka's names for the same settings) read back over TLS
/// and agree that every committed request is there exactly once.
async fn load_check_reads_back_over_ssl(broker: &Broker) {
    let addr = broker.addr(0);
    let topic = unique_name("wire-tls-load");
    create_topic(&broker.addr(4), &topic, 3).await.unwrap();
    let properties = broker.kafkatx_properties();
    let gateway = start_tls_gateway(tls_gateway_settings(&addr, properties.clone()), &topic).await;
    let http = gateway.addr;
    let args = LoadArgs {
        url: format!("http://{http}"),
        concurrency: 8,
        requests: Some(40),
        duration: None,
        endpoint: Endpoint::Errors,
        topic: Some(topic.clone()),
        records_per_request: 2,
        timeout_ms: 30_000,
        check: true,
        bootstrap_server: addr.clone(),
        consumer_properties: properties,
        kcat: "kcat".to_owned(),
        settle_ms: 200,
        run_id: None,
        idempotency_retries: None,
        json: false,
        ca: None,
        campaign: Default::default(),
    };
    let report = execute(&args).await.unwrap();
    gateway.stop().await;
    assert_eq!(report.summary.committed, 40, "{report}");
    let check = report.check.as_ref().unwrap();
    assert!(check.passed(), "{report}");
    for verdict in [&check.kafkatx_reader, &check.kcat_reader] {
        assert_eq!(verdict.committed_ok, 40, "{report}");
    }
}

async fn every_mechanism_authenticates_over_tls_with_a_client_certificate(broker: &Broker) {
    let tls = TlsSettings {
        ca_location: Some(broker.cert("ca.crt").into()),
        certificate_location: Some(broker.cert("client.crt").into()),
        key_location: Some(broker.cert("client.key").into()),
        verify_hostname: true,
    }
    .build()
    .unwrap();
    for mechanism in SaslMechanism::ALL {
        let options = ConnectOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            sasl: Some(SaslCredentials::new(mechanism, USER, PASSWORD).unwrap()),
            tls: Some(tls.clone()),
            ..ConnectOptions::default()
        };
        let conn = Connection::connect(&broker.addr(0), options)
            .await
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        let (_, metadata) = conn
            .send_negotiated(&MetadataRequest::default(), None)
            .await
            .unwrap();
        assert_eq!(metadata.brokers.len(), 1, "{mechanism}");
        assert!(conn.session_lifetime().is_some(), "{mechanism}");
    }
    // The same through the producer's settings: the PEM key store (key and chain in one file).
    let config = builder(&broker.addr(0), &broker.kafkatx_properties())
        .transactional_id(unique_name("wire-mtls-txn"))
        .build()
        .unwrap();
    let producer = TransactionalProducer::new(config).await.unwrap();
    producer.init_transactions().await.unwrap();
    producer.close().await.unwrap();
}

async fn without_a_client_certificate_the_broker_refuses(broker: &Broker) {
    let properties: Vec<(String, String)> = broker
        .kafkatx_properties()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("ssl.keystore"))
        .collect();
    let error = Connection::connect(&broker.addr(0), connect_options(&properties))
        .await
        .unwrap_err();
    assert!(matches!(error, WireError::Tls(_)), "{error:?}");
    assert!(
        error.to_string().contains("ssl.keystore.location"),
        "{error}"
    );
    assert_fatal_fast(
        "no client certificate",
        &broker.addr(0),
        &properties,
        &["client certificate", "ssl.keystore.location"],
    )
    .await;
}

async fn the_gateway_serves_over_sasl_ssl(broker: &Broker) {
    let topic = unique_name("wire-tls-gateway");
    create_topic(&broker.addr(4), &topic, 1).await.unwrap();
    let settings = tls_gateway_settings(&broker.addr(0), broker.kafkatx_properties());
    let gateway = start_tls_gateway(settings, &topic).await;
    let http = gateway.addr;
    let (status, body) = http_request(http, "GET", "/readyz", "").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_request(http, "GET", "/errors/tls-user", "").await;
    assert_eq!(status, 200, "{body}");
    gateway.stop().await;

    let kcat_conf = broker.dir().join("kcat.conf");
    let values = kcat_committed_values(
        &broker.addr(0),
        &topic,
        &[format!("-F{}", kcat_conf.display())],
    );
    assert_eq!(values.len(), 2, "{values:?}");
    assert!(
        values.iter().all(|v| v.ends_with("usr: tls-user")),
        "{values:?}"
    );

    // Refused by the broker (no client certificate): the gateway is not ready.
    let properties: Vec<(String, String)> = broker
        .kafkatx_properties()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("ssl.keystore"))
        .collect();
    let gateway =
        start_tls_gateway(tls_gateway_settings(&broker.addr(0), properties), &topic).await;
    let http = gateway.addr;
    let (status, body) = http_request(http, "GET", "/readyz", "").await;
    assert_eq!(status, 503, "{body}");
    gateway.stop().await;
}

fn tls_gateway_settings(addr: &str, producer_properties: Vec<(String, String)>) -> KafkaSettings {
    KafkaSettings {
        lease_timeout: Duration::from_secs(5),
        transaction_timeout: Duration::from_secs(30),
        producer_properties,
        ..gateway_settings(addr, &unique_name("wire-tls-gw"))
    }
}

/// The gateway on `settings`, its pair endpoints writing to `errors_topic`.
async fn start_tls_gateway(settings: KafkaSettings, errors_topic: &str) -> TestGateway {
    let backend = Arc::new(kafka::connect(settings).await.unwrap());
    let config = ServerConfig {
        errors_topic: errors_topic.to_owned(),
        ..ServerConfig::default()
    };
    start_gateway(backend, config).await
}

/// One HTTP/1.1 request on a fresh connection: status and body.
async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// The values kcat reads from `topic` with read_committed, sorted; `extra` are kcat arguments
/// (`-F file`) or `-X` settings.
fn kcat_committed_values(addr: &str, topic: &str, extra: &[String]) -> Vec<String> {
    let mut command = Command::new("kcat");
    command
        .args(["-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q"])
        .args(["-f", "%s\\n", "-X", "isolation.level=read_committed"]);
    for arg in extra {
        if arg.starts_with('-') {
            command.arg(arg);
        } else {
            command.args(["-X", arg]);
        }
    }
    let output = command.output().expect("kcat runs (apt-get install kcat)");
    assert!(
        output.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut values: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}
