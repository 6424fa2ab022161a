//! Drives an HTTP server with C keep-alive connections, one request at a time on each, and
//! records every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::LoadError;
use super::ids::{RunId, record_value};
use super::outcome::{Outcome, RequestRecord, classify_answer};

/// Where the requests go: `http://host:port[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, for connecting and for the `Host` header.
    pub authority: String,
    /// Path prefix without a trailing `/` (often empty).
    pub path_prefix: String,
}

impl Target {
    /// Parses a base URL. Only plain `http` is supported: the gateway speaks no TLS.
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let bad = |reason| LoadError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let authority = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            path_prefix: path.trim_end_matches('/').to_owned(),
        })
    }
}

/// What each request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestShape {
    /// `GET {prefix}/{path}/{id}`: the seed's `errors` or `warnings`.
    Seed {
        /// `errors` or `warnings`.
        path: &'static str,
    },
    /// `POST {prefix}/v1/topics/{topic}/records` with `parts` records `rec: n - usr: {id}`.
    Records {
        /// Topic in the path.
        topic: String,
        /// Records per request.
        parts: u32,
    },
}

/// A whole run's parameters.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server.
    pub target: Target,
    /// Connections, each with one request in flight at a time.
    pub connections: usize,
    /// Stop after this many requests in total.
    pub max_requests: Option<u64>,
    /// Stop starting requests after this long.
    pub duration: Option<Duration>,
    /// What each request asks for.
    pub shape: RequestShape,
    /// How long one request may take before it counts as a timeout.
    pub request_timeout: Duration,
    /// Prefix of the request ids.
    pub run: RunId,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Every request, in no particular order.
    pub records: Vec<RequestRecord>,
    /// From the first request to the end of the last.
    pub elapsed: Duration,
}

/// State shared by the workers.
#[derive(Debug)]
struct Shared {
    plan: LoadPlan,
    next_number: AtomicU64,
    deadline: Option<Instant>,
}

impl Shared {
    /// The next request number, or `None` when the run is over.
    fn claim(&self) -> Option<u64> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        match self.plan.max_requests {
            Some(max) if number >= max => None,
            _ => Some(number),
        }
    }

    fn request(&self, number: u64) -> Result<Request<Full<Bytes>>, LoadError> {
        let id = self.plan.run.request_id(number);
        let prefix = &self.plan.target.path_prefix;
        let builder = Request::builder().header(hyper::header::HOST, &self.plan.target.authority);
        let built = match &self.plan.shape {
            RequestShape::Seed { path } => builder
                .method(Method::GET)
                .uri(format!("{prefix}/{path}/{id}"))
                .body(Full::new(Bytes::new())),
            RequestShape::Records { topic, parts } => {
                let records: Vec<serde_json::Value> = (1..=*parts)
                    .map(|part| serde_json::json!({ "value": record_value(part, &id) }))
                    .collect();
                let body = serde_json::json!({ "records": records }).to_string();
                builder
                    .method(Method::POST)
                    .uri(format!("{prefix}/v1/topics/{topic}/records"))
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body)))
            }
        };
        built.map_err(|e| LoadError::Request(e.to_string()))
    }
}

/// Why one exchange got no answer.
enum NoAnswer {
    /// The connection could not be opened: nothing was sent.
    Connect(String),
    /// The connection failed after the request may have been sent.
    Lost(String),
}

/// Runs the plan to its end and returns every request.
pub async fn drive(plan: LoadPlan) -> Result<LoadRun, LoadError> {
    let connections = plan.connections.max(1);
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: plan.duration.map(|d| started + d),
        plan,
        next_number: AtomicU64::new(0),
    });
    // Fail before any load if the request cannot even be built.
    shared.request(0)?;
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();
    let mut records = Vec::new();
    for worker in workers {
        records.extend(worker.await.map_err(|e| LoadError::Worker(e.to_string()))?);
    }
    Ok(LoadRun {
        records,
        elapsed: started.elapsed(),
    })
}

/// One connection's loop: claim a number, send, record, repeat.
async fn worker(shared: Arc<Shared>) -> Vec<RequestRecord> {
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut records = Vec::new();
    while let Some(number) = shared.claim() {
        let started = Instant::now();
        let answer = match shared.request(number) {
            Ok(request) => {
                tokio::time::timeout(
                    shared.plan.request_timeout,
                    exchange(&shared.plan.target, &mut sender, request),
                )
                .await
            }
            Err(e) => Ok(Err(NoAnswer::Connect(e.to_string()))),
        };
        let latency = started.elapsed();
        let (status, outcome, error_kind) = match answer {
            Ok(Ok((status, body))) => {
                let (outcome, kind) = classify_answer(status, &body);
                (Some(status), outcome, kind)
            }
            Ok(Err(NoAnswer::Connect(reason))) => {
                tracing::debug!(%reason, "load: cannot connect");
                sender = None;
                // Do not spin on a server that is down.
                tokio::time::sleep(Duration::from_millis(50)).await;
                (None, Outcome::Failed, Some("connect failed".to_owned()))
            }
            Ok(Err(NoAnswer::Lost(reason))) => {
                tracing::debug!(%reason, "load: connection lost");
                sender = None;
                (None, Outcome::Unknown, Some("connection lost".to_owned()))
            }
            Err(_) => {
                // The request may still be running on the server; this connection is unusable.
                sender = None;
                (None, Outcome::Unknown, Some("timeout".to_owned()))
            }
        };
        records.push(RequestRecord {
            number,
            status,
            outcome,
            error_kind,
            latency,
        });
    }
    records
}

/// Sends one request on the kept-alive connection, opening a new one if it is closed.
async fn exchange(
    target: &Target,
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    request: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), NoAnswer> {
    let reusable = match sender.as_mut() {
        Some(s) => s.ready().await.is_ok(),
        None => false,
    };
    if !reusable {
        *sender = Some(connect(target).await.map_err(NoAnswer::Connect)?);
    }
    let Some(open) = sender.as_mut() else {
        return Err(NoAnswer::Connect("no connection".to_owned()));
    };
    let response = open
        .send_request(request)
        .await
        .map_err(|e| NoAnswer::Lost(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| NoAnswer::Lost(e.to_string()))?
        .to_bytes();
    Ok((status, body))
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .map_err(|e| format!("{}: {e}", target.authority))?;
    // Small requests and answers: do not let Nagle hold them back.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "load: connection ended");
        }
    });
    sender.ready().await.map_err(|e| e.to_string())?;
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_authority_and_prefix() {
        assert_eq!(
            Target::parse("http://127.0.0.1:3001").unwrap(),
            Target {
                authority: "127.0.0.1:3001".into(),
                path_prefix: String::new()
            }
        );
        let with_prefix = Target::parse("http://gw/api/").unwrap();
        assert_eq!(with_prefix.authority, "gw:80");
        assert_eq!(with_prefix.path_prefix, "/api");
        assert!(Target::parse("https://x:1").is_err());
        assert!(Target::parse("http:///x").is_err());
    }
}
