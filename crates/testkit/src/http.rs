//! The one raw HTTP/1.1 client of the tests: a request written byte for byte, the answer read
//! to the end of the connection (or, with [`exchange`], by its Content-Length on a kept-alive
//! one) and parsed without a client library, so that tests see the headers as sent.
//!
//! The plain helpers ([`get`], [`post`], [`request`], [`send_raw`]) fail the test on an I/O
//! error; [`try_request`] returns it, for tests that expect the gateway to go away.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The status and the body as text.
    pub fn status_and_text(&self) -> (u16, String) {
        (self.status, self.text())
    }

    /// The body as text (lossy: a test that prints it must not fail on bad UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Checks the stable error shape and returns its code.
    pub fn error_code(&self) -> String {
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].is_string(), "no message in {json}");
        assert!(error["outcome"].is_string(), "no outcome in {json}");
        error["code"].as_str().unwrap().to_owned()
    }
}

/// Sends raw bytes, reads until the server closes, parses the response.
pub async fn send_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_response(&mut stream).await
}

/// Reads until the server closes, parses the response.
pub async fn read_response(stream: &mut TcpStream) -> HttpResponse {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

/// Parses a whole answer; panics (fails the test) on one that is not HTTP.
pub fn parse_response(raw: &[u8]) -> HttpResponse {
    try_parse_response(raw).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(raw)))
}

/// Parses a whole answer; `Err` says what is wrong with it.
pub fn try_parse_response(raw: &[u8]) -> std::io::Result<HttpResponse> {
    let malformed =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| malformed("no header end"))?;
    let head = std::str::from_utf8(raw.get(..split).unwrap_or_default())
        .map_err(|_| malformed("a head that is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| malformed("no status code"))?;
    let headers = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| malformed("a bad header"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<std::io::Result<_>>()?;
    Ok(HttpResponse {
        status,
        headers,
        body: raw.get(split + 4..).unwrap_or_default().to_vec(),
    })
}

/// `GET path` on a new connection.
pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    send_raw(addr, request.as_bytes()).await
}

/// The bytes of `POST path` with a JSON body and `Connection: close`.
pub fn post_request(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Sends one request with exactly these headers (plus Host, Connection: close and, with a body,
/// Content-Length).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    send_raw(addr, &request_bytes(method, path, headers, body)).await
}

/// [`request`], with an I/O failure or an unreadable answer (the gateway went away) as `Err`.
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(&request_bytes(method, path, headers, body))
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    try_parse_response(&raw)
}

fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    raw.push_str("\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `POST path` with a JSON body on a new connection.
pub async fn post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    send_raw(addr, post_request(path, body).as_bytes()).await
}

/// Parses OpenMetrics/Prometheus text into (name, labels, value), rejecting any malformed line.
pub fn parse_exposition(text: &str) -> Vec<(String, String, f64)> {
    assert_eq!(text.lines().last(), Some("# EOF"));
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with("# ") {
            let kind = line.split(' ').nth(1).unwrap();
            assert!(
                ["TYPE", "HELP", "UNIT", "EOF"].contains(&kind),
                "bad comment {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("unclosed labels")),
            None => (series, ""),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name {name:?}"
        );
        samples.push((name.to_owned(), labels.to_owned(), value));
    }
    samples
}

/// `bytes` as one gzip member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Sends `request` on a kept-alive connection and reads exactly one answer, by its
/// Content-Length, so the connection stays usable; `Err` when the connection fails or closes.
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
            let head = try_parse_response(raw.get(..end + 4).unwrap_or_default())?;
            let length: usize = head
                .header("content-length")
                .map_or(Ok(0), str::parse)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad length"))?;
            if raw.len() >= end + 4 + length {
                return try_parse_response(raw.get(..end + 4 + length).unwrap_or_default());
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}
