//! The gateway's Prometheus metrics and their text exposition.
//!
//! The registry is built once at start-up (the backend adds its own collectors then) and is only
//! read afterwards, so scrapes need no lock.

use std::fmt;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::backend::TxnFailure;

/// `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of the per-request metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route label (fixed set, see `Route::label`).
    pub route: &'static str,
    /// HTTP method.
    pub method: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of the transaction outcome counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// One of `committed`, `aborted`, `outcome_unknown`, `rejected`, `unavailable`,
    /// `lease_timeout`, `saturated`, `internal`.
    pub outcome: &'static str,
}

type LatencyFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// Every metric the HTTP layer updates, plus the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    transactions: Family<OutcomeLabels, Counter>,
    transactions_in_flight: Gauge,
    connections_open: Gauge,
    tls_handshake_failures: Counter,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s: a transaction takes a few ms on a local broker and seconds when degraded.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    /// Creates the gateway metrics; `register_more` lets the backend add its own before the
    /// registry is frozen.
    pub fn new(register_more: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::with_prefix("kafkatx");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let transactions = Family::<OutcomeLabels, Counter>::default();
        let transactions_in_flight = Gauge::default();
        let connections_open = Gauge::default();
        let tls_handshake_failures = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response, by route, method and status",
            latency.clone(),
        );
        registry.register(
            "transactions",
            "Transactions requested over HTTP, by outcome",
            transactions.clone(),
        );
        registry.register(
            "http_transactions_in_flight",
            "Transactions admitted and not yet finished",
            transactions_in_flight.clone(),
        );
        registry.register(
            "http_connections_open",
            "HTTP connections being served",
            connections_open.clone(),
        );
        registry.register(
            "http_tls_handshake_failures",
            "HTTPS connections whose TLS handshake failed or timed out (an untrusted or missing \
             client certificate, a client that does not trust ours, plain HTTP to the port)",
            tls_handshake_failures.clone(),
        );
        register_more(&mut registry);
        Self {
            registry,
            requests,
            latency,
            transactions,
            transactions_in_flight,
            connections_open,
            tls_handshake_failures,
        }
    }

    /// Counts one answered request and its latency.
    pub fn observe_request(&self, labels: RequestLabels, seconds: f64) {
        self.latency.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts one transaction outcome.
    pub fn observe_transaction(&self, result: Result<(), &TxnFailure>) {
        let outcome = match result {
            Ok(()) => "committed",
            Err(TxnFailure::Invalid(_)) => "rejected",
            Err(TxnFailure::UnknownTopic(_)) => "unknown_topic",
            Err(TxnFailure::Saturated) => "saturated",
            Err(TxnFailure::LeaseTimeout) => "lease_timeout",
            Err(TxnFailure::Unavailable(_)) => "unavailable",
            Err(TxnFailure::Aborted(_)) => "aborted",
            Err(TxnFailure::OutcomeUnknown(_)) => "outcome_unknown",
            Err(TxnFailure::KeyReused) => "key_reused",
            Err(TxnFailure::InProgress) => "in_progress",
        };
        self.count_outcome(outcome);
    }

    /// Counts a transaction whose task died without an answer.
    pub fn observe_internal_failure(&self) {
        self.count_outcome("internal");
    }

    fn count_outcome(&self, outcome: &'static str) {
        self.transactions
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Gauge of admitted transactions.
    pub fn transactions_in_flight(&self) -> &Gauge {
        &self.transactions_in_flight
    }

    /// Gauge of open connections.
    pub fn connections_open(&self) -> &Gauge {
        &self.connections_open
    }

    /// Counts one failed TLS handshake.
    pub fn observe_tls_handshake_failure(&self) {
        self.tls_handshake_failures.inc();
    }

    /// Renders every metric in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
