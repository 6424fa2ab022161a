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
    /// The TCP connection could not be opened (refused, unreachable, bad address); nothing
    /// was sent.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The operating system's error.
        source: Arc<std::io::Error>,
    },
    /// The TCP connect, or the TLS handshake after it, took longer than the connect timeout;
    /// nothing was sent.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The address dialled.
        addr: String,
        /// The timeout that ran out (`ConnectOptions::connect_timeout`).
        after: Duration,
    },
    /// The list of bootstrap addresses was empty, so no connection was attempted.
    #[error("no broker address to connect to")]
    NoAddress,
    /// Reading or writing the socket failed. The connection is poisoned, and a request in
    /// flight may have reached the broker.
    #[error("I/O error on the connection: {0}")]
    Io(Arc<std::io::Error>),
    /// The broker closed the connection (end of stream) or the connection's tasks are gone; a
    /// request in flight may have reached the broker.
    #[error("the broker closed the connection")]
    Closed,
    /// No answer arrived within the request timeout. The connection is poisoned, and the
    /// request may still have been acted on by the broker.
    #[error("no answer to {api:?} within {after:?}")]
    Timeout {
        /// The API of the unanswered request.
        api: ApiKey,
        /// The timeout that ran out (`ConnectOptions::request_timeout`).
        after: Duration,
    },
    /// The request was not sent because the connection had failed before: its outcome is known.
    #[error("the connection failed earlier and cannot be used: {0}")]
    Poisoned(Arc<WireError>),
    /// The broker sent a negative or over-limit frame length, taken as a corrupt stream. The
    /// connection is poisoned, and a request in flight may have reached the broker.
    #[error("broken frame from the broker: {0}")]
    Frame(#[from] FrameError),
    /// The broker answered a request that is not in flight, so answers can no longer be
    /// matched to requests. The connection is poisoned, and a request in flight may have
    /// reached the broker.
    #[error("answer with correlation id {0} matches no request in flight")]
    UnexpectedCorrelationId(i32),
    /// The request could not be encoded at the chosen version, so it was never sent.
    #[error("could not encode {api:?} v{version}: {message}")]
    Encode {
        /// The API of the request.
        api: ApiKey,
        /// The version it was encoded at.
        version: i16,
        /// The encoder's error.
        message: String,
    },
    /// The broker's answer could not be decoded. The request reached the broker and may have
    /// been acted on; the connection is poisoned, as the rest of the stream cannot be trusted.
    #[error("could not decode the {api:?} v{version} answer: {message}")]
    Decode {
        /// The API of the request answered; ApiVersions when the frame was too short to hold
        /// a correlation id, so its request is unknown.
        api: ApiKey,
        /// The version the answer was decoded at (0 when the request is unknown).
        version: i16,
        /// The decoder's error.
        message: String,
    },
    /// The broker and kafkatx share no version of the API, so the request was not sent.
    #[error("no version of {api:?} is supported by both the broker ({broker:?}) and kafkatx")]
    UnsupportedVersion {
        /// The API that has no common version.
        api: ApiKey,
        /// The `(min, max)` versions the broker advertised; `None` when it does not offer the
        /// API at all.
        broker: Option<(i16, i16)>,
    },
    /// The ApiVersions request made while connecting was answered with this error code (or
    /// with UNSUPPORTED_VERSION and no version to fall back to); no other request was sent.
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
    SessionExpired {
        /// The session lifetime the broker granted when the connection authenticated.
        lifetime: Duration,
    },
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
            | WireError::NoAddress
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
