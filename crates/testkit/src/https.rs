//! HTTPS from the tests' side: a TLS client on graviola, and requests on a kept-alive
//! connection (answers read with [`exchange`], by their Content-Length).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::http::HttpResponse;
pub use crate::http::exchange;

/// Connects and runs the handshake for `localhost`.
pub async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = TlsConnector::from(config).connect(name, tcp).await?;
    // TLS 1.3 servers refuse a client certificate after the client's handshake is done: the
    // refusal arrives with the first read, so a connect that "worked" may still be refused.
    stream.flush().await?;
    Ok(stream)
}

/// The common name of the certificate the server presented (the gateway's own parser of
/// certificate subjects, `kafkatx_server::http::tls::common_name`, is passed in: the kit does
/// not depend on the gateway).
pub fn server_name_of(
    stream: &TlsStream<TcpStream>,
    common_name: impl Fn(&[u8]) -> Option<String>,
) -> Option<String> {
    common_name(stream.get_ref().1.peer_certificates()?.first()?)
}

/// A request with keep-alive, `headers` added, and a body when not empty.
pub fn keep_alive_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        raw.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    raw
}

/// One request on a new HTTPS connection.
pub async fn request(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<HttpResponse> {
    let mut stream = connect(addr, config).await?;
    exchange(
        &mut stream,
        &keep_alive_request(method, path, headers, body),
    )
    .await
}
