//! The client side of SCRAM (RFC 5802, RFC 7677), sans-IO: messages in, messages out.
//!
//! ```text
//! client-first  n,,n=<user>,r=<client nonce>
//! server-first  r=<client nonce + server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 ClientKey XOR HMAC(StoredKey, AuthMessage)>
//! server-final  v=<base64 HMAC(ServerKey, AuthMessage)>   or   e=<error>
//! ```
//!
//! The server signature is verified: a broker that does not know the user's keys (a
//! man in the middle, a misrouted connection) is refused even though it said "ok".
//! Like Kafka's own client, the password is used as its UTF-8 bytes without SASLprep.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::sasl::credentials::SaslCredentials;
use crate::sasl::digest::ScramHash;
use crate::sasl::error::AuthError;

/// Fewer iterations make a stolen stored key cheap to crack (RFC 7677 asks for 4096 at least,
/// and Kafka refuses to store fewer).
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka stores at most 16384 (KIP-554); the margin above it tolerates other brokers while a
/// hostile one still cannot make us spend seconds of CPU per connection.
pub const MAX_ITERATIONS: u32 = 100_000;

/// `c=` carries the base64 of the GS2 header `n,,`: no channel binding, no authzid.
const GS2_HEADER: &str = "n,,";
const CHANNEL_BINDING: &str = "c=biws";

/// Where the exchange stands.
enum Stage {
    /// The client-first message is to be sent.
    Start,
    /// Sent client-first, waiting for server-first.
    SentFirst,
    /// Sent client-final; the server's signature must be `HMAC(server_key, auth_message)`.
    SentFinal {
        server_key: Vec<u8>,
        auth_message: String,
    },
    /// Verified, or failed: nothing more may be exchanged.
    Finished,
}

/// One SCRAM exchange for one connection.
pub(crate) struct ScramClient {
    hash: ScramHash,
    credentials: SaslCredentials,
    client_nonce: String,
    stage: Stage,
}

// Hand-written so that no key derived from the password can ever reach a log.
impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Start => "start",
            Stage::SentFirst => "sent client-first",
            Stage::SentFinal { .. } => "sent client-final",
            Stage::Finished => "finished",
        };
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("username", &self.credentials.username())
            .field("stage", &stage)
            .finish()
    }
}

impl ScramClient {
    /// `client_nonce` must be printable ASCII without `,`; [`random_nonce`] makes one.
    pub(crate) fn new(hash: ScramHash, credentials: SaslCredentials, client_nonce: String) -> Self {
        ScramClient {
            hash,
            credentials,
            client_nonce,
            stage: Stage::Start,
        }
    }

    /// The client-first message.
    pub(crate) fn client_first(&mut self) -> Vec<u8> {
        self.stage = Stage::SentFirst;
        format!("{GS2_HEADER}{}", self.client_first_bare()).into_bytes()
    }

    /// Handles the broker's message: the next client message, or `None` once the server's
    /// signature has been verified. Any error ends the exchange.
    pub(crate) fn step(&mut self, server_message: &[u8]) -> Result<Option<Vec<u8>>, AuthError> {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::SentFirst => self.client_final(server_message).map(Some),
            Stage::SentFinal {
                server_key,
                auth_message,
            } => {
                self.verify_server_final(server_message, &server_key, &auth_message)?;
                Ok(None)
            }
            Stage::Start | Stage::Finished => Err(AuthError::UnexpectedExchange(
                "a SCRAM message arrived outside the exchange",
            )),
        }
    }

    fn client_first_bare(&self) -> String {
        format!(
            "n={},r={}",
            escape_username(self.credentials.username()),
            self.client_nonce
        )
    }

    fn client_final(&mut self, server_message: &[u8]) -> Result<Vec<u8>, AuthError> {
        let server_first = utf8(server_message)?;
        let ServerFirst {
            nonce,
            salt,
            iterations,
        } = parse_server_first(server_first)?;
        // RFC 5802 5.1: the server appends its part to ours; anything else is a replay or
        // an answer to another exchange.
        if !nonce.starts_with(&self.client_nonce) {
            return Err(AuthError::NonceMismatch);
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(AuthError::IterationCount(iterations));
        }
        let without_proof = format!("{CHANNEL_BINDING},r={nonce}");
        let auth_message = format!(
            "{},{server_first},{without_proof}",
            self.client_first_bare()
        );
        let h = self.hash;
        let salted = h.salted_password(self.credentials.password().as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted, b"Server Key");
        self.stage = Stage::SentFinal {
            server_key,
            auth_message,
        };
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    fn verify_server_final(
        &self,
        server_message: &[u8],
        server_key: &[u8],
        auth_message: &str,
    ) -> Result<(), AuthError> {
        let server_final = utf8(server_message)?;
        // Extensions may follow after a comma; only the first attribute matters.
        let first = server_final.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(AuthError::ServerError(error.to_owned()));
        }
        let signature = first
            .strip_prefix("v=")
            .ok_or_else(|| malformed("server-final has neither v= nor e="))?;
        let signature = decode_base64(signature, "server signature")?;
        if self
            .hash
            .hmac_matches(server_key, auth_message.as_bytes(), &signature)
        {
            Ok(())
        } else {
            Err(AuthError::ServerSignatureMismatch)
        }
    }
}

/// A fresh client nonce: 24 random bytes as base64 (printable, never a comma).
pub(crate) fn random_nonce() -> Result<String, AuthError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(BASE64.encode(bytes))
}

/// RFC 5802 `saslname`: `=` and `,` would end the attribute, so they are escaped.
fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

fn parse_server_first<'a>(message: &'a str) -> Result<ServerFirst<'a>, AuthError> {
    let mut attributes = message.split(',');
    let mut next = |key: &'static str| -> Result<&'a str, AuthError> {
        let attribute = attributes
            .next()
            .ok_or_else(|| malformed(format!("server-first lacks {key}=")))?;
        if attribute.starts_with("m=") {
            return Err(malformed(
                "server-first requires an extension we do not know",
            ));
        }
        attribute
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| {
                malformed(format!(
                    "server-first has `{attribute}` where {key}= belongs"
                ))
            })
    };
    let nonce = next("r")?;
    let salt = decode_base64(next("s")?, "salt")?;
    let iterations = next("i")?;
    // Extensions may follow; none is mandatory (those start with m=, refused above).
    if nonce.is_empty() || salt.is_empty() {
        return Err(malformed("server-first has an empty nonce or salt"));
    }
    let iterations = iterations
        .parse()
        .map_err(|_| malformed(format!("iteration count `{iterations}` is not a number")))?;
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    BASE64
        .decode(text)
        .map_err(|e| malformed(format!("{what} is not valid base64: {e}")))
}

fn utf8(message: &[u8]) -> Result<&str, AuthError> {
    std::str::from_utf8(message).map_err(|_| malformed("the message is not UTF-8"))
}

fn malformed(reason: impl Into<String>) -> AuthError {
    AuthError::MalformedServerMessage(reason.into())
}

#[cfg(test)]
mod tests;
