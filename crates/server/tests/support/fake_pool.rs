//! The pool's scripted fake producer (`kafkatx_pool::testing`, the one the pool's own tests use)
//! as the gateway sees it, on a real `kafkatx-pool`: the same lifecycle (epochs, fencing,
//! scripted begin/commit/abort, events), plus what only the gateway needs, records: scripted
//! send failures, held sends, a poison value, a record of every send, and commit failures of
//! the gateway's kinds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafkatx_pool::testing::{self, FakeCluster};
use kafkatx_pool::{Health, Pool, PoolConfig, ProducerFactory, TxnProducer};
use kafkatx_server::backend::pool::{FailureKind, PoolBackend, RecordSink, Stage};
use kafkatx_server::backend::probe::ClusterProbe;
use kafkatx_server::{OutRecord, Placed};
use tokio::sync::Notify;

/// An error of the fake: one the gateway's script asked for, or one of the lifecycle.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FakeError {
    #[error("fake {0:?} failure")]
    Scripted(FailureKind),
    #[error(transparent)]
    Lifecycle(testing::FakeError),
}

impl FakeError {
    /// What the gateway makes of it, as `RecordSink::failure_kind` does for the real producer.
    fn kind(&self) -> FailureKind {
        match self {
            FakeError::Scripted(kind) => *kind,
            FakeError::Lifecycle(error) => match error {
                testing::FakeError::Abortable | testing::FakeError::NoTransaction => {
                    FailureKind::Aborted
                }
                testing::FakeError::OutcomeUnknown => FailureKind::OutcomeUnknown,
                testing::FakeError::Fenced
                | testing::FakeError::Fatal
                | testing::FakeError::Closed
                | testing::FakeError::CreateFailed => FailureKind::Unavailable,
            },
        }
    }
}

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
    /// The lifecycle's cluster: epochs, begin/commit/abort scripts, events.
    pub cluster: Arc<FakeCluster>,
    /// Makes every producer creation fail, like an unreachable cluster.
    pub refuse_create: AtomicBool,
    pub release: Notify,
    pub next_offset: AtomicI64,
    /// Records per `send` call, in call order.
    pub sends: Mutex<Vec<usize>>,
    /// Sends waiting on `hold_sends`.
    pub held: AtomicUsize,
}

#[derive(Debug)]
pub struct FakeProducer {
    lifecycle: testing::FakeProducer,
    shared: Arc<Shared>,
    /// Records sent in the open transaction.
    in_transaction: AtomicUsize,
}

impl TxnProducer for FakeProducer {
    type Error = FakeError;

    async fn begin(&self) -> Result<(), FakeError> {
        self.in_transaction.store(0, Ordering::SeqCst);
        self.lifecycle.begin().await.map_err(FakeError::Lifecycle)
    }

    async fn commit(&self) -> Result<(), FakeError> {
        let scripted = {
            let mut script = self.shared.script.lock().unwrap();
            let shared_failure = script
                .shared_commit_failure
                .filter(|_| self.in_transaction.load(Ordering::SeqCst) > 2);
            shared_failure.or_else(|| script.commit_failures.pop_front())
        };
        if let Some(kind) = scripted {
            return Err(FakeError::Scripted(kind));
        }
        self.lifecycle.commit().await.map_err(FakeError::Lifecycle)
    }

    async fn abort(&self) -> Result<(), FakeError> {
        self.lifecycle.abort().await.map_err(FakeError::Lifecycle)
    }

    async fn close(&self) {
        self.lifecycle.close().await;
    }

    fn health(&self) -> Health {
        self.lifecycle.health()
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
            return Err(FakeError::Scripted(FailureKind::Invalid));
        }
        if let Some(kind) = failure {
            return Err(FakeError::Scripted(kind));
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
        error.kind()
    }
}

#[derive(Debug)]
pub struct FakeFactory {
    pub shared: Arc<Shared>,
    lifecycle: testing::FakeFactory,
}

impl FakeFactory {
    pub fn new(shared: Arc<Shared>) -> Self {
        let lifecycle = testing::FakeFactory {
            cluster: Arc::clone(&shared.cluster),
        };
        Self { shared, lifecycle }
    }
}

impl ProducerFactory for FakeFactory {
    type Producer = FakeProducer;

    async fn create(&self, transactional_id: &str) -> Result<FakeProducer, FakeError> {
        if self.shared.refuse_create.load(Ordering::SeqCst) {
            return Err(FakeError::Scripted(FailureKind::Unavailable));
        }
        let lifecycle = self
            .lifecycle
            .create(transactional_id)
            .await
            .map_err(FakeError::Lifecycle)?;
        Ok(FakeProducer {
            lifecycle,
            shared: Arc::clone(&self.shared),
            in_transaction: AtomicUsize::new(0),
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
    let factory = FakeFactory::new(Arc::clone(&shared));
    let pool = Pool::new(config, factory).await.unwrap();
    (PoolBackend::new(pool, FakeProbe(probe)), shared)
}

/// A backend whose requests share transactions, up to `max_requests` each.
pub async fn grouped_backend(
    config: PoolConfig,
    max_requests: usize,
) -> (TestBackend, Arc<Shared>) {
    let shared = Arc::new(Shared::default());
    let factory = FakeFactory::new(Arc::clone(&shared));
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
