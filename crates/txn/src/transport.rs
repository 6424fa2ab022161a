//! How the driver reaches brokers, behind a trait so the driver can run against a fake.
//!
//! [`WireTransport`] is the real one, over `kafkatx-wire` connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kafkatx_wire::{BrokerVersions, ConnectOptions, Connection, WireError};

use crate::classify::TransportFailure;
use crate::types::{Request, Response};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a connection or request failed, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
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
pub trait BrokerLink: Send + Sync + std::fmt::Debug {
    /// The broker's API versions and finalized features.
    fn versions(&self) -> BrokerVersions;
    /// Send `request` at exactly `version`.
    fn send(
        &self,
        request: Request,
        version: i16,
    ) -> BoxFuture<'static, Result<Response, LinkError>>;
    /// The connection failed and must be replaced.
    fn is_closed(&self) -> bool;
}

/// Opens connections.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Connect to `address` (`host:port`) and learn its versions.
    fn connect(&self, address: &str) -> BoxFuture<'static, Result<Arc<dyn BrokerLink>, LinkError>>;
}

/// The real transport over `kafkatx-wire`.
#[derive(Debug, Clone)]
pub struct WireTransport {
    options: ConnectOptions,
}

impl WireTransport {
    /// A transport with these identification and timeout settings.
    pub fn new(client_id: &str, connect_timeout: Duration, request_timeout: Duration) -> Self {
        let options = ConnectOptions {
            client_id: client_id.to_owned(),
            connect_timeout,
            request_timeout,
            ..ConnectOptions::default()
        };
        Self { options }
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
        let connection = self.connection.clone();
        Box::pin(async move {
            let response = match request {
                Request::Metadata(r) => Response::Metadata(connection.send(&r, version).await?),
                Request::FindCoordinator(r) => {
                    Response::FindCoordinator(connection.send(&r, version).await?)
                }
                Request::InitProducerId(r) => {
                    Response::InitProducerId(connection.send(&r, version).await?)
                }
                Request::AddPartitionsToTxn(r) => {
                    Response::AddPartitionsToTxn(connection.send(&r, version).await?)
                }
                Request::EndTxn(r) => Response::EndTxn(connection.send(&r, version).await?),
                Request::Produce(r) => Response::Produce(connection.send(&r, version).await?),
            };
            Ok(response)
        })
    }

    fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }
}
