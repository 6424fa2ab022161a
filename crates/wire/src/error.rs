//! Errors of the connection layer. They are `Clone` because one failure of a connection is
//! delivered to every request waiting on it.

use std::sync::Arc;
use std::time::Duration;

use crate::frame::FrameError;
use crate::protocol::messages::ApiKey;
use crate::sasl::AuthError;
use crate::tls::TlsError;

/// Everything that can go wrong between sending a request and holding its decoded answer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("could not connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: Arc<std::io::Error>,
    },
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    #[error("no broker address to connect to")]
    NoAddress,
    #[error("I/O error on the connection: {0}")]
    Io(Arc<std::io::Error>),
    #[error("the broker closed the connection")]
    Closed,
    #[error("no answer to {api:?} within {after:?}")]
    Timeout { api: ApiKey, after: Duration },
    /// The request was not sent because the connection had failed before: its outcome is known.
    #[error("the connection failed earlier and cannot be used: {0}")]
    Poisoned(Arc<WireError>),
    #[error("broken frame from the broker: {0}")]
    Frame(#[from] FrameError),
    #[error("answer with correlation id {0} matches no request in flight")]
    UnexpectedCorrelationId(i32),
    #[error("could not encode {api:?} v{version}: {message}")]
    Encode {
        api: ApiKey,
        version: i16,
        message: String,
    },
    #[error("could not decode the {api:?} v{version} answer: {message}")]
    Decode {
        api: ApiKey,
        version: i16,
        message: String,
    },
    #[error("no version of {api:?} is supported by both the broker ({broker:?}) and kafkatx")]
    UnsupportedVersion {
        api: ApiKey,
        broker: Option<(i16, i16)>,
    },
    #[error("the ApiVersions handshake failed with error code {0}")]
    Handshake(i16),
    /// SASL authentication failed: refused by the broker (its error code is in
    /// [`AuthError::code`]) or the broker's answer was refused. Retrying with the same
    /// credentials will not help.
    #[error("SASL authentication failed: {0}")]
    Authentication(#[from] AuthError),
    /// The broker's SASL session (KIP-368) is about to end, so the request was not sent:
    /// reconnect (which authenticates again).
    #[error("the SASL session of this connection (lifetime {lifetime:?}) is about to expire")]
    SessionExpired { lifetime: Duration },
    /// TLS failed in a way the configuration must fix (an untrusted, expired or misnamed
    /// certificate, a refused client certificate, TLS spoken to a plaintext port or the
    /// reverse). The message names the setting.
    #[error("{0}")]
    Tls(#[from] TlsError),
}

impl WireError {
    /// True when the request may have reached the broker and been acted on even though no
    /// answer arrived. Callers that must not assume failure (EndTxn, Produce) look at this.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            WireError::Connect { .. }
            | WireError::ConnectTimeout { .. }
            | WireError::Encode { .. }
            | WireError::UnsupportedVersion { .. }
            | WireError::Handshake(_)
            | WireError::Authentication(_)
            | WireError::SessionExpired { .. }
            | WireError::Tls(_) => false,
            // Refused before it was written: the connection had already failed.
            WireError::Poisoned(_) => false,
            _ => true,
        }
    }
}

/// Result alias of this layer.
pub type Result<T, E = WireError> = std::result::Result<T, E>;
