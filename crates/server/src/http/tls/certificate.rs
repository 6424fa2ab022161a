//! Reading `--tls-cert`, `--tls-key` and `--tls-client-ca` (PEM, RFC 7468) into what rustls
//! serves, with errors that name the flag and the file.

use std::path::Path;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys, RootCertStore};

use super::ServerTlsError;

/// The certificate chain of `cert` with the private key of `key`, checked to belong together.
pub fn load_certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ServerTlsError> {
    let chain = read_certificates(cert, "--tls-cert")?;
    let key_der = read_key(key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| ServerTlsError {
            flag: "--tls-key",
            reason: format!("the private key in {} cannot be used: {e}", key.display()),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the provider cannot tell the key's public half; rustls itself accepts that.
        Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => Err(ServerTlsError {
            flag: "--tls-key",
            reason: format!(
                "the private key in {} is not the key of the certificate in {} (the first \
                 certificate of the file must be the server's own)",
                key.display(),
                cert.display()
            ),
        }),
        Err(e) => Err(ServerTlsError {
            flag: "--tls-cert",
            reason: format!("the certificate in {} cannot be used: {e}", cert.display()),
        }),
    }
}

/// The CA certificates of `--tls-client-ca`.
pub fn load_roots(path: &Path) -> Result<RootCertStore, ServerTlsError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) =
        roots.add_parsable_certificates(read_certificates(path, "--tls-client-ca")?);
    if added == 0 {
        return Err(ServerTlsError {
            flag: "--tls-client-ca",
            reason: format!("{} holds no usable CA certificate", path.display()),
        });
    }
    Ok(roots)
}

fn read_file(path: &Path, flag: &'static str) -> Result<Vec<u8>, ServerTlsError> {
    std::fs::read(path).map_err(|e| ServerTlsError {
        flag,
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

fn read_certificates(
    path: &Path,
    flag: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ServerTlsError> {
    let pem = read_file(path, flag)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerTlsError {
            flag,
            reason: format!("{} is not valid PEM: {e}", path.display()),
        })?;
    if certs.is_empty() {
        return Err(ServerTlsError {
            flag,
            reason: format!("{} holds no CERTIFICATE block", path.display()),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerTlsError> {
    let pem = read_file(path, "--tls-key")?;
    // pki-types skips sections it does not know, so an encrypted key would read as "no key":
    // say what it is (RFC 5958 EncryptedPrivateKeyInfo, or OpenSSL's legacy header).
    let text = String::from_utf8_lossy(&pem);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(ServerTlsError {
            flag: "--tls-key",
            reason: format!(
                "the private key in {} is encrypted; kafkatx reads only unencrypted keys \
                 (openssl pkcs8 -topk8 -nocrypt)",
                path.display()
            ),
        });
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| ServerTlsError {
        flag: "--tls-key",
        reason: format!("{} holds no usable private key: {e}", path.display()),
    })
}
