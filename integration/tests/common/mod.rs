//! What the gateway's tests against real brokers share: their settings and a gateway to serve
//! them (each test binary that needs it declares `mod common;`).

// Each test binary uses part of this module; a failed unwrap in test code is a failed test.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::backend::kafka::KafkaSettings;
use kafkatx_server::http::tls::ServerTls;
use kafkatx_server::{Backend, ServerConfig};
use kafkatx_wire::compression::Compression;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Kafka settings of a test gateway before a test changes what it is about (with
/// `KafkaSettings { .., ..gateway_settings(..) }`): one producer, one request per transaction,
/// no compression, topics never auto-created.
pub fn gateway_settings(bootstrap: &str, instance_id: &str) -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: vec![bootstrap.to_owned()],
        pool_size: 1,
        instance_id: instance_id.to_owned(),
        transactional_id_prefix: "kafkatx".to_owned(),
        compression: Compression::None,
        lease_timeout: Duration::from_secs(30),
        transaction_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(10),
        delivery_timeout: Duration::from_secs(20),
        producer_properties: Vec::new(),
        max_pending_transactions: 16,
        max_requests_per_transaction: 1,
        allow_auto_create_topics: false,
    }
}

/// A gateway serving on 127.0.0.1, on a port the system picked, until [`stop`](Self::stop) or
/// until it is dropped (either begins the graceful shutdown).
pub struct TestGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl TestGateway {
    /// Its base URL, `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts it down gracefully and waits until `run` returned (connections drained, the
    /// backend closed).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// Serves `backend` over HTTP with `config` (`kafkatx_server::run`).
pub async fn start_gateway<B: Backend>(backend: Arc<B>, config: ServerConfig) -> TestGateway {
    start_gateway_with_tls(backend, config, None).await
}

/// Serves `backend` with `config`, over HTTPS when `tls` is given (`kafkatx_server::run_with_tls`).
pub async fn start_gateway_with_tls<B: Backend>(
    backend: Arc<B>,
    config: ServerConfig,
    tls: Option<ServerTls>,
) -> TestGateway {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(kafkatx_server::run_with_tls(
        listener,
        tls,
        backend,
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    TestGateway { addr, stop, task }
}
