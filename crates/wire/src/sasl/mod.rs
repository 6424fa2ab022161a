//! SASL authentication of a connection: PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802,
//! RFC 7677), over Kafka's SaslHandshake v1 + SaslAuthenticate (KIP-152).
//!
//! After ApiVersions, `authenticate` asks for the mechanism with SaslHandshake, then
//! carries each SASL token in a SaslAuthenticate request until the mechanism is done. The
//! mechanisms themselves are sans-IO (`plain`, `scram`); this module only moves tokens.
//!
//! SaslHandshake v0 (raw tokens without Kafka framing, brokers before 1.0) is not spoken.

mod credentials;
mod digest;
mod error;
mod plain;
pub(crate) mod scram;

use std::time::Duration;

use bytes::Bytes;

pub use credentials::{InvalidCredentials, SaslCredentials, SaslMechanism, UnknownMechanism};
pub use error::{
    AuthError, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM,
};

use crate::connection::Connection;
use crate::error::WireError;
use crate::protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::protocol::protocol::StrBytes;
use digest::ScramHash;
use scram::ScramClient;

/// The only SaslHandshake version spoken: v1 wraps tokens in SaslAuthenticate requests.
const HANDSHAKE_VERSION: i16 = 1;
/// SaslAuthenticate v1 adds `session_lifetime_ms`, v2 is the flexible encoding of v1.
const AUTHENTICATE_VERSIONS: (i16, i16) = (0, 2);
/// SCRAM takes two round trips and PLAIN one; more means a confused or hostile broker.
const MAX_ROUND_TRIPS: usize = 4;

/// What a successful authentication tells about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The broker closes the connection this long after authentication (KIP-368,
    /// `connections.max.reauth.ms`); `None` when it never does.
    pub lifetime: Option<Duration>,
}

/// One mechanism's side of the exchange.
#[derive(Debug)]
enum Exchange {
    /// PLAIN is finished once its single message is accepted.
    Plain,
    Scram(ScramClient),
}

impl Exchange {
    fn start(credentials: &SaslCredentials) -> Result<(Exchange, Vec<u8>), AuthError> {
        let hash = match credentials.mechanism() {
            SaslMechanism::Plain => {
                return Ok((Exchange::Plain, plain::initial_response(credentials)));
            }
            SaslMechanism::ScramSha256 => ScramHash::Sha256,
            SaslMechanism::ScramSha512 => ScramHash::Sha512,
        };
        let mut client = ScramClient::new(hash, credentials.clone(), scram::random_nonce()?);
        let first = client.client_first();
        Ok((Exchange::Scram(client), first))
    }

    /// The next token to send, or `None` when authentication is complete.
    fn step(&mut self, server_token: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
        match self {
            Exchange::Plain if server_token.is_empty() => Ok(None),
            Exchange::Plain => Err(AuthError::UnexpectedExchange(
                "the broker answered PLAIN with a challenge",
            )),
            Exchange::Scram(client) => client.step(server_token),
        }
    }
}

/// Authenticates `connection`, whose ApiVersions handshake is done, with `credentials`.
pub(crate) async fn authenticate(
    connection: &Connection,
    credentials: &SaslCredentials,
) -> Result<Session, WireError> {
    let mechanism = credentials.mechanism();
    tracing::debug!(
        addr = connection.addr(),
        %mechanism,
        username = credentials.username(),
        "SASL authentication"
    );
    handshake(connection, mechanism).await?;
    let version = authenticate_version(connection)?;
    let (mut exchange, mut token) = Exchange::start(credentials)?;
    for _ in 0..MAX_ROUND_TRIPS {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let response = connection.send(&request, version).await?;
        if response.error_code != 0 {
            return Err(AuthError::Refused {
                code: response.error_code,
                message: response.error_message.map(|m| m.to_string()),
            }
            .into());
        }
        match exchange.step(&response.auth_bytes)? {
            Some(next) => token = next,
            None => {
                let lifetime = u64::try_from(response.session_lifetime_ms)
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis);
                return Ok(Session { lifetime });
            }
        }
    }
    Err(AuthError::UnexpectedExchange("the broker never ended the exchange").into())
}

async fn handshake(connection: &Connection, mechanism: SaslMechanism) -> Result<(), WireError> {
    let supported = connection
        .versions()
        .range(ApiKey::SaslHandshake)
        .is_some_and(|(min, max)| (min..=max).contains(&HANDSHAKE_VERSION));
    if !supported {
        return Err(WireError::UnsupportedVersion {
            api: ApiKey::SaslHandshake,
            broker: connection.versions().range(ApiKey::SaslHandshake),
        });
    }
    let request =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism.name()));
    let response = connection.send(&request, HANDSHAKE_VERSION).await?;
    match response.error_code {
        0 => Ok(()),
        UNSUPPORTED_SASL_MECHANISM => Err(AuthError::UnsupportedMechanism {
            mechanism: mechanism.name(),
            enabled: response.mechanisms.iter().map(|m| m.to_string()).collect(),
        }
        .into()),
        code => Err(AuthError::Refused {
            code,
            message: None,
        }
        .into()),
    }
}

/// The highest SaslAuthenticate version both sides speak.
fn authenticate_version(connection: &Connection) -> Result<i16, WireError> {
    let broker = connection.versions().range(ApiKey::SaslAuthenticate);
    let (our_min, our_max) = AUTHENTICATE_VERSIONS;
    broker
        .and_then(|(min, max)| {
            let version = max.min(our_max);
            (version >= min.max(our_min)).then_some(version)
        })
        .ok_or(WireError::UnsupportedVersion {
            api: ApiKey::SaslAuthenticate,
            broker,
        })
}
