//! Why SASL authentication failed.

/// Kafka's error code for "SASL authentication failed" (bad user or password).
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// Kafka's error code for a mechanism the broker does not enable.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// Kafka's error code for a SASL request out of order.
pub const ILLEGAL_SASL_STATE: i16 = 34;

/// An authentication failure: refused by the broker, or a broker answer the client refuses.
///
/// Never carries the password or values derived from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The broker answered SaslHandshake or SaslAuthenticate with an error code
    /// ([`SASL_AUTHENTICATION_FAILED`], [`ILLEGAL_SASL_STATE`], ...).
    #[error("the broker refused authentication with error code {code}{}", detail(.message))]
    Refused {
        /// The broker's error code.
        code: i16,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// The broker does not enable the configured mechanism ([`UNSUPPORTED_SASL_MECHANISM`]).
    #[error("the broker does not enable SASL mechanism {mechanism} (it enables: {})", .enabled.join(", "))]
    UnsupportedMechanism {
        /// What we asked for.
        mechanism: &'static str,
        /// What the broker offers.
        enabled: Vec<String>,
    },
    /// A SCRAM server message that does not follow RFC 5802 (bad syntax, bad base64, a
    /// mandatory extension we cannot honour).
    #[error("malformed SCRAM message from the broker: {0}")]
    MalformedServerMessage(String),
    /// The server nonce does not extend ours: the answer belongs to another exchange.
    #[error("the broker's SCRAM nonce does not start with the client nonce")]
    NonceMismatch,
    /// An iteration count outside what we accept: too few makes the stored key cheap to
    /// attack, too many lets a hostile broker burn our CPU.
    #[error("the broker asked for {0} SCRAM iterations, outside {min}..={max}",
        min = crate::sasl::scram::MIN_ITERATIONS, max = crate::sasl::scram::MAX_ITERATIONS)]
    IterationCount(u32),
    /// The server signature does not prove the broker knows the user's stored key.
    #[error("the broker's SCRAM server signature is wrong: it does not know this user's key")]
    ServerSignatureMismatch,
    /// The broker's server-final message reported an error (`e=...`).
    #[error("the broker ended the SCRAM exchange with error `{0}`")]
    ServerError(String),
    /// The broker sent a token where the mechanism expects none, or none where it expects one.
    #[error("unexpected SASL exchange: {0}")]
    UnexpectedExchange(&'static str),
    /// The operating system's random source failed, so no nonce could be made.
    #[error("no random nonce available: {0}")]
    Random(String),
}

fn detail(message: &Option<String>) -> String {
    message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

impl AuthError {
    /// The broker's error code, when the broker refused; `None` when the client did.
    pub fn code(&self) -> Option<i16> {
        match self {
            AuthError::Refused { code, .. } => Some(*code),
            AuthError::UnsupportedMechanism { .. } => Some(UNSUPPORTED_SASL_MECHANISM),
            _ => None,
        }
    }
}
