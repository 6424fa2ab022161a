//! HTTPS for the gateway (`--tls-cert`, `--tls-key`, optionally `--tls-client-ca`): rustls on
//! graviola's crypto, as for brokers (docs/ARCHITECTURE.md, "TLS": no C in the build).
//!
//! The served certificate lives in a [`CertStore`] that rustls consults at every handshake, so
//! it can be replaced while connections stay open ([`reload`]). With `--tls-client-ca` client
//! certificates are verified against that CA (RFC 8446 section 4.3.2, CertificateRequest);
//! whether one is required is [`ClientAuth`].

pub mod certificate;
pub mod reload;
pub mod subject;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig as RustlsServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

pub use reload::{CertStore, watch};
pub use subject::common_name;

/// A TLS flag that cannot be used, naming the flag to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {reason}")]
pub struct ServerTlsError {
    /// The command-line flag at fault.
    pub flag: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Whether a client must present a certificate signed by `--tls-client-ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// The handshake fails without a verified client certificate.
    Required,
    /// A certificate, if presented, must verify; without one the client may still send an API
    /// key.
    Optional,
}

/// The files of the gateway's TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's own first (`--tls-cert`).
    pub cert: PathBuf,
    /// PEM private key of that certificate, unencrypted (`--tls-key`).
    pub key: PathBuf,
    /// PEM CA certificates that sign client certificates (`--tls-client-ca`), and whether one
    /// is required.
    pub client_ca: Option<(PathBuf, ClientAuth)>,
}

/// The gateway's TLS: the acceptor for connections and the store to reload.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
    store: Arc<CertStore>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the files and builds the configuration; every problem is an error naming its flag.
    pub fn load(files: &TlsFiles) -> Result<Self, ServerTlsError> {
        if !rustls_graviola_cpu_ok() {
            return Err(ServerTlsError {
                flag: "--tls-cert",
                reason: "TLS in kafkatx uses graviola's assembly, which needs CPU features \
                         (AES, PCLMULQDQ, AVX2, BMI1/2, ADX on x86_64) this machine lacks"
                    .to_owned(),
            });
        }
        let provider = Arc::new(rustls_graviola::default_provider());
        let store = Arc::new(CertStore::load(
            &files.cert,
            &files.key,
            Arc::clone(&provider),
        )?);
        let builder = RustlsServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerTlsError {
                flag: "--tls-cert",
                reason: e.to_string(),
            })?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some((path, mode)) => {
                let roots = certificate::load_roots(path)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match mode {
                    ClientAuth::Required => verifier,
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier.build().map_err(|e| ServerTlsError {
                    flag: "--tls-client-ca",
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::clone(&store) as _);
        config.session_storage = Arc::clone(&store) as _;
        // RFC 7301: say which protocol we speak, so a client offering h2 first falls back.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            store,
        })
    }

    /// Runs server handshakes.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The served certificate, to reload.
    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }
}

/// graviola asserts its CPU features on first use; refuse the configuration instead of
/// letting the first handshake panic (the wire crate checks the same for brokers).
fn rustls_graviola_cpu_ok() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("aes")
            && has!("pclmulqdq")
            && has!("bmi1")
            && has!("bmi2")
            && has!("adx")
            && has!("avx")
            && has!("avx2")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("sha2")
            && std::arch::is_aarch64_feature_detected!("pmull")
            && std::arch::is_aarch64_feature_detected!("neon")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
