//! One pipelined connection to one broker.
//!
//! Many requests can be in flight at once: each gets a correlation id and a one-shot slot in
//! `pending`; a reader task hands every response frame to the slot with its id. A writer task
//! owns the write half so that concurrent senders never interleave bytes.
//!
//! The connection is *poisoned* by the first EOF, I/O error, broken frame, unknown correlation
//! id, undecodable answer or request timeout: every waiter gets an error at once and every
//! later request fails fast with [`WireError::Poisoned`]. Kafka answers requests on a
//! connection in order, so after any of these nothing later on the socket can be trusted;
//! the owner reconnects.
//!
//! With [`ConnectOptions::sasl`] set, the connection authenticates right after ApiVersions
//! (see [`crate::sasl`]). If the broker limits the session (KIP-368), the connection stops
//! taking requests at [`SESSION_REFRESH_FRACTION`] of the lifetime, before the broker would
//! close it: answers to requests already sent still arrive, new ones fail with
//! [`WireError::SessionExpired`] without being sent, and [`Connection::is_closed`] turns true,
//! so the owner reconnects and authenticates again. Re-authenticating in place (KIP-368's
//! other option) is not done: a fresh connection is simpler and costs one handshake.
//!
//! With [`ConnectOptions::tls`] set, the TCP stream is wrapped in TLS before anything else
//! (`security.protocol=SSL`, or `SASL_SSL` with `sasl` set too); see [`crate::tls`]. The reader
//! and writer tasks are generic over the stream, so framing and pipelining are the same.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::codec::{api_key_of, decode_response, encode_request, peek_correlation_id};
use crate::error::WireError;
use crate::frame::{DEFAULT_MAX_FRAME_BYTES, split_frame};
use crate::protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::protocol::{Request, StrBytes};
use crate::sasl::{self, SaslCredentials};
use crate::tls::{self, Phase, TlsConfig, TlsError};
use crate::versions::{BrokerVersions, our_range};

/// Kafka's error code for "unsupported version", used by the ApiVersions fallback.
const UNSUPPORTED_VERSION: i16 = 35;

/// The share of a SASL session after which a connection takes no new request. Java's client
/// re-authenticates between 85% and 95%; the earliest point leaves the most room for a
/// request sent just before it to reach the broker in time.
pub const SESSION_REFRESH_FRACTION: f64 = 0.85;

/// How to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Sent in every request header (`client.id`).
    pub client_id: String,
    /// Sent in ApiVersions v3+ so brokers can report which clients connect.
    pub software_name: String,
    /// Sent with `software_name` (ApiVersions v3+); defaults to this crate's version.
    pub software_version: String,
    /// How long the TCP connect, and then the TLS handshake, may each take before
    /// [`WireError::ConnectTimeout`].
    pub connect_timeout: Duration,
    /// How long a request may wait for its answer (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// Longest frame accepted from the broker.
    pub max_frame_bytes: usize,
    /// Authenticate with SASL after ApiVersions (`security.protocol=SASL_PLAINTEXT`);
    /// `None` (the default) sends no SASL at all.
    pub sasl: Option<SaslCredentials>,
    /// Speak TLS (`security.protocol=SSL` / `SASL_SSL`); `None` (the default) is plaintext.
    /// The server name for SNI and host name verification is the host of the address dialled.
    pub tls: Option<TlsConfig>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_id: "kafkatx".to_owned(),
            software_name: "kafkatx".to_owned(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            sasl: None,
            tls: None,
        }
    }
}

type Slot = oneshot::Sender<Result<Bytes, WireError>>;

/// State shared by the handle, the reader and the writer.
#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Requests on the wire by correlation id; `None` once their caller stopped waiting.
    slots: HashMap<i32, Option<Slot>>,
    /// Set once; after that no request is accepted.
    poisoned: Option<Arc<WireError>>,
}

impl Shared {
    // A poisoned std Mutex only means another thread panicked while holding it; the map is
    // still consistent (every operation on it is a single insert/remove), so keep going.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every waiter with `error` and refuses all later requests.
    fn poison(&self, error: WireError) {
        let slots = {
            let mut pending = self.lock();
            if pending.poisoned.is_some() {
                return;
            }
            tracing::debug!(%error, "connection poisoned");
            pending.poisoned = Some(Arc::new(error.clone()));
            std::mem::take(&mut pending.slots)
        };
        for slot in slots.into_values().flatten() {
            let _ = slot.send(Err(error.clone()));
        }
    }
}

#[derive(Debug)]
struct Inner {
    addr: String,
    options: ConnectOptions,
    versions: BrokerVersions,
    /// Set when the broker limits the SASL session: from then on no request is sent.
    session_end: Option<SessionEnd>,
    shared: Arc<Shared>,
    next_correlation_id: AtomicI32,
    /// Unbounded so that queueing never waits: callers bound what they have in flight.
    outgoing: mpsc::UnboundedSender<BytesMut>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// When a limited SASL session stops taking requests.
#[derive(Debug, Clone, Copy)]
struct SessionEnd {
    lifetime: Duration,
    refuse_from: tokio::time::Instant,
}

/// A cheap-to-clone handle to one broker connection. The socket closes when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl Connection {
    /// Connects to the first of `addresses` (a bootstrap list, tried in order) that answers;
    /// fails with the last one's error, or [`WireError::NoAddress`] for an empty list.
    pub async fn connect_any<'a>(
        addresses: impl IntoIterator<Item = &'a str>,
        options: ConnectOptions,
    ) -> Result<Connection, WireError> {
        let mut last = WireError::NoAddress;
        for address in addresses {
            match Connection::connect(address.trim(), options.clone()).await {
                Ok(connection) => return Ok(connection),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects, then runs the ApiVersions handshake so [`Connection::versions`] is known.
    pub async fn connect(addr: &str, options: ConnectOptions) -> Result<Connection, WireError> {
        let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| WireError::ConnectTimeout {
                addr: addr.to_owned(),
                after: options.connect_timeout,
            })?
            .map_err(|e| WireError::Connect {
                addr: addr.to_owned(),
                source: Arc::new(e),
            })?;
        // Requests are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
        });
        let (outgoing, queue) = mpsc::unbounded_channel();
        let context = ReadContext {
            addr: addr.to_owned(),
            tls: options.tls.is_some(),
            max_frame: options.max_frame_bytes,
        };
        let (reader, writer) = match &options.tls {
            None => {
                let (read_half, write_half) = stream.into_split();
                (
                    tokio::spawn(read_loop(read_half, Arc::clone(&shared), context)),
                    tokio::spawn(write_loop(write_half, queue, Arc::clone(&shared))),
                )
            }
            Some(tls) => {
                // The handshake shares the connect timeout: both are "setting up" the
                // connection (Java's socket.connection.setup.timeout.ms).
                let stream =
                    tokio::time::timeout(options.connect_timeout, tls.handshake(addr, stream))
                        .await
                        .map_err(|_| WireError::ConnectTimeout {
                            addr: addr.to_owned(),
                            after: options.connect_timeout,
                        })??;
                // rustls keeps one state for both directions; `split` shares it behind a lock
                // held only for the duration of each poll.
                let (read_half, write_half) = tokio::io::split(stream);
                (
                    tokio::spawn(read_loop(read_half, Arc::clone(&shared), context)),
                    tokio::spawn(write_loop(write_half, queue, Arc::clone(&shared))),
                )
            }
        };
        let mut conn = Connection {
            inner: Arc::new(Inner {
                addr: addr.to_owned(),
                options,
                versions: BrokerVersions::default(),
                session_end: None,
                shared,
                next_correlation_id: AtomicI32::new(0),
                outgoing,
                reader,
                writer,
            }),
        };
        let versions = conn.handshake().await?;
        // Nobody else holds the Arc yet, so the handshake result can be stored in place.
        if let Some(inner) = Arc::get_mut(&mut conn.inner) {
            inner.versions = versions;
        }
        if let Some(credentials) = conn.inner.options.sasl.clone() {
            // Counted from before the exchange: the broker's clock starts a little later, so
            // the session ends no earlier than we think.
            let started = tokio::time::Instant::now();
            let session = sasl::authenticate(&conn, &credentials).await?;
            if let (Some(lifetime), Some(inner)) = (session.lifetime, Arc::get_mut(&mut conn.inner))
            {
                inner.session_end = Some(SessionEnd {
                    lifetime,
                    refuse_from: started + lifetime.mul_f64(SESSION_REFRESH_FRACTION),
                });
            }
        }
        Ok(conn)
    }

    /// How long the broker keeps this connection's SASL session (KIP-368), if it limits it.
    pub fn session_lifetime(&self) -> Option<Duration> {
        self.inner.session_end.map(|end| end.lifetime)
    }

    /// The error for a request refused because the SASL session is about to end.
    fn session_expired(&self) -> Option<WireError> {
        let end = self.inner.session_end?;
        (tokio::time::Instant::now() >= end.refuse_from).then_some(WireError::SessionExpired {
            lifetime: end.lifetime,
        })
    }

    /// The broker's supported versions and finalized features, from the handshake.
    pub fn versions(&self) -> &BrokerVersions {
        &self.inner.versions
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// True once the connection has failed or its SASL session is about to end; it never
    /// recovers, reconnect instead.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.lock().poisoned.is_some() || self.session_expired().is_some()
    }

    /// Sends `request` at the highest version within the broker's, ours and `cap`.
    pub async fn send_negotiated<R: Request>(
        &self,
        request: &R,
        cap: Option<i16>,
    ) -> Result<(i16, R::Response), WireError> {
        let api = api_key_of::<R>();
        let version =
            self.versions()
                .negotiate(api, cap)
                .ok_or_else(|| WireError::UnsupportedVersion {
                    api,
                    broker: self.versions().range(api),
                })?;
        Ok((version, self.send(request, version).await?))
    }

    /// Sends `request` at exactly `version` and waits for its answer.
    ///
    /// Cancel-safe: dropping the future abandons the answer but leaves the connection usable.
    pub async fn send<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, WireError> {
        self.start(request, version).await
    }

    /// Queues `request` at exactly `version` now, and returns the future of its answer.
    ///
    /// Requests queued by successive calls reach the broker in call order, however their
    /// futures are later polled (each spawned on its own task, say). An idempotent producer
    /// depends on that: the broker rejects a Produce whose sequence arrives before the one it
    /// follows. Dropping the future abandons the answer; the connection stays usable.
    pub fn start<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> impl Future<Output = Result<R::Response, WireError>> + Send + use<R> {
        let queued = self.enqueue(request, version);
        let inner = Arc::clone(&self.inner);
        async move {
            let frame = queued?.answer(&inner, api_key_of::<R>()).await?;
            decode_response::<R>(frame, version).inspect_err(|e| {
                // An answer we cannot read may have desynchronised nothing, but we cannot know
                // what else in it we misread; do as for a broken frame.
                inner.shared.poison(e.clone());
            })
        }
    }

    /// Encodes `request`, registers its slot and hands the frame to the writer, all before
    /// returning, so that the order of calls is the order on the wire.
    fn enqueue<R: Request>(&self, request: &R, version: i16) -> Result<Queued, WireError> {
        if let Some(expired) = self.session_expired() {
            return Err(expired);
        }
        let correlation_id = self
            .inner
            .next_correlation_id
            .fetch_add(1, Ordering::Relaxed);
        let mut frame = BytesMut::new();
        encode_request(
            &mut frame,
            correlation_id,
            &self.inner.options.client_id,
            request,
            version,
        )?;
        let (slot, answer) = oneshot::channel();
        {
            // Register before writing, so an answer can never arrive to an empty slot.
            let mut pending = self.inner.shared.lock();
            if let Some(cause) = &pending.poisoned {
                return Err(WireError::Poisoned(Arc::clone(cause)));
            }
            pending.slots.insert(correlation_id, Some(slot));
        }
        let unregister = Unregister {
            shared: Arc::clone(&self.inner.shared),
            correlation_id,
        };
        if self.inner.outgoing.send(frame).is_err() {
            return Err(WireError::Closed);
        }
        Ok(Queued { answer, unregister })
    }

    async fn round_trip<R: Request>(
        &self,
        request: &R,
        version: i16,
        api: ApiKey,
    ) -> Result<Bytes, WireError> {
        self.enqueue(request, version)?
            .answer(&self.inner, api)
            .await
    }

    async fn handshake(&self) -> Result<BrokerVersions, WireError> {
        let (_, ours) = our_range(ApiKey::ApiVersions).unwrap_or((0, 0));
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(
                self.inner.options.software_name.clone(),
            ))
            .with_client_software_version(StrBytes::from_string(
                self.inner.options.software_version.clone(),
            ));
        // A broker that does not know our version answers in v0 (error UNSUPPORTED_VERSION,
        // with the ApiVersions range it speaks), which the requested version may not decode.
        let frame = self.round_trip(&request, ours, ApiKey::ApiVersions).await?;
        let response = decode_response::<ApiVersionsRequest>(frame.clone(), ours)
            .or_else(|_| decode_response::<ApiVersionsRequest>(frame, 0))
            .inspect_err(|e| self.inner.shared.poison(e.clone()))?;
        if response.error_code == 0 {
            return Ok(BrokerVersions::from_response(&response));
        }
        if response.error_code != UNSUPPORTED_VERSION {
            return Err(WireError::Handshake(response.error_code));
        }
        // The broker answered in v0 with the ApiVersions range it does speak: retry at its max.
        let fallback =
            fallback_version(&response).ok_or(WireError::Handshake(UNSUPPORTED_VERSION))?;
        let request = if fallback >= 3 {
            request
        } else {
            ApiVersionsRequest::default()
        };
        let response = self.send(&request, fallback).await?;
        if response.error_code != 0 {
            return Err(WireError::Handshake(response.error_code));
        }
        Ok(BrokerVersions::from_response(&response))
    }
}

/// The ApiVersions version to retry with after an UNSUPPORTED_VERSION answer.
fn fallback_version(response: &ApiVersionsResponse) -> Option<i16> {
    let (our_min, our_max) = our_range(ApiKey::ApiVersions)?;
    let theirs = response
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions as i16)?;
    let version = theirs.max_version.min(our_max);
    (version >= our_min.max(theirs.min_version)).then_some(version)
}

/// A request on the wire, waiting for its answer.
struct Queued {
    answer: oneshot::Receiver<Result<Bytes, WireError>>,
    unregister: Unregister,
}

impl Queued {
    /// Waits for the answer frame, up to the request timeout (which poisons the connection).
    async fn answer(self, inner: &Inner, api: ApiKey) -> Result<Bytes, WireError> {
        let timeout = inner.options.request_timeout;
        let result = match tokio::time::timeout(timeout, self.answer).await {
            Ok(Ok(result)) => result,
            // The slot was dropped without an answer: only happens when the tasks are gone.
            Ok(Err(_)) => Err(WireError::Closed),
            Err(_) => {
                let error = WireError::Timeout {
                    api,
                    after: timeout,
                };
                inner.shared.poison(error.clone());
                Err(error)
            }
        };
        drop(self.unregister);
        result
    }
}

/// Forgets a request whose answer is no longer wanted: a cancelled request leaves a marker so
/// that its answer, when it comes, is dropped instead of poisoning the connection.
struct Unregister {
    shared: Arc<Shared>,
    correlation_id: i32,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        let mut pending = self.shared.lock();
        if let Some(slot) = pending.slots.get_mut(&self.correlation_id) {
            // Still unanswered: the caller gave up.
            *slot = None;
        }
    }
}

/// What the reader needs to describe a failure.
struct ReadContext {
    addr: String,
    tls: bool,
    max_frame: usize,
}

impl ReadContext {
    /// An I/O error of the socket: a TLS failure the user must fix, or a plain I/O error.
    fn io_error(&self, error: std::io::Error) -> WireError {
        if self.tls {
            if let Some(tls) = TlsError::from_io(&self.addr, &error, Phase::Established) {
                return WireError::Tls(tls);
            }
        }
        WireError::Io(Arc::new(error))
    }
}

async fn read_loop<S: AsyncRead + Unpin>(mut socket: S, shared: Arc<Shared>, context: ReadContext) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut first_bytes = true;
    let error = loop {
        // A TLS listener answers plaintext with a TLS alert record, which would otherwise read
        // as a frame hundreds of megabytes long.
        if first_bytes && !buf.is_empty() {
            first_bytes = false;
            if !context.tls && tls::looks_like_tls(&buf) {
                break WireError::Tls(tls::tls_listener_error(&context.addr));
            }
        }
        match split_frame(&mut buf, context.max_frame) {
            Ok(Some(frame)) => {
                let frame = frame.freeze();
                let Some(id) = peek_correlation_id(&frame) else {
                    break WireError::Decode {
                        api: ApiKey::ApiVersions,
                        version: 0,
                        message: "answer shorter than its correlation id".to_owned(),
                    };
                };
                let slot = shared.lock().slots.remove(&id);
                match slot {
                    Some(Some(slot)) => {
                        let _ = slot.send(Ok(frame));
                    }
                    // Its caller gave up waiting; the answer is still in order.
                    Some(None) => {}
                    None => break WireError::UnexpectedCorrelationId(id),
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => break e.into(),
        }
        match socket.read_buf(&mut buf).await {
            Ok(0) => break WireError::Closed,
            Ok(_) => {}
            Err(e) => break context.io_error(e),
        }
    };
    shared.poison(error);
}

async fn write_loop<S: AsyncWrite + Unpin>(
    socket: S,
    mut queue: mpsc::UnboundedReceiver<BytesMut>,
    shared: Arc<Shared>,
) {
    let mut socket = BufWriter::with_capacity(64 * 1024, socket);
    while let Some(frame) = queue.recv().await {
        let mut result = socket.write_all(&frame).await;
        // Coalesce whatever else is already queued into the same flush.
        while result.is_ok() {
            match queue.try_recv() {
                Ok(next) => result = socket.write_all(&next).await,
                Err(_) => break,
            }
        }
        if let Err(e) = result.and(socket.flush().await) {
            shared.poison(WireError::Io(Arc::new(e)));
            return;
        }
    }
    let _ = socket.shutdown().await;
}
