//! Sends one fuzzed HTTP/1.1 request to a real gateway (hyper, routing, CORS, authentication,
//! body reading, gzip, JSON and record validation, the handlers) over loopback, and requires an
//! answer: a panic anywhere in the server aborts the process (libFuzzer's panic hook), and a
//! request that gets no answer within 10 s fails the target.
//!
//! The gateway runs on an in-memory backend that commits every transaction at once, so
//! everything up to the Kafka producer is exercised. Two gateways: one open (CORS on for one
//! origin), one that requires API keys with per-topic rights. Inputs are mostly well-formed
//! requests built from structured data, so the fuzzer reaches past the HTTP parser; some are sent
//! as raw bytes so the parser itself is fuzzed too.

#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use kafkatx_server::http::auth::{AccessList, SharedAccess};
use kafkatx_server::backend::Once;
use kafkatx_server::backend::idempotency::IdempotentRequest;
use kafkatx_server::{
    Backend, Committed, MetadataError, OutRecord, PartitionInfo, Placed, ProducerInfo, Readiness,
    ServerConfig, TopicInfo, TxnFailure,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// The API key the secured gateway knows (topics `orders` and `audit-*`, and metrics).
const KEY: &str = "fuzz-key-0123456789";
const ORIGIN: &str = "https://app.example";
/// Longest time a request may go unanswered.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Commits everything at once, with offsets counting up; knows two topics.
struct InstantBackend;

fn topic(name: &str, partitions: i32) -> TopicInfo {
    TopicInfo {
        name: name.to_owned(),
        partitions: (0..partitions)
            .map(|partition| PartitionInfo {
                partition,
                leader: 1,
                replicas: vec![1],
                in_sync_replicas: vec![1],
            })
            .collect(),
    }
}

fn commit(records: Vec<OutRecord>) -> Committed {
    Committed {
        transactional_id: "fuzz-0".to_owned(),
        placed: records
            .into_iter()
            .enumerate()
            .map(|(i, r)| Placed {
                partition: r.partition.unwrap_or(0),
                topic: r.topic,
                offset: i64::try_from(i).unwrap_or(i64::MAX),
            })
            .collect(),
    }
}

impl Backend for InstantBackend {
    async fn transact<F>(&self, build: F) -> Result<Committed, TxnFailure>
    where
        F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
    {
        Ok(commit(build(&ProducerInfo {
            transactional_id: "fuzz-0".to_owned(),
        })))
    }

    async fn transact_once<F>(&self, _request: IdempotentRequest, build: F) -> Result<Once, TxnFailure>
    where
        F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
    {
        Ok(Once::Ran(self.transact(build).await?))
    }

    async fn topics(&self, wanted: Option<String>) -> Result<Vec<TopicInfo>, MetadataError> {
        Ok([topic("orders", 3), topic("audit-log", 1)]
            .into_iter()
            .filter(|t| wanted.as_ref().is_none_or(|w| *w == t.name))
            .collect())
    }

    async fn ready(&self) -> Readiness {
        Readiness {
            producers_ready: 1,
            cluster_reachable: true,
            detail: None,
        }
    }

    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}

    async fn close(&self) {}
}

/// The two gateways, started once for the whole fuzzing run: (open, secured).
static GATEWAYS: LazyLock<(SocketAddr, SocketAddr)> = LazyLock::new(|| {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let open_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let secured_listener =
                tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addrs = (
                open_listener.local_addr().expect("addr"),
                secured_listener.local_addr().expect("addr"),
            );
            let open = ServerConfig {
                cors_origins: vec![ORIGIN.to_owned()],
                header_read_timeout: Duration::from_secs(2),
                body_read_timeout: Duration::from_secs(2),
                ..ServerConfig::default()
            };
            let file = format!(
                "{}  fuzzer  topics=orders,audit-* metrics\n",
                kafkatx_server::http::auth::KeyHash::of(KEY.as_bytes())
            );
            let list = AccessList::parse(&file, "fuzz.keys").expect("access file");
            let secured = ServerConfig {
                access: Some(Arc::new(SharedAccess::fixed(list))),
                metrics_require_key: true,
                ..open.clone()
            };
            tx.send(addrs).expect("send");
            let never = std::future::pending::<()>;
            tokio::join!(
                kafkatx_server::run(open_listener, Arc::new(InstantBackend), open, never()),
                kafkatx_server::run(secured_listener, Arc::new(InstantBackend), secured, never()),
            );
        });
    });
    rx.recv().expect("gateways started")
});

const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"];
const PATHS: [&str; 10] = [
    "/v1/topics/orders/records",
    "/v1/transactions",
    "/errors/",
    "/warnings/",
    "/v1/topics/",
    "/v1/topics",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];
const HEADER_NAMES: [&str; 12] = [
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "idempotency-key",
    "authorization",
    "origin",
    "x-request-id",
    "access-control-request-method",
    "access-control-request-headers",
    "accept",
    "expect",
];

#[derive(Arbitrary, Debug)]
enum Field {
    Null,
    Text(String),
    Number(i64),
    Float(f64),
    Bool(bool),
    List(Vec<i64>),
}

impl Field {
    fn json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Text(text) => json!(text),
            Self::Number(n) => json!(n),
            Self::Float(x) => json!(x),
            Self::Bool(b) => json!(b),
            Self::List(items) => json!(items),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Record {
    topic: Option<Field>,
    partition: Option<Field>,
    key: Option<Field>,
    value: Option<Field>,
    key_base64: Option<bool>,
    value_base64: Option<bool>,
    timestamp: Option<Field>,
    headers: Vec<(String, Field, bool)>,
    unknown_field: bool,
}

impl Record {
    fn json(&self) -> Value {
        let mut record = serde_json::Map::new();
        let mut put = |name: &str, field: &Option<Field>| {
            if let Some(field) = field {
                record.insert(name.to_owned(), field.json());
            }
        };
        put("topic", &self.topic);
        put("partition", &self.partition);
        put("key", &self.key);
        put("value", &self.value);
        put("timestamp", &self.timestamp);
        let encoding = |base64: bool| json!(if base64 { "base64" } else { "json" });
        if let Some(base64) = self.key_base64 {
            record.insert("key_encoding".to_owned(), encoding(base64));
        }
        if let Some(base64) = self.value_base64 {
            record.insert("value_encoding".to_owned(), encoding(base64));
        }
        if !self.headers.is_empty() {
            let headers = self
                .headers
                .iter()
                .map(|(key, value, base64)| {
                    json!({"key": key, "value": value.json(), "value_encoding": encoding(*base64)})
                })
                .collect();
            record.insert("headers".to_owned(), Value::Array(headers));
        }
        if self.unknown_field {
            record.insert("surprise".to_owned(), json!(1));
        }
        Value::Object(record)
    }
}

#[derive(Arbitrary, Debug)]
enum Body {
    None,
    Raw(Vec<u8>),
    Records(Vec<Record>),
    /// A JSON value that is not the expected object.
    Other(Field),
}

#[derive(Arbitrary, Debug)]
struct Request {
    secured: bool,
    /// Send `raw` as the whole request instead of building one.
    send_raw: bool,
    raw: Vec<u8>,
    method: u8,
    path: u8,
    path_tail: String,
    query: Option<String>,
    /// Header name (an index into HEADER_NAMES, or a made-up name) and value.
    headers: Vec<(u8, String)>,
    with_key: bool,
    json_content_type: bool,
    gzip: bool,
    body: Body,
}

/// Keeps the characters a request target may carry, so the request reaches the router.
fn target_text(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '#' | '?'))
        .take(300)
        .collect()
}

/// A header value without the bytes that would end the line.
fn header_value(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .take(300)
        .collect()
}

impl Request {
    fn bytes(&self) -> Vec<u8> {
        if self.send_raw {
            return self.raw.clone();
        }
        let method = METHODS[usize::from(self.method) % METHODS.len()];
        let mut target = PATHS[usize::from(self.path) % PATHS.len()].to_owned();
        target.push_str(&target_text(&self.path_tail));
        if let Some(query) = &self.query {
            target.push('?');
            target.push_str(&target_text(query));
        }
        let mut body = match &self.body {
            Body::None => Vec::new(),
            Body::Raw(bytes) => bytes.clone(),
            Body::Records(records) => {
                let records: Vec<Value> = records.iter().map(Record::json).collect();
                json!({ "records": records }).to_string().into_bytes()
            }
            Body::Other(field) => field.json().to_string().into_bytes(),
        };
        let mut head = format!("{method} {target} HTTP/1.1\r\nhost: fuzz\r\nconnection: close\r\n");
        if self.json_content_type {
            head.push_str("content-type: application/json\r\n");
        }
        if self.with_key {
            head.push_str(&format!("authorization: Bearer {KEY}\r\n"));
        }
        if self.gzip {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            if encoder.write_all(&body).is_ok() {
                if let Ok(compressed) = encoder.finish() {
                    body = compressed;
                    head.push_str("content-encoding: gzip\r\n");
                }
            }
        }
        let mut has_length = false;
        for (name, value) in self.headers.iter().take(16) {
            let name = HEADER_NAMES
                .get(usize::from(*name))
                .copied()
                .unwrap_or("x-fuzz");
            has_length |= name == "content-length" || name == "transfer-encoding";
            let value = if name == "origin" && value.is_empty() {
                ORIGIN.to_owned()
            } else {
                header_value(value)
            };
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !has_length {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

fuzz_target!(|request: Request| {
    let (open, secured) = *GATEWAYS;
    let addr = if request.secured { secured } else { open };
    let bytes = request.bytes();
    let mut stream = TcpStream::connect(addr).expect("connect to the gateway");
    stream
        .set_read_timeout(Some(ANSWER_WITHIN))
        .expect("read timeout");
    // The gateway may answer and close before reading everything (e.g. 413): a failed write is
    // fine, the answer is what counts.
    let _ = stream.write_all(&bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
        Err(e) => panic!("no answer from the gateway within {ANSWER_WITHIN:?}: {e}"),
    }
    // Anything it did answer is a well-formed status line.
    if !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1.1 "),
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    }
});
