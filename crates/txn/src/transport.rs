//! How the driver reaches brokers, behind a trait so the driver can run against a fake.
//!
//! [`WireTransport`] is the real one, over `kafkatx-wire` connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kafkatx_wire::{
    BrokerVersions, ConnectOptions, Connection, SaslCredentials, TlsConfig, WireError,
};

#[cfg(not(feature = "test-util"))]
use crate::classify::TransportFailure;
#[cfg(not(feature = "test-util"))]
use crate::types::{Request, Response};
/// What a [`BrokerLink`] carries, for transports of tests and simulations.
#[cfg(feature = "test-util")]
pub use crate::{
    classify::TransportFailure,
    types::{Request, Response},
};

/// A boxed, sendable future.
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a connection or request failed, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
pub struct LinkError {
    /// How the machine must treat the request.
    pub failure: TransportFailure,
    /// Human-readable cause.
    pub message: String,
}

impl From<WireError> for LinkError {
    fn from(error: WireError) -> Self {
        let failure = match &error {
            WireError::UnsupportedVersion { .. } => TransportFailure::Unsupported,
            WireError::Authentication(_) => TransportFailure::AuthenticationFailed,
            // An untrusted or misnamed certificate, a refused client certificate, TLS against
            // a plaintext port: no retry fixes the configuration, so the producer fails at once
            // with the message naming the setting (Java: SslAuthenticationException is fatal).
            WireError::Tls(_) => TransportFailure::Unsupported,
            e if e.outcome_unknown() => TransportFailure::Lost,
            _ => TransportFailure::NotSent,
        };
        LinkError {
            failure,
            message: error.to_string(),
        }
    }
}

/// One established connection to a broker.
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
pub trait BrokerLink: Send + Sync + std::fmt::Debug {
    /// The broker's API versions and finalized features.
    fn versions(&self) -> BrokerVersions;
    /// Sends `request` at exactly `version`: it is queued on the connection before this
    /// returns, so requests reach the broker in the order of these calls; the future only
    /// waits for the answer.
    fn send(
        &self,
        request: Request,
        version: i16,
    ) -> BoxFuture<'static, Result<Response, LinkError>>;
    /// The connection failed and must be replaced.
    fn is_closed(&self) -> bool;
}

/// Opens connections.
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Connect to `address` (`host:port`) and learn its versions.
    fn connect(&self, address: &str) -> BoxFuture<'static, Result<Arc<dyn BrokerLink>, LinkError>>;
}

/// The real transport over `kafkatx-wire`.
#[derive(Debug, Clone)]
pub(crate) struct WireTransport {
    options: ConnectOptions,
}

impl WireTransport {
    /// A transport with these identification and timeout settings.
    pub(crate) fn new(
        client_id: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Self {
        let options = ConnectOptions {
            client_id: client_id.to_owned(),
            connect_timeout,
            request_timeout,
            ..ConnectOptions::default()
        };
        Self { options }
    }

    /// Every connection authenticates with `credentials` (SASL_PLAINTEXT); `None` keeps
    /// PLAINTEXT.
    pub(crate) fn with_sasl(mut self, credentials: Option<SaslCredentials>) -> Self {
        self.options.sasl = credentials;
        self
    }

    /// Every connection speaks TLS with `tls` (SSL / SASL_SSL); `None` keeps plaintext.
    pub(crate) fn with_tls(mut self, tls: Option<TlsConfig>) -> Self {
        self.options.tls = tls;
        self
    }
}

impl Transport for WireTransport {
    fn connect(&self, address: &str) -> BoxFuture<'static, Result<Arc<dyn BrokerLink>, LinkError>> {
        let address = address.to_owned();
        let options = self.options.clone();
        Box::pin(async move {
            let connection = Connection::connect(&address, options).await?;
            Ok(Arc::new(WireLink { connection }) as Arc<dyn BrokerLink>)
        })
    }
}

/// Wraps a queued request's answer as a [`Response`].
fn answer<T, F>(
    pending: impl Future<Output = Result<T, WireError>> + Send + 'static,
    wrap: F,
) -> BoxFuture<'static, Result<Response, LinkError>>
where
    F: FnOnce(T) -> Response + Send + 'static,
{
    Box::pin(async move { Ok(wrap(pending.await?)) })
}

#[derive(Debug)]
struct WireLink {
    connection: Connection,
}

impl BrokerLink for WireLink {
    fn versions(&self) -> BrokerVersions {
        self.connection.versions().clone()
    }

    fn send(
        &self,
        request: Request,
        version: i16,
    ) -> BoxFuture<'static, Result<Response, LinkError>> {
        // Each request is queued on the connection here, before this returns: the driver
        // awaits answers on separate tasks, and Produce requests must reach the broker in the
        // order the machine emitted them.
        let connection = &self.connection;
        match request {
            Request::Metadata(r) => answer(connection.start(&r, version), Response::Metadata),
            Request::FindCoordinator(r) => {
                answer(connection.start(&r, version), Response::FindCoordinator)
            }
            Request::InitProducerId(r) => {
                answer(connection.start(&r, version), Response::InitProducerId)
            }
            Request::AddPartitionsToTxn(r) => {
                answer(connection.start(&r, version), Response::AddPartitionsToTxn)
            }
            Request::AddOffsetsToTxn(r) => {
                answer(connection.start(&r, version), Response::AddOffsetsToTxn)
            }
            Request::TxnOffsetCommit(r) => {
                answer(connection.start(&r, version), Response::TxnOffsetCommit)
            }
            Request::EndTxn(r) => answer(connection.start(&r, version), Response::EndTxn),
            Request::Produce(r) => answer(connection.start(&r, version), Response::Produce),
        }
    }

    fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }
}
