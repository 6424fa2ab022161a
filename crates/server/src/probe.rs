//! Whether the Kafka cluster is reachable, for `/readyz`.

use std::future::Future;
use std::time::Duration;

use kafkatx_wire::{ConnectOptions, Connection, SaslCredentials};

/// Answers whether the cluster can be reached now.
pub trait ClusterProbe: Send + Sync + 'static {
    /// `Ok` if a broker answered; `Err` with the reason otherwise.
    fn reachable(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Probes by opening a connection (TCP + ApiVersions) to the bootstrap brokers in turn.
#[derive(Debug, Clone)]
pub struct BootstrapProbe {
    servers: Vec<String>,
    options: ConnectOptions,
}

impl BootstrapProbe {
    /// A probe of `servers` that gives up on each after `timeout`.
    pub fn new(servers: Vec<String>, timeout: Duration) -> Self {
        let options = ConnectOptions {
            client_id: "kafkatx-readiness".to_owned(),
            connect_timeout: timeout,
            request_timeout: timeout,
            ..ConnectOptions::default()
        };
        Self { servers, options }
    }

    /// Authenticates like the producers do, so that a SASL-only cluster counts as reachable
    /// (and one that refuses the credentials does not).
    pub fn with_sasl(mut self, sasl: Option<SaslCredentials>) -> Self {
        self.options.sasl = sasl;
        self
    }
}

impl ClusterProbe for BootstrapProbe {
    async fn reachable(&self) -> Result<(), String> {
        let mut failures = Vec::new();
        for server in &self.servers {
            match Connection::connect(server, self.options.clone()).await {
                Ok(_connection) => return Ok(()),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        if failures.is_empty() {
            Err("no bootstrap servers configured".to_owned())
        } else {
            Err(failures.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_named_in_the_reason() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let probe = BootstrapProbe::new(vec![addr.clone()], Duration::from_millis(500));
        let reason = probe.reachable().await.unwrap_err();
        assert!(reason.contains(&addr), "{reason}");
    }

    #[tokio::test]
    async fn no_servers_is_unreachable() {
        let probe = BootstrapProbe::new(Vec::new(), Duration::from_millis(500));
        assert!(probe.reachable().await.is_err());
    }
}
