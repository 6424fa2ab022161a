//! `security.protocol`, the `sasl.*` and the `ssl.*` settings: how every connection
//! authenticates and whether it is encrypted.

use std::fmt;
use std::path::PathBuf;

use kafkatx_wire::sasl::{InvalidCredentials, SaslCredentials, SaslMechanism};
use kafkatx_wire::tls::{TlsConfig, TlsSettings};

use super::ConfigError;

/// `security.protocol`: what the connections to the brokers do before the first request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No authentication, no encryption (the default).
    #[default]
    Plaintext,
    /// SASL authentication over an unencrypted connection.
    SaslPlaintext,
    /// TLS, no SASL (a client certificate, if any, authenticates).
    Ssl,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The Java name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// What every connection does before its first request: SASL credentials and TLS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionSecurity {
    /// SASL credentials (`SASL_PLAINTEXT` / `SASL_SSL`).
    pub sasl: Option<SaslCredentials>,
    /// The TLS configuration (`SSL` / `SASL_SSL`).
    pub tls: Option<TlsConfig>,
}

/// The `ssl.*` settings as given.
#[derive(Debug, Clone, Default)]
struct SslSettings {
    /// `ssl.truststore.location` / `ssl.ca.location`.
    ca: Option<PathBuf>,
    /// `ssl.keystore.location`: certificate chain and key in one PEM file (Kafka's PEM key store).
    keystore: Option<PathBuf>,
    /// `ssl.certificate.location` (librdkafka).
    certificate: Option<PathBuf>,
    /// `ssl.key.location` (librdkafka).
    key: Option<PathBuf>,
    /// `ssl.endpoint.identification.algorithm`: `None` is Java's default, `https`.
    verify_hostname: Option<bool>,
    /// Any `ssl.*` setting was given.
    any: bool,
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
    ssl: SslSettings,
    /// From the typed setter; replaced by any later `ssl.*` string setting.
    typed_tls: Option<TlsConfig>,
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
            .field("ssl", &self.ssl)
            .field("typed_tls", &self.typed_tls)
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
        if key.starts_with("ssl.") {
            self.typed_tls = None;
            return self.apply_ssl(key, value);
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

    fn apply_ssl(&mut self, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
        let path = |value: &str| {
            let trimmed = value.trim();
            (!trimmed.is_empty()).then(|| PathBuf::from(trimmed))
        };
        let pem_only = |key: &'static str| {
            if value.trim().eq_ignore_ascii_case("PEM") {
                Ok(())
            } else {
                Err(ConfigError::InvalidValue {
                    key,
                    value: value.to_owned(),
                    reason: "kafkatx reads PEM files only (JKS and PKCS12 are Java formats); \
                             convert with keytool/openssl and set PEM",
                })
            }
        };
        let ssl = &mut self.ssl;
        ssl.any = true;
        let result = match key {
            "ssl.truststore.location" | "ssl.ca.location" => {
                ssl.ca = path(value);
                Ok(())
            }
            "ssl.keystore.location" => {
                ssl.keystore = path(value);
                Ok(())
            }
            "ssl.certificate.location" => {
                ssl.certificate = path(value);
                Ok(())
            }
            "ssl.key.location" => {
                ssl.key = path(value);
                Ok(())
            }
            "ssl.truststore.type" => pem_only("ssl.truststore.type"),
            "ssl.keystore.type" => pem_only("ssl.keystore.type"),
            // Encrypted keys would need PKCS#5 decryption; say so instead of ignoring it.
            "ssl.key.password" if value.is_empty() => Ok(()),
            "ssl.key.password" => Err(ConfigError::InvalidValue {
                key: "ssl.key.password",
                value: "<redacted>".to_owned(),
                reason: "kafkatx reads only unencrypted private keys: decrypt the key \
                         (openssl pkcs8 -topk8 -nocrypt) and leave ssl.key.password unset",
            }),
            "ssl.endpoint.identification.algorithm" => {
                match value.trim().to_ascii_lowercase().as_str() {
                    "https" => {
                        ssl.verify_hostname = Some(true);
                        Ok(())
                    }
                    "" | "none" => {
                        ssl.verify_hostname = Some(false);
                        Ok(())
                    }
                    _ => Err(ConfigError::InvalidValue {
                        key: "ssl.endpoint.identification.algorithm",
                        value: value.to_owned(),
                        reason: "expected https (verify the broker's host name) or empty (do not)",
                    }),
                }
            }
            _ => return None,
        };
        Some(result)
    }

    /// SASL_PLAINTEXT with these credentials (SASL_SSL if TLS was set).
    pub(super) fn set_credentials(&mut self, credentials: SaslCredentials) {
        let tls = self.protocol.uses_tls();
        *self = SecuritySettings {
            protocol: if tls {
                SecurityProtocol::SaslSsl
            } else {
                SecurityProtocol::SaslPlaintext
            },
            typed: Some(credentials),
            ssl: std::mem::take(&mut self.ssl),
            typed_tls: self.typed_tls.take(),
            ..SecuritySettings::default()
        };
    }

    /// TLS with this configuration (SSL, or SASL_SSL if SASL was set).
    pub(super) fn set_tls(&mut self, tls: TlsConfig) {
        self.protocol = if self.protocol.uses_sasl() {
            SecurityProtocol::SaslSsl
        } else {
            SecurityProtocol::Ssl
        };
        self.ssl = SslSettings::default();
        self.typed_tls = Some(tls);
    }

    /// What every connection does: SASL credentials and TLS, checked against
    /// `security.protocol`.
    pub(super) fn build(self) -> Result<ConnectionSecurity, ConfigError> {
        let tls = self.build_tls()?;
        let sasl = self.build_sasl()?;
        Ok(ConnectionSecurity { sasl, tls })
    }

    fn build_tls(&self) -> Result<Option<TlsConfig>, ConfigError> {
        if !self.protocol.uses_tls() {
            if self.ssl.any || self.typed_tls.is_some() {
                return Err(ConfigError::Conflict(format!(
                    "ssl.* settings are set but security.protocol is {}; set \
                     security.protocol=SSL or SASL_SSL",
                    self.protocol.name()
                )));
            }
            return Ok(None);
        }
        if let Some(tls) = &self.typed_tls {
            return Ok(Some(tls.clone()));
        }
        let ssl = &self.ssl;
        let settings = TlsSettings {
            ca_location: ssl.ca.clone(),
            certificate_location: ssl.certificate.clone().or_else(|| ssl.keystore.clone()),
            key_location: ssl.key.clone().or_else(|| ssl.keystore.clone()),
            verify_hostname: ssl.verify_hostname.unwrap_or(true),
        };
        if !settings.verify_hostname {
            // Java logs nothing; a silent downgrade is too easy to leave in production.
            tracing::warn!(
                "ssl.endpoint.identification.algorithm is empty: the broker's certificate is \
                 checked against the trust store but not against its host name"
            );
        }
        settings
            .build()
            .map(Some)
            .map_err(|e| ConfigError::Conflict(format!("TLS settings cannot be used: {e}")))
    }

    fn build_sasl(self) -> Result<Option<SaslCredentials>, ConfigError> {
        let any_sasl_setting = self.typed.is_some()
            || self.mechanism.is_some()
            || self.username.is_some()
            || self.password.is_some();
        let protocol = self.protocol;
        match protocol {
            // Credentials that would be silently ignored are a forgotten security.protocol.
            SecurityProtocol::Plaintext | SecurityProtocol::Ssl if any_sasl_setting => {
                Err(ConfigError::Conflict(format!(
                    "sasl.* settings are set but security.protocol is {}; \
                     set security.protocol=SASL_PLAINTEXT or SASL_SSL",
                    protocol.name()
                )))
            }
            SecurityProtocol::Plaintext | SecurityProtocol::Ssl => Ok(None),
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl if self.typed.is_some() => {
                Ok(self.typed)
            }
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
                let missing = |what: &str| {
                    ConfigError::Conflict(format!(
                        "security.protocol={} needs {what}",
                        protocol.name()
                    ))
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
        "SSL" => Ok(SecurityProtocol::Ssl),
        "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
        _ => Err(invalid(
            "expected PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL",
        )),
    }
}

#[cfg(test)]
mod tests;
