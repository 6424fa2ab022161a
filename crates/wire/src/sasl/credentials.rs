//! What a client authenticates with: the mechanism, the user and the password.

use std::fmt;
use std::str::FromStr;

/// A SASL mechanism kafkatx implements (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// RFC 4616: the password travels in clear text, so only over a trusted network.
    Plain,
    /// RFC 5802 / RFC 7677 with SHA-256.
    ScramSha256,
    /// RFC 5802 with SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// Every mechanism, in the order they are listed in messages.
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];

    /// The IANA name, as sent in SaslHandshake and written in `sasl.mechanism`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mechanism name kafkatx does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported SASL mechanism `{0}` (expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")]
pub struct UnknownMechanism(pub String);

impl FromStr for SaslMechanism {
    type Err = UnknownMechanism;

    /// Mechanism names are case-sensitive in SASL; Kafka's own configs use upper case, and a
    /// lower-case `plain` is accepted too because nothing else could be meant.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let trimmed = name.trim();
        SaslMechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| UnknownMechanism(name.to_owned()))
    }
}

/// Credentials that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCredentials {
    /// An empty user name.
    #[error("the SASL user name is empty")]
    EmptyUsername,
    /// PLAIN separates its fields with NUL bytes, so a NUL inside one would shift them.
    #[error("the SASL user name or password contains a NUL character")]
    ContainsNul,
}

/// SASL credentials. `Debug` never shows the password, so they can sit inside logged configs.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    mechanism: SaslMechanism,
    username: String,
    password: String,
}

impl SaslCredentials {
    /// Checks and wraps one user's credentials for `mechanism`.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, InvalidCredentials> {
        let username = username.into();
        let password = password.into();
        if username.is_empty() {
            return Err(InvalidCredentials::EmptyUsername);
        }
        if username.contains('\0') || password.contains('\0') {
            return Err(InvalidCredentials::ContainsNul);
        }
        Ok(SaslCredentials {
            mechanism,
            username,
            password,
        })
    }

    /// The mechanism to authenticate with.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Only the mechanisms of this crate read the password.
    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let creds = SaslCredentials::new(SaslMechanism::ScramSha512, "alice", "s3cr3t-pw").unwrap();
        let shown = format!("{creds:?} {creds:#?}");
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(
            shown.contains("alice") && shown.contains("ScramSha512"),
            "{shown}"
        );
    }

    #[test]
    fn names_parse_both_ways_and_bad_credentials_are_refused() {
        for m in SaslMechanism::ALL {
            assert_eq!(m.name().parse::<SaslMechanism>(), Ok(m));
        }
        assert_eq!(" scram-sha-256 ".parse(), Ok(SaslMechanism::ScramSha256));
        assert!("GSSAPI".parse::<SaslMechanism>().is_err());
        assert_eq!(
            SaslCredentials::new(SaslMechanism::Plain, "", "pw"),
            Err(InvalidCredentials::EmptyUsername)
        );
        assert_eq!(
            SaslCredentials::new(SaslMechanism::Plain, "a", "p\0w"),
            Err(InvalidCredentials::ContainsNul)
        );
    }
}
