//! Test support: a scripted fake backend, an embedded server and a raw HTTP/1.1 client.

#![allow(dead_code)]
// each test binary uses a different subset
// Test helpers outside `#[test]` fns: failing loudly on a broken expectation is their job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod certs;
pub mod fake_pool;
pub mod https;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kafkatx_server::{
    Backend, Committed, MetadataError, OutRecord, PartitionInfo, Placed, ProducerInfo, Readiness,
    ServerConfig, TopicInfo, TxnFailure,
};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The transactional id the fake reports.
pub const FAKE_TXN_ID: &str = "fake-txn-1";

/// What the fake does with the next transaction.
#[derive(Debug, Clone)]
pub enum Behaviour {
    Commit,
    Fail(TxnFailure),
    /// Signals `entered`, waits for `release`, then commits.
    Hold,
    /// Panics inside the transaction, like a backend bug would.
    Panic,
}

#[derive(Debug)]
pub struct FakeBackend {
    script: Mutex<VecDeque<Behaviour>>,
    pub seen: Mutex<Vec<Vec<OutRecord>>>,
    pub readiness: Mutex<Readiness>,
    pub entered: Notify,
    pub release: Notify,
    pub completed: AtomicUsize,
    pub closed: AtomicBool,
    /// What `topics` answers; `Err` plays a cluster that cannot be reached.
    pub cluster_topics: Mutex<Result<Vec<TopicInfo>, MetadataError>>,
    next_offset: AtomicI64,
}

/// A topic of the fake cluster with `partitions` partitions led by broker 1.
pub fn fake_topic(name: &str, partitions: i32) -> TopicInfo {
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

impl FakeBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
            readiness: Mutex::new(Readiness {
                producers_ready: 5,
                cluster_reachable: true,
                detail: None,
            }),
            entered: Notify::new(),
            release: Notify::new(),
            completed: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            cluster_topics: Mutex::new(Ok(vec![fake_topic("orders", 3), fake_topic("audit", 1)])),
            next_offset: AtomicI64::new(100),
        })
    }

    pub fn then(&self, behaviour: Behaviour) {
        self.script.lock().unwrap().push_back(behaviour);
    }

    pub fn seen(&self) -> Vec<Vec<OutRecord>> {
        self.seen.lock().unwrap().clone()
    }
}

impl Backend for FakeBackend {
    async fn transact<F>(&self, build: F) -> Result<Committed, TxnFailure>
    where
        F: Fn(&ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static,
    {
        let behaviour = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Behaviour::Commit);
        let records = build(&ProducerInfo {
            transactional_id: FAKE_TXN_ID.to_owned(),
        });
        self.seen.lock().unwrap().push(records.clone());
        match behaviour {
            Behaviour::Commit => {}
            Behaviour::Fail(failure) => return Err(failure),
            Behaviour::Hold => {
                self.entered.notify_one();
                self.release.notified().await;
            }
            Behaviour::Panic => panic!("backend bug"),
        }
        let placed = records
            .into_iter()
            .map(|r| Placed {
                partition: r.partition.unwrap_or(0),
                topic: r.topic,
                offset: self.next_offset.fetch_add(1, Ordering::SeqCst),
            })
            .collect();
        self.completed.fetch_add(1, Ordering::SeqCst);
        Ok(Committed {
            transactional_id: FAKE_TXN_ID.to_owned(),
            placed,
        })
    }

    async fn ready(&self) -> Readiness {
        self.readiness.lock().unwrap().clone()
    }

    async fn topics(&self, topic: Option<String>) -> Result<Vec<TopicInfo>, MetadataError> {
        let all = self.cluster_topics.lock().unwrap().clone()?;
        Ok(all
            .into_iter()
            .filter(|t| topic.as_ref().is_none_or(|wanted| *wanted == t.name))
            .collect())
    }

    fn register_metrics(&self, registry: &mut Registry) {
        let idle = Gauge::<i64>::default();
        idle.set(5);
        registry.register("pool_producers_idle", "Idle producers", idle);
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// A server running on 127.0.0.1:0.
pub struct TestServer {
    pub addr: SocketAddr,
    pub backend: Arc<FakeBackend>,
    shutdown: Option<oneshot::Sender<()>>,
    pub done: JoinHandle<()>,
}

impl TestServer {
    pub fn shutdown(&mut self) {
        if let Some(trigger) = self.shutdown.take() {
            let _ = trigger.send(());
        }
    }
}

pub async fn start_server() -> TestServer {
    start_server_with(ServerConfig::default()).await
}

pub async fn start_server_with(config: ServerConfig) -> TestServer {
    start_server_on(FakeBackend::new(), config).await
}

pub async fn start_server_on(backend: Arc<FakeBackend>, config: ServerConfig) -> TestServer {
    start_server_tls(backend, config, None).await
}

/// A server on 127.0.0.1:0, serving HTTPS when `tls` is given.
pub async fn start_server_tls(
    backend: Arc<FakeBackend>,
    config: ServerConfig,
    tls: Option<kafkatx_server::http::tls::ServerTls>,
) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, signal) = oneshot::channel::<()>();
    let done = tokio::spawn(kafkatx_server::run_with_tls(
        listener,
        tls,
        Arc::clone(&backend),
        config,
        async move {
            let _ = signal.await;
        },
    ));
    TestServer {
        addr,
        backend,
        shutdown: Some(trigger),
        done,
    }
}

/// A name no other test or earlier run uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{nanos}-{n}", std::process::id())
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// Checks the stable error shape and returns its code.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].is_string(), "no message in {json}");
        assert!(error["outcome"].is_string(), "no outcome in {json}");
        error["code"].as_str().unwrap().to_owned()
    }
}

/// Sends raw bytes, reads until the server closes, parses the response.
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_response(&mut stream).await
}

pub async fn read_response(stream: &mut TcpStream) -> HttpResponse {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    send_raw(addr, request.as_bytes()).await
}

pub fn post_request(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends one request with exactly these headers (plus Host, Connection: close and, with a body,
/// Content-Length).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(addr, &bytes).await
}

pub async fn post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    send_raw(addr, post_request(path, body).as_bytes()).await
}

/// Parses OpenMetrics/Prometheus text into (name, labels, value), rejecting any malformed line.
pub fn parse_exposition(text: &str) -> Vec<(String, String, f64)> {
    assert_eq!(text.lines().last(), Some("# EOF"));
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with("# ") {
            let kind = line.split(' ').nth(1).unwrap();
            assert!(
                ["TYPE", "HELP", "UNIT", "EOF"].contains(&kind),
                "bad comment {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("unclosed labels")),
            None => (series, ""),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name {name:?}"
        );
        samples.push((name.to_owned(), labels.to_owned(), value));
    }
    samples
}

/// `bytes` as one gzip member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
