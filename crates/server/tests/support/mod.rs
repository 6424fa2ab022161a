//! Test support: a scripted fake backend and an embedded server; the HTTP client, certificates
//! and names come from `kafkatx-testkit`.

#![allow(dead_code)]
// each test binary uses a different subset
// Test helpers outside `#[test]` fns: failing loudly on a broken expectation is their job.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod fake_pool;

// Each test binary uses a different part of the kit.
#[allow(unused_imports)]
pub use kafkatx_testkit::http::*;
#[allow(unused_imports)]
pub use kafkatx_testkit::{certs, https, unique_name};

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
use tokio::net::TcpListener;
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
