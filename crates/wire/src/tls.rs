//! TLS to brokers (`security.protocol=SSL` / `SASL_SSL`): building the rustls client
//! configuration from Kafka's settings, the handshake, and turning TLS failures into errors
//! that name the setting to fix.
//!
//! The crypto provider is graviola's (`rustls-graviola`), not rustls' defaults: *ring* and
//! aws-lc-rs compile C, and kafkatx builds as a static musl binary without a C compiler
//! (docs/ARCHITECTURE.md, "TLS").
//!
//! Settings follow Kafka's Java client (`SslConfigs`): a PEM trust store
//! (`ssl.truststore.location`, `ssl.truststore.type=PEM`), a PEM key store holding the client
//! certificate chain and its key in one file (`ssl.keystore.location`, `ssl.keystore.type=PEM`,
//! as Kafka's `PemKeyStore` reads it), and `ssl.endpoint.identification.algorithm` (`https`
//! checks the broker's host name; empty turns the check off). librdkafka's
//! `ssl.ca.location`, `ssl.certificate.location` and `ssl.key.location` are the same things in
//! separate files.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// What the user gave: file names and the host name policy. Reading and checking them is
/// [`TlsSettings::build`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of the CA certificates to trust (`ssl.truststore.location` /
    /// `ssl.ca.location`). `None`: the Mozilla root set of `webpki-roots`.
    pub ca_location: Option<PathBuf>,
    /// PEM file of the client certificate chain (`ssl.certificate.location`, or the key store).
    pub certificate_location: Option<PathBuf>,
    /// PEM file of the client's private key (`ssl.key.location`, or the key store).
    pub key_location: Option<PathBuf>,
    /// Check that the broker's certificate names the host dialled
    /// (`ssl.endpoint.identification.algorithm=https`, the default).
    pub verify_hostname: bool,
}

/// A setting that cannot be used, with the setting's name in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct TlsConfigError {
    /// The Kafka name of the setting to fix.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl TlsSettings {
    /// Reads the files and builds the client configuration on graviola's provider.
    pub fn build(&self) -> Result<TlsConfig, TlsConfigError> {
        if let Some(missing) = missing_cpu_feature() {
            return Err(TlsConfigError {
                setting: "security.protocol",
                reason: format!(
                    "TLS in kafkatx uses graviola's assembly, which needs the CPU feature \
                     `{missing}` that this machine lacks"
                ),
            });
        }
        let provider = Arc::new(rustls_graviola::default_provider());
        let roots = match &self.ca_location {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                let certs = read_certificates(path, "ssl.truststore.location / ssl.ca.location")?;
                let (added, _ignored) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(TlsConfigError {
                        setting: "ssl.truststore.location / ssl.ca.location",
                        reason: format!("{} holds no usable CA certificate", path.display()),
                    });
                }
                roots
            }
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsConfigError {
                setting: "ssl.truststore.location / ssl.ca.location",
                reason: e.to_string(),
            })?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.verify_hostname {
            webpki
        } else {
            Arc::new(AnyHostName(webpki))
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError {
                setting: "security.protocol",
                reason: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.certificate_location, &self.key_location) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert_path), Some(key_path)) => {
                let chain = read_certificates(
                    cert_path,
                    "ssl.keystore.location / ssl.certificate.location",
                )?;
                let key = read_key(key_path)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsConfigError {
                        setting: "ssl.keystore.location / ssl.key.location",
                        reason: format!("the client certificate and key cannot be used: {e}"),
                    })?
            }
            (Some(_), None) => {
                return Err(TlsConfigError {
                    setting: "ssl.key.location",
                    reason: "a client certificate needs its private key".into(),
                });
            }
            (None, Some(_)) => {
                return Err(TlsConfigError {
                    setting: "ssl.certificate.location",
                    reason: "a private key needs its certificate".into(),
                });
            }
        };
        Ok(TlsConfig {
            settings: self.clone(),
            client: Arc::new(config),
        })
    }
}

/// The first CPU feature graviola needs and this machine lacks. graviola asserts them on first
/// use (its README, "Limitations"); a configuration error is kinder than a panic on connect.
fn missing_cpu_feature() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let have = [
            ("aes", std::arch::is_x86_feature_detected!("aes")),
            (
                "pclmulqdq",
                std::arch::is_x86_feature_detected!("pclmulqdq"),
            ),
            ("bmi1", std::arch::is_x86_feature_detected!("bmi1")),
            ("bmi2", std::arch::is_x86_feature_detected!("bmi2")),
            ("adx", std::arch::is_x86_feature_detected!("adx")),
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ];
        have.iter().find(|(_, ok)| !ok).map(|(name, _)| *name)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let have = [
            ("aes", std::arch::is_aarch64_feature_detected!("aes")),
            ("sha2", std::arch::is_aarch64_feature_detected!("sha2")),
            ("pmull", std::arch::is_aarch64_feature_detected!("pmull")),
            ("neon", std::arch::is_aarch64_feature_detected!("neon")),
        ];
        have.iter().find(|(_, ok)| !ok).map(|(name, _)| *name)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        None
    }
}

fn read_file(path: &Path, setting: &'static str) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| TlsConfigError {
        setting,
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

fn read_certificates(
    path: &Path,
    setting: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let pem = read_file(path, setting)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError {
            setting,
            reason: format!("{} is not valid PEM: {e}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError {
            setting,
            reason: format!("{} holds no CERTIFICATE block", path.display()),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    const SETTING: &str = "ssl.keystore.location / ssl.key.location";
    let pem = read_file(path, SETTING)?;
    // pki-types skips sections it does not know, so an encrypted key would read as "no key":
    // say what it is instead (RFC 5958 EncryptedPrivateKeyInfo, or OpenSSL's legacy header).
    let text = String::from_utf8_lossy(&pem);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(encrypted_key_error(path));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsConfigError {
        setting: SETTING,
        reason: format!("{} holds no usable private key: {e}", path.display()),
    })
}

fn encrypted_key_error(path: &Path) -> TlsConfigError {
    TlsConfigError {
        setting: "ssl.key.password",
        reason: format!(
            "the private key in {} is encrypted, and kafkatx reads only unencrypted keys: \
             decrypt it (openssl pkcs8 -topk8 -nocrypt) and leave ssl.key.password unset",
            path.display()
        ),
    }
}

/// A built client configuration: what every TLS connection of a producer, reader or probe
/// uses. Cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    settings: TlsSettings,
    client: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

// Two configurations are the same if they were built from the same settings (the files are
// read once, at build time).
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
    }
}

impl TlsConfig {
    /// A configuration from a rustls client configuration built elsewhere (its own roots,
    /// verifier or provider). `verify_hostname` only says how messages describe it.
    pub fn from_client_config(client: Arc<ClientConfig>, verify_hostname: bool) -> Self {
        TlsConfig {
            settings: TlsSettings {
                verify_hostname,
                ..TlsSettings::default()
            },
            client,
        }
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The rustls configuration.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.client
    }

    /// Runs the TLS handshake on `tcp`, naming the broker by the host of `addr` (SNI and host
    /// name verification, RFC 6066 / RFC 6125).
    pub(crate) async fn handshake(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, TlsError> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_owned()).map_err(|_| TlsError {
            addr: addr.to_owned(),
            message: format!(
                "`{host}` is not a valid host name for TLS: use the broker's DNS name or IP \
                 address in bootstrap.servers"
            ),
        })?;
        TlsConnector::from(Arc::clone(&self.client))
            .connect(name, tcp)
            .await
            .map_err(|e| {
                TlsError::from_io(addr, &e, Phase::Handshake).unwrap_or_else(|| TlsError {
                    addr: addr.to_owned(),
                    message: format!("TLS handshake failed: {e}"),
                })
            })
    }
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}

/// A TLS failure a user must fix in the configuration (or on the broker): retrying does not
/// help, so a producer that meets it fails at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TLS with {addr} failed: {message}")]
pub struct TlsError {
    /// The broker dialled.
    pub addr: String,
    /// What happened and which setting to look at.
    pub message: String,
}

/// When the failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// While the TLS handshake ran.
    Handshake,
    /// On an established TLS connection (a TLS 1.3 server reports a refused client
    /// certificate only after the client finished its side of the handshake).
    Established,
}

impl TlsError {
    /// A TLS error a user can act on, from an I/O error of a TLS stream; `None` when it is an
    /// ordinary I/O failure (a reset, a timeout) that a reconnect may fix.
    pub(crate) fn from_io(addr: &str, error: &io::Error, phase: Phase) -> Option<TlsError> {
        let make = |message: String| {
            Some(TlsError {
                addr: addr.to_owned(),
                message,
            })
        };
        if let Some(tls) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return make(describe(tls, host_of(addr))?);
        }
        // A plaintext listener reads our ClientHello as the length of a huge request and
        // closes the connection without a word (Kafka's `InvalidReceiveException`); a TLS
        // listener always answers a ClientHello.
        if phase == Phase::Handshake
            && matches!(
                error.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            )
        {
            return make(
                "the broker closed the connection during the TLS handshake: this port is \
                 probably a PLAINTEXT or SASL_PLAINTEXT listener; check security.protocol \
                 (SSL / SASL_SSL only for TLS listeners) and the port in bootstrap.servers"
                    .to_owned(),
            );
        }
        None
    }
}

/// Words for the rustls errors a user can fix; `None` for the others.
fn describe(error: &rustls::Error, host: &str) -> Option<String> {
    use rustls::Error as E;
    let message = match error {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the broker's certificate is not trusted (its issuer is not in the trust \
                 store): set ssl.truststore.location / ssl.ca.location to the CA that signed \
                 it ({cert:?})"
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "the broker's certificate has expired ({cert:?}): renew the broker's \
                 certificate (its ssl.keystore.location), or check this machine's clock"
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!(
                    "the broker's certificate is not valid yet ({cert:?}): check this \
                     machine's clock and the broker's ssl.keystore.location"
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the broker's certificate is not valid for the host name `{host}` \
                     ({cert:?}): dial a name the certificate holds in bootstrap.servers, or \
                     turn host name verification off with \
                     ssl.endpoint.identification.algorithm= (empty)"
                )
            }
            other => format!(
                "the broker's certificate was refused ({other:?}): check the broker's \
                 certificate and ssl.truststore.location / ssl.ca.location"
            ),
        },
        E::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied => format!(
                "the broker refused our client certificate (TLS alert {alert:?}): it requires \
                 one it trusts (ssl.client.auth=required); set ssl.keystore.location \
                 (ssl.keystore.type=PEM) or ssl.certificate.location + ssl.key.location"
            ),
            AlertDescription::HandshakeFailure
            | AlertDescription::ProtocolVersion
            | AlertDescription::InsufficientSecurity
            | AlertDescription::IllegalParameter => format!(
                "the broker ended the TLS handshake (alert {alert:?}): no protocol version or \
                 cipher suite in common, or a client certificate it wants; check the broker's \
                 ssl.enabled.protocols / ssl.cipher.suites and ssl.keystore.location"
            ),
            _ => return None,
        },
        E::InvalidMessage(_) | E::InappropriateHandshakeMessage { .. } => format!(
            "the broker did not speak TLS ({error}): this port is probably a PLAINTEXT or \
             SASL_PLAINTEXT listener; check security.protocol and the port in bootstrap.servers"
        ),
        E::NoCertificatesPresented => {
            "the broker presented no certificate: check the broker's ssl.keystore.location"
                .to_owned()
        }
        E::PeerIncompatible(_) | E::PeerMisbehaved(_) => format!(
            "the broker's TLS cannot be used with ours ({error}): check the broker's \
             ssl.enabled.protocols / ssl.cipher.suites"
        ),
        _ => return None,
    };
    Some(message)
}

/// The first bytes of a TLS record (RFC 8446 §5.1: content type alert (21) or handshake (22),
/// legacy version 3.x): a TLS listener's answer to bytes that were not a ClientHello.
pub(crate) fn looks_like_tls(first: &[u8]) -> bool {
    matches!(first, [21 | 22, 3, ..])
}

/// The message for a plaintext connection answered in TLS.
pub(crate) fn tls_listener_error(addr: &str) -> TlsError {
    TlsError {
        addr: addr.to_owned(),
        message: "the broker answered in TLS: this port is a TLS listener; set \
                  security.protocol=SSL (or SASL_SSL) and ssl.truststore.location / \
                  ssl.ca.location"
            .to_owned(),
    }
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is still verified against the
/// trust store, only the host name check is skipped (what Java does with the setting empty).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPkiServerVerifier checks the chain first and the name last, so a name error means
        // the chain was trusted.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_takes_the_host_part() {
        assert_eq!(host_of("localhost:9093"), "localhost");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("broker"), "broker");
    }

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(&[21, 3, 3, 0, 2]));
        assert!(looks_like_tls(&[22, 3, 1]));
        assert!(!looks_like_tls(&[0, 0, 0, 12]));
        assert!(!looks_like_tls(&[21]));
    }

    #[test]
    fn missing_and_encrypted_files_name_their_setting() {
        let missing = TlsSettings {
            ca_location: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let err = missing.build().unwrap_err();
        assert!(err.to_string().contains("ssl.ca.location"), "{err}");

        let dir = std::env::temp_dir().join(format!("kafkatx-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = read_key(&key).unwrap_err();
        assert_eq!(err.setting, "ssl.key.password");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_roots_build_without_files() {
        let config = TlsSettings {
            verify_hostname: true,
            ..TlsSettings::default()
        }
        .build()
        .unwrap();
        assert!(config.settings().verify_hostname);
    }
}
