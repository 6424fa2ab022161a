//! A fake transactional producer on a real `kafkatx-pool`: scripted send and commit failures,
//! held sends, a poison value, and a record of every send.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafkatx_pool::{Health, Pool, PoolConfig, ProducerFactory, TxnProducer};
use kafkatx_server::backend::pool::{FailureKind, PoolBackend, RecordSink, Stage};
use kafkatx_server::backend::probe::ClusterProbe;
use kafkatx_server::{OutRecord, Placed};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct FakeError {
    pub kind: FailureKind,
}

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fake {:?} failure", self.kind)
    }
}

impl std::error::Error for FakeError {}

/// What the next send or commit does.
#[derive(Debug, Default)]
pub struct Script {
    pub send_failures: VecDeque<FailureKind>,
    pub commit_failures: VecDeque<FailureKind>,
    pub hold_sends: bool,
    /// A send that carries a record with this value fails as `Invalid`: one request's fault.
    pub poison: Option<Bytes>,
    /// Every commit of a transaction holding more than two records (a shared one) fails so.
    pub shared_commit_failure: Option<FailureKind>,
}

#[derive(Debug, Default)]
pub struct Shared {
    pub script: Mutex<Script>,
    /// Makes every producer creation fail, like an unreachable cluster.
    pub refuse_create: std::sync::atomic::AtomicBool,
    pub release: Notify,
    pub next_offset: AtomicI64,
    /// Records per `send` call, in call order.
    pub sends: Mutex<Vec<usize>>,
    /// Sends waiting on `hold_sends`.
    pub held: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
pub struct FakeProducer {
    shared: Arc<Shared>,
    /// Records sent in the open transaction.
    in_transaction: std::sync::atomic::AtomicUsize,
}

impl TxnProducer for FakeProducer {
    type Error = FakeError;

    async fn begin(&self) -> Result<(), FakeError> {
        self.in_transaction.store(0, Ordering::SeqCst);
        Ok(())
    }

    async fn commit(&self) -> Result<(), FakeError> {
        let mut script = self.shared.script.lock().unwrap();
        if self.in_transaction.load(Ordering::SeqCst) > 2 {
            if let Some(kind) = script.shared_commit_failure {
                return Err(FakeError { kind });
            }
        }
        match script.commit_failures.pop_front() {
            Some(kind) => Err(FakeError { kind }),
            None => Ok(()),
        }
    }

    async fn abort(&self) -> Result<(), FakeError> {
        Ok(())
    }

    async fn close(&self) {}

    fn health(&self) -> Health {
        Health::Ready
    }
}

impl RecordSink for FakeProducer {
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<Placed>, FakeError> {
        self.shared.sends.lock().unwrap().push(records.len());
        self.in_transaction
            .fetch_add(records.len(), Ordering::SeqCst);
        let (failure, hold, poisoned) = {
            let mut script = self.shared.script.lock().unwrap();
            let poisoned = script
                .poison
                .as_ref()
                .is_some_and(|p| records.iter().any(|r| r.value.as_ref() == Some(p)));
            (
                script.send_failures.pop_front(),
                script.hold_sends,
                poisoned,
            )
        };
        if hold {
            self.shared.held.fetch_add(1, Ordering::SeqCst);
            self.shared.release.notified().await;
            self.shared.held.fetch_sub(1, Ordering::SeqCst);
        }
        if poisoned {
            return Err(FakeError {
                kind: FailureKind::Invalid,
            });
        }
        if let Some(kind) = failure {
            return Err(FakeError { kind });
        }
        Ok(records
            .into_iter()
            .map(|r| Placed {
                topic: r.topic,
                partition: 0,
                offset: self.shared.next_offset.fetch_add(1, Ordering::SeqCst),
            })
            .collect())
    }

    fn failure_kind(error: &FakeError, _stage: Stage) -> FailureKind {
        error.kind
    }
}

#[derive(Debug)]
pub struct FakeFactory {
    pub shared: Arc<Shared>,
}

impl ProducerFactory for FakeFactory {
    type Producer = FakeProducer;

    async fn create(&self, _transactional_id: &str) -> Result<FakeProducer, FakeError> {
        if self.shared.refuse_create.load(Ordering::SeqCst) {
            return Err(FakeError {
                kind: FailureKind::Unavailable,
            });
        }
        Ok(FakeProducer {
            shared: Arc::clone(&self.shared),
            in_transaction: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

#[derive(Debug)]
pub struct FakeProbe(pub Result<(), String>);

impl ClusterProbe for FakeProbe {
    async fn reachable(&self) -> Result<(), String> {
        self.0.clone()
    }
}

pub type TestBackend = PoolBackend<FakeFactory, FakeProbe>;

pub async fn backend_with(
    config: PoolConfig,
    probe: Result<(), String>,
) -> (TestBackend, Arc<Shared>) {
    backend_on(Arc::new(Shared::default()), config, probe).await
}

pub async fn backend_on(
    shared: Arc<Shared>,
    config: PoolConfig,
    probe: Result<(), String>,
) -> (TestBackend, Arc<Shared>) {
    let factory = FakeFactory {
        shared: Arc::clone(&shared),
    };
    let pool = Pool::new(config, factory).await.unwrap();
    (PoolBackend::new(pool, FakeProbe(probe)), shared)
}

/// A backend whose requests share transactions, up to `max_requests` each.
pub async fn grouped_backend(
    config: PoolConfig,
    max_requests: usize,
) -> (TestBackend, Arc<Shared>) {
    let shared = Arc::new(Shared::default());
    let factory = FakeFactory {
        shared: Arc::clone(&shared),
    };
    let pool = Pool::new(config, factory).await.unwrap();
    (
        PoolBackend::with_group_commit(pool, FakeProbe(Ok(())), max_requests),
        shared,
    )
}

/// Two records with `value` and `value` + "'" to topic `t`.
pub fn records_of(
    value: &str,
) -> impl Fn(&kafkatx_server::ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static {
    records_to("t", value)
}

/// Two records with `value` and `value` + "'" to `topic`.
pub fn records_to(
    topic: &str,
    value: &str,
) -> impl Fn(&kafkatx_server::ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static {
    let value = value.to_owned();
    let topic = topic.to_owned();
    move |_| {
        [value.clone(), format!("{value}'")]
            .into_iter()
            .map(|v| OutRecord {
                topic: topic.clone(),
                partition: None,
                key: None,
                value: Some(Bytes::from(v)),
                headers: Vec::new(),
                timestamp_ms: None,
            })
            .collect()
    }
}

pub fn small_pool() -> PoolConfig {
    PoolConfig {
        size: 1,
        instance_id: "test".to_owned(),
        lease_timeout: Duration::from_millis(100),
        ..PoolConfig::default()
    }
}

pub fn two_records()
-> impl Fn(&kafkatx_server::ProducerInfo) -> Vec<OutRecord> + Send + Sync + 'static {
    |producer| {
        ["a", "b"]
            .into_iter()
            .map(|v| OutRecord {
                topic: "t".to_owned(),
                partition: None,
                key: None,
                value: Some(Bytes::from(format!("{v} by {}", producer.transactional_id))),
                headers: Vec::new(),
                timestamp_ms: None,
            })
            .collect()
    }
}

/// The backend's metrics as Prometheus text, parsed: a lookup of a sample's value by name.
pub fn scrape(backend: &TestBackend) -> impl Fn(&str) -> Option<f64> {
    let mut registry = prometheus_client::registry::Registry::with_prefix("kafkatx");
    kafkatx_server::Backend::register_metrics(backend, &mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let samples = super::parse_exposition(&text);
    move |name: &str| {
        samples
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
    }
}
