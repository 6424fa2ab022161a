//! HTTPS from the tests' side: a TLS client on graviola, and requests on a kept-alive
//! connection (one response read by its Content-Length, so the connection stays usable).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{HttpResponse, parse_response};

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

/// The common name of the certificate the server presented.
pub fn server_name_of(stream: &TlsStream<TcpStream>) -> Option<String> {
    let cert = stream.get_ref().1.peer_certificates()?.first()?;
    kafkatx_server::http::tls::common_name(cert)
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

/// Sends `request` and reads exactly one response; `Err` when the connection fails.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> std::io::Result<HttpResponse> {
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse_response(&raw[..end + 4]);
            let length: usize = head
                .header("content-length")
                .map_or(0, |v| v.parse().unwrap());
            if raw.len() >= end + 4 + length {
                return Ok(parse_response(&raw[..end + 4 + length]));
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(&chunk[..n]);
    }
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
