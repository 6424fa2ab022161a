//! Drives an HTTP server (or several, e.g. two gateways) with C keep-alive connections, one
//! request at a time on each, optionally at a fixed total rate, and records every request.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::LoadError;
use super::ids::{RunId, record_value, transaction_value};
use super::outcome::{Outcome, RequestRecord, classify_answer};

/// Where the requests go: `http://host:port[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, for connecting and for the `Host` header.
    pub authority: String,
    /// Path prefix without a trailing `/` (often empty).
    pub path_prefix: String,
    /// `https://`: every connection starts with a TLS handshake.
    pub https: bool,
}

impl Target {
    /// Parses a comma-separated list of base URLs (`http://a:1,http://b:2`): the servers a run
    /// spreads its connections over.
    pub fn parse_list(urls: &str) -> Result<Vec<Self>, LoadError> {
        let targets = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(Self::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err(LoadError::BadUrl {
                url: urls.to_owned(),
                reason: "no URL",
            });
        }
        Ok(targets)
    }

    /// Parses a base URL (`http://` or `https://`).
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let bad = |reason| LoadError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let (rest, https, port) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, false, 80)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (rest, true, 443)
        } else {
            return Err(bad("only http:// and https:// URLs are supported"));
        };
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
            format!("{authority}:{port}")
        };
        Ok(Self {
            authority,
            path_prefix: path.trim_end_matches('/').to_owned(),
            https,
        })
    }
}

/// What each request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestShape {
    /// `GET {prefix}/{path}/{id}`: the pair endpoints, `errors` or `warnings`.
    Pair {
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
    /// `POST {prefix}/v1/transactions` with `parts` records `txn: n - usr: {id}`, record `n`
    /// to `topics[(n - 1) % topics.len()]`: one transaction across topics.
    Transactions {
        /// The topics the records go to, in turn.
        topics: Vec<String>,
        /// Records per request.
        parts: u32,
    },
}

/// A whole run's parameters.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The servers. Connection `i` belongs to `targets[i % len]`; when its server cannot be
    /// reached it uses the next one that can, and tries its own again a second later.
    pub targets: Vec<Target>,
    /// Connections, each with one request in flight at a time.
    pub connections: usize,
    /// Requests started per second, over all connections (`None`: as fast as answers come).
    /// Requests that could not start on time (every connection was waiting for an answer) are
    /// caught up by at most one second's worth: the rate never bursts far above itself after a
    /// stall.
    pub rate: Option<f64>,
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
    /// The TLS client of `https://` targets (see [`super::tls::client_config`]).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Send every request with `Idempotency-Key: <request id>` and retry it with the same
    /// key, for up to this long, until its outcome is known (see [`needs_retry`]).
    pub keyed_retries: Option<Duration>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Every request, in no particular order.
    pub records: Vec<RequestRecord>,
    /// From the first request to the end of the last.
    pub elapsed: Duration,
    /// The wall-clock time the run started (what [`RequestRecord::sent_at`] counts from).
    pub started: SystemTime,
}

/// How long a connection that had to use another server than its own keeps it before it tries
/// its own again.
const FALLBACK_CONNECTION_LIFETIME: Duration = Duration::from_secs(1);

/// How far behind its schedule a rate-limited run may fall and still catch up.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// State shared by the workers.
#[derive(Debug)]
struct Shared {
    plan: LoadPlan,
    next_number: AtomicU64,
    started: Instant,
    deadline: Option<Instant>,
    stopped: AtomicBool,
    /// When the next request is due, with `--rate`.
    next_due: Mutex<Instant>,
}

impl Shared {
    /// The next request number and when it is due, or `None` when the run is over.
    fn claim(&self) -> Option<(u64, Option<Instant>)> {
        let over = |at: Instant| self.deadline.is_some_and(|d| at >= d);
        if self.stopped.load(Ordering::Relaxed) || over(Instant::now()) {
            return None;
        }
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        if self.plan.max_requests.is_some_and(|max| number >= max) {
            return None;
        }
        let due = self
            .plan
            .rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|rate| {
                let mut next = self.next_due.lock().unwrap_or_else(PoisonError::into_inner);
                let floor = Instant::now()
                    .checked_sub(MAX_CATCH_UP)
                    .unwrap_or(self.started);
                let due = (*next).max(floor);
                *next = due + Duration::from_secs_f64(1.0 / rate);
                due
            });
        if due.is_some_and(over) {
            return None;
        }
        Some((number, due))
    }

    fn request(&self, number: u64, target: usize) -> Result<Request<Full<Bytes>>, LoadError> {
        let id = self.plan.run.request_id(number);
        let target = self
            .plan
            .targets
            .get(target)
            .ok_or_else(|| LoadError::Request(format!("no URL number {target}")))?;
        let prefix = &target.path_prefix;
        let builder = Request::builder().header(hyper::header::HOST, &target.authority);
        let builder = if self.plan.keyed_retries.is_some() {
            builder.header("idempotency-key", id.to_string())
        } else {
            builder
        };
        let built = match &self.plan.shape {
            RequestShape::Pair { path } => builder
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
            RequestShape::Transactions { topics, parts } => {
                let records: Vec<serde_json::Value> = (1..=*parts)
                    .zip(topics.iter().cycle())
                    .map(|(part, topic)| {
                        serde_json::json!({ "topic": topic, "value": transaction_value(part, &id) })
                    })
                    .collect();
                let body = serde_json::json!({ "records": records }).to_string();
                builder
                    .method(Method::POST)
                    .uri(format!("{prefix}/v1/transactions"))
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
    drive_until(plan, std::future::pending()).await
}

/// Runs the plan until its end or until `stop` completes, whichever comes first; after `stop`
/// no request is started, those in flight are finished and recorded.
pub async fn drive_until(
    plan: LoadPlan,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<LoadRun, LoadError> {
    let connections = plan.connections.max(1);
    if plan.targets.is_empty() {
        return Err(LoadError::Request("no URL to send to".to_owned()));
    }
    let started_wall = SystemTime::now();
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: plan.duration.map(|d| started + d),
        plan,
        next_number: AtomicU64::new(0),
        started,
        stopped: AtomicBool::new(false),
        next_due: Mutex::new(started),
    });
    // Fail before any load if the request cannot even be built.
    shared.request(0, 0)?;
    let stopper = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            stop.await;
            shared.stopped.store(true, Ordering::Relaxed);
        })
    };
    let workers: Vec<_> = (0..connections)
        .map(|index| tokio::spawn(worker(Arc::clone(&shared), index)))
        .collect();
    let mut records = Vec::new();
    for worker in workers {
        records.extend(worker.await.map_err(|e| LoadError::Worker(e.to_string()))?);
    }
    stopper.abort();
    Ok(LoadRun {
        records,
        elapsed: started.elapsed(),
        started: started_wall,
    })
}

/// A worker's open connection.
struct Open {
    sender: SendRequest<Full<Bytes>>,
    /// Index of the server it goes to.
    target: usize,
    opened: Instant,
}

/// One connection's loop: claim a number, wait until it is due, send, record, repeat.
async fn worker(shared: Arc<Shared>, index: usize) -> Vec<RequestRecord> {
    let home = index % shared.plan.targets.len();
    let mut open: Option<Open> = None;
    let mut records = Vec::new();
    while let Some((number, due)) = shared.claim() {
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
        }
        // A connection to another server than this worker's own was a fallback: try ours again.
        if open
            .as_ref()
            .is_some_and(|o| o.target != home && o.opened.elapsed() >= FALLBACK_CONNECTION_LIFETIME)
        {
            open = None;
        }
        let started = Instant::now();
        let mut attempts = 0;
        let mut unsure = false;
        let mut pause = Duration::from_millis(50);
        let (status, outcome, error_kind) = loop {
            attempts += 1;
            let mut answer = attempt(&shared, home, number, &mut open).await;
            unsure |= answer.1 == Outcome::Unknown;
            if unsure && answer.1 == Outcome::Failed {
                // "Nothing written" speaks for this try only: an earlier one may have committed.
                answer.1 = Outcome::Unknown;
            }
            let give_up = shared
                .plan
                .keyed_retries
                .is_none_or(|window| started.elapsed() >= window);
            if give_up || !needs_retry(&answer) {
                break answer;
            }
            // The same key again: the gateway replays a commit, or runs it if nothing committed.
            // Backing off, as a client should from a gateway that is saturated.
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        };
        let latency = started.elapsed();
        let target = open.as_ref().map_or(home, |o| o.target);
        records.push(RequestRecord {
            number,
            status,
            outcome,
            error_kind,
            latency,
            sent_at: started.saturating_duration_since(shared.started),
            target,
            attempts,
        });
    }
    records
}

/// What one try of a request ended with: status, outcome, failure label.
type Attempt = (Option<u16>, Outcome, Option<String>);

/// A keyed request is tried again until it gets a 2xx or a 4xx other than 409, as the README
/// tells clients to: after a timeout, a lost connection, no connection, 409 (an earlier try
/// still running) or any 5xx. A 503 or 500 on a retry only says that *this* try wrote
/// nothing, not what an earlier one did; the retry that gets through says.
pub fn needs_retry(answer: &Attempt) -> bool {
    match answer {
        (_, Outcome::Unknown, _) | (None, _, _) => true,
        (Some(status), _, _) => *status == 409 || *status >= 500,
    }
}

/// Sends request `number` once and classifies what came back.
async fn attempt(shared: &Shared, home: usize, number: u64, open: &mut Option<Open>) -> Attempt {
    let answer = tokio::time::timeout(
        shared.plan.request_timeout,
        exchange(shared, home, number, open),
    )
    .await;
    match answer {
        Ok(Ok((status, body))) => {
            let (outcome, kind) = classify_answer(status, &body);
            (Some(status), outcome, kind)
        }
        Ok(Err(NoAnswer::Connect(reason))) => {
            tracing::debug!(%reason, "load: cannot connect");
            *open = None;
            // Do not spin on a server that is down.
            tokio::time::sleep(Duration::from_millis(50)).await;
            (None, Outcome::Failed, Some("connect failed".to_owned()))
        }
        Ok(Err(NoAnswer::Lost(reason))) => {
            tracing::debug!(%reason, "load: connection lost");
            *open = None;
            (None, Outcome::Unknown, Some("connection lost".to_owned()))
        }
        Err(_) => {
            // The request may still be running on the server; this connection is unusable.
            *open = None;
            (None, Outcome::Unknown, Some("timeout".to_owned()))
        }
    }
}

/// Sends request `number` on the kept-alive connection, opening a new one if it is closed: to
/// this worker's own server, or else to the next one that accepts a connection.
async fn exchange(
    shared: &Shared,
    home: usize,
    number: u64,
    open: &mut Option<Open>,
) -> Result<(u16, Bytes), NoAnswer> {
    let reusable = match open.as_mut() {
        Some(o) => o.sender.ready().await.is_ok(),
        None => false,
    };
    if !reusable {
        *open = None;
        let targets = &shared.plan.targets;
        let mut failures = Vec::new();
        for step in 0..targets.len() {
            let at = (home + step) % targets.len();
            let Some(target) = targets.get(at) else {
                continue;
            };
            match connect(target, shared.plan.tls.as_ref()).await {
                Ok(sender) => {
                    *open = Some(Open {
                        sender,
                        target: at,
                        opened: Instant::now(),
                    });
                    break;
                }
                Err(e) => failures.push(e),
            }
        }
        if open.is_none() {
            return Err(NoAnswer::Connect(failures.join("; ")));
        }
    }
    let Some(o) = open.as_mut() else {
        return Err(NoAnswer::Connect("no connection".to_owned()));
    };
    let request = shared
        .request(number, o.target)
        .map_err(|e| NoAnswer::Connect(e.to_string()))?;
    let response = o
        .sender
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

async fn connect(
    target: &Target,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .map_err(|e| format!("{}: {e}", target.authority))?;
    // Small requests and answers: do not let Nagle hold them back.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    match (target.https, tls) {
        (false, _) => handshake(stream).await,
        (true, Some(config)) => {
            handshake(super::tls::connect(config, &target.authority, stream).await?).await
        }
        (true, None) => Err("an https:// target needs a TLS configuration".to_owned()),
    }
}

/// HTTP/1.1 on an open connection, its driver on a task of its own.
async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
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
                path_prefix: String::new(),
                https: false,
            }
        );
        let with_prefix = Target::parse("http://gw/api/").unwrap();
        assert_eq!(with_prefix.authority, "gw:80");
        assert_eq!(with_prefix.path_prefix, "/api");
        let https = Target::parse("https://gw").unwrap();
        assert_eq!((https.authority.as_str(), https.https), ("gw:443", true));
        assert!(Target::parse("ftp://x:1").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    #[test]
    fn url_lists_split_on_commas() {
        let targets = Target::parse_list("http://a:1, http://b:2/p").unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[1].authority, "b:2");
        assert_eq!(targets[1].path_prefix, "/p");
        assert!(Target::parse_list(" , ").is_err());
        assert!(Target::parse_list("http://a:1,ftp://b").is_err());
    }
}
