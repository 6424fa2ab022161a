//! `https://` targets of `kafkatx load`: rustls on graviola, the wire crate's client
//! configuration (the same PEM trust store reading as for brokers), the host name of the URL
//! checked against the gateway's certificate (RFC 6125).

use std::path::Path;
use std::sync::Arc;

use kafkatx_wire::TlsSettings;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::LoadError;

/// The client configuration trusting the PEM CA certificates of `ca`, or the Mozilla roots
/// (webpki-roots) without one.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, LoadError> {
    let settings = TlsSettings {
        ca_location: ca.map(Path::to_owned),
        verify_hostname: true,
        ..TlsSettings::default()
    };
    // The wire crate names Kafka's settings in its messages; only the reason applies here.
    let built = settings
        .build()
        .map_err(|e| LoadError::Tls(e.reason.clone()))?;
    Ok(Arc::clone(built.client_config()))
}

/// The TLS handshake with the host of `authority` (`host:port`, `[v6]:port`).
pub async fn connect(
    config: &Arc<rustls::ClientConfig>,
    authority: &str,
    stream: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let host = host_of(authority);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| format!("`{host}` is not a host name TLS can check"))?;
    TlsConnector::from(Arc::clone(config))
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS with {authority}: {e}"))
}

fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_the_authority_without_its_port() {
        assert_eq!(host_of("localhost:3443"), "localhost");
        assert_eq!(host_of("127.0.0.1:443"), "127.0.0.1");
        assert_eq!(host_of("[::1]:3443"), "::1");
    }

    #[test]
    fn an_unreadable_ca_is_an_error_naming_the_file() {
        let error = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(error.to_string().starts_with("--ca: "), "{error}");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }
}
