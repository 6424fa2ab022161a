//! `security.protocol` and the `sasl.*` settings: how every connection authenticates.

use std::fmt;

use kafkatx_wire::sasl::{InvalidCredentials, SaslCredentials, SaslMechanism};

use super::ConfigError;

/// `security.protocol`: what the connections to the brokers do before the first request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No authentication, no encryption (the default).
    #[default]
    Plaintext,
    /// SASL authentication over an unencrypted connection.
    SaslPlaintext,
}

impl SecurityProtocol {
    /// The Java name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        }
    }
}

/// The security settings as given, checked together by [`SecuritySettings::build`].
#[derive(Clone, Default)]
pub(super) struct SecuritySettings {
    protocol: SecurityProtocol,
    mechanism: Option<SaslMechanism>,
    username: Option<String>,
    password: Option<String>,
    /// From the typed setter; replaced by any later `sasl.*` string setting.
    typed: Option<SaslCredentials>,
}

// Hand-written: the builder is Debug, and the password must not show.
impl fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecuritySettings")
            .field("protocol", &self.protocol)
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("typed", &self.typed)
            .finish()
    }
}

impl SecuritySettings {
    /// Takes `key` if it is a security setting: `None` when it is not one of ours.
    /// `sasl.mechanisms` is librdkafka's spelling of Java's `sasl.mechanism`.
    pub(super) fn apply(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
        if key.starts_with("sasl.") {
            self.typed = None;
        }
        let result = match key {
            "security.protocol" => parse_protocol(value).map(|p| self.protocol = p),
            "sasl.mechanism" | "sasl.mechanisms" => value
                .parse()
                .map(|m| self.mechanism = Some(m))
                .map_err(|_| ConfigError::InvalidValue {
                    key: "sasl.mechanism",
                    value: value.to_owned(),
                    reason: "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                }),
            "sasl.username" => {
                self.username = Some(value.to_owned());
                Ok(())
            }
            "sasl.password" => {
                self.password = Some(value.to_owned());
                Ok(())
            }
            _ => return None,
        };
        Some(result)
    }

    /// SASL_PLAINTEXT with these credentials.
    pub(super) fn set_credentials(&mut self, credentials: SaslCredentials) {
        *self = SecuritySettings {
            protocol: SecurityProtocol::SaslPlaintext,
            typed: Some(credentials),
            ..SecuritySettings::default()
        };
    }

    /// The credentials every connection authenticates with; `None` for PLAINTEXT.
    pub(super) fn build(self) -> Result<Option<SaslCredentials>, ConfigError> {
        let any_sasl_setting = self.typed.is_some()
            || self.mechanism.is_some()
            || self.username.is_some()
            || self.password.is_some();
        match self.protocol {
            // Credentials that would be silently ignored are a forgotten security.protocol.
            SecurityProtocol::Plaintext if any_sasl_setting => Err(ConfigError::Conflict(
                "sasl.* settings are set but security.protocol is PLAINTEXT; \
                 set security.protocol=SASL_PLAINTEXT"
                    .into(),
            )),
            SecurityProtocol::Plaintext => Ok(None),
            SecurityProtocol::SaslPlaintext if self.typed.is_some() => Ok(self.typed),
            SecurityProtocol::SaslPlaintext => {
                let missing = |what: &str| {
                    ConfigError::Conflict(format!("security.protocol=SASL_PLAINTEXT needs {what}"))
                };
                // Java's default mechanism is GSSAPI, which kafkatx lacks: no silent default.
                let mechanism = self.mechanism.ok_or_else(|| {
                    missing("sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
                })?;
                let username = self.username.ok_or_else(|| missing("sasl.username"))?;
                let password = self.password.ok_or_else(|| missing("sasl.password"))?;
                SaslCredentials::new(mechanism, username, password)
                    .map(Some)
                    .map_err(|e| ConfigError::Conflict(invalid_credentials(&e)))
            }
        }
    }
}

fn invalid_credentials(error: &InvalidCredentials) -> String {
    format!("sasl.username/sasl.password: {error}")
}

fn parse_protocol(value: &str) -> Result<SecurityProtocol, ConfigError> {
    let invalid = |reason| ConfigError::InvalidValue {
        key: "security.protocol",
        value: value.to_owned(),
        reason,
    };
    match value.trim().to_ascii_uppercase().as_str() {
        "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
        "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
        "SSL" | "SASL_SSL" => Err(invalid(
            "SSL is not supported by kafkatx; use PLAINTEXT or SASL_PLAINTEXT",
        )),
        _ => Err(invalid("expected PLAINTEXT or SASL_PLAINTEXT")),
    }
}

#[cfg(test)]
mod tests;
