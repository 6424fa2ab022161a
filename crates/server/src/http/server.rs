//! The accept loop: a connection limit, one task per connection (with its TLS handshake under
//! HTTPS), and graceful shutdown.
//!
//! Keep-alive gives way under a full house: when every slot is taken and another client
//! connects, every connection is asked to close once idle (hyper's graceful shutdown of the
//! connection: an idle one closes at once, a busy one after its answer). Without that, idle
//! keep-alive connections would hold every slot until their idle timeout while new clients
//! wait in the backlog.
//!
//! Shutdown order matters: stop accepting, let hyper finish the requests in progress (bounded by
//! `shutdown_timeout`), wait for transactions whose client already left (same bound), and only
//! then close the backend, which aborts whatever is still open.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::backend::Backend;
use crate::http::config::ServerConfig;
use crate::http::handlers;
use crate::http::state::AppState;
use crate::http::tls::{ServerTls, common_name};

/// What the connection says about the client, for authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// The subject common name of the client certificate the TLS handshake verified.
    pub certificate_name: Option<Arc<str>>,
}

/// Bound of a request head (request line and headers); larger heads get 431. Kept small because
/// every connection may hold this much, and no endpoint needs large headers.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves HTTP on `listener` until `shutdown` completes, then drains and closes `backend`.
///
/// Returns once every connection has finished or the shutdown timeout has passed, and the backend
/// is closed. Tests pass any future as `shutdown`; the binary passes the signal handler.
pub async fn run<B: Backend>(
    listener: TcpListener,
    backend: Arc<B>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    run_with_tls(listener, None, backend, config, shutdown).await;
}

/// [`run`], serving HTTPS when `tls` is given: every connection starts with a TLS handshake,
/// bounded by the header read timeout.
pub async fn run_with_tls<B: Backend>(
    listener: TcpListener,
    tls: Option<ServerTls>,
    backend: Arc<B>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let state = Arc::new(AppState::new(backend, config));
    let acceptor = tls.map(|tls| tls.acceptor().clone());
    let connections = Connections::new(state.config.max_connections);
    serve(listener, acceptor, &state, &connections, shutdown).await;
    // One deadline for connections and transactions, so `shutdown_timeout` bounds both together.
    let deadline = Instant::now() + state.config.shutdown_timeout;
    state.start_draining();
    tracing::info!("shutdown: stopped accepting, draining connections");
    connections.close_when_idle();
    if tokio::time::timeout_at(deadline, connections.all_closed())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: connections still open at the deadline");
    }
    if !state.wait_for_transactions(deadline).await {
        tracing::warn!("shutdown: transactions still running; closing the backend aborts them");
    }
    state.backend.close().await;
    tracing::info!("shutdown: backend closed");
}

/// The connection limit and the one signal every open connection listens to.
struct Connections {
    /// One permit per connection served; all of them back means every connection has ended.
    slots: Arc<Semaphore>,
    limit: u32,
    /// Bumped to ask every connection open at that moment to close once idle (a full house, or
    /// shutdown). A connection subscribes before it is served, so it sees every later bump.
    close_idle: watch::Sender<u64>,
}

impl Connections {
    fn new(max_connections: usize) -> Self {
        // Clamped: 0 would serve nobody and more than MAX_PERMITS makes tokio panic.
        let limit = max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            close_idle: watch::Sender::new(0),
        }
    }

    fn close_when_idle(&self) {
        self.close_idle.send_modify(|generation| *generation += 1);
    }

    /// Completes once every connection has ended.
    async fn all_closed(&self) {
        let _every_slot = self.slots.acquire_many(self.limit).await;
    }
}

/// Accepts connections until `shutdown` completes.
async fn serve<B: Backend>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: &Arc<AppState<B>>,
    connections: &Connections,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        // While a slot is free the slot is taken before accepting. At the limit, one more client
        // is accepted (so we know somebody waits), idle keep-alive connections are asked to make
        // room, and the client is served when a slot frees. Further clients wait in the kernel's
        // backlog, costing us no task and no buffers.
        let (slot, stream) = match Arc::clone(&connections.slots).try_acquire_owned() {
            Ok(slot) => {
                let stream = tokio::select! {
                    stream = accept(&listener) => stream,
                    () = &mut shutdown => break,
                };
                (slot, stream)
            }
            Err(TryAcquireError::NoPermits) => {
                let stream = tokio::select! {
                    stream = accept(&listener) => stream,
                    () = &mut shutdown => break,
                };
                connections.close_when_idle();
                let slot = tokio::select! {
                    slot = Arc::clone(&connections.slots).acquire_owned() => slot,
                    () = &mut shutdown => break,
                };
                let Ok(slot) = slot else { break };
                (slot, stream)
            }
            Err(TryAcquireError::Closed) => break,
        };
        let connection = Connection {
            state: Arc::clone(state),
            builder: builder.clone(),
            // Subscribed now, before a shutdown can start: a connection still in its handshake
            // is then drained like the others.
            close_idle: connections.close_idle.subscribe(),
            slot,
        };
        match &tls {
            None => {
                tokio::spawn(connection.serve(stream, Peer::default()));
            }
            Some(acceptor) => {
                tokio::spawn(connection.handshake(acceptor.clone(), stream));
            }
        }
    }
}

/// One accepted connection and what serving it needs.
struct Connection<B> {
    state: Arc<AppState<B>>,
    builder: http1::Builder,
    /// Changes when the connection should close once idle.
    close_idle: watch::Receiver<u64>,
    /// Returned to the connection limit when the connection ends.
    slot: OwnedSemaphorePermit,
}

impl<B: Backend> Connection<B> {
    /// Runs the TLS handshake (as long as a request head may take), then serves HTTP on it.
    async fn handshake(self, acceptor: TlsAcceptor, stream: TcpStream) {
        let timeout = self.state.config.header_read_timeout;
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let certificate_name = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|cert| common_name(cert))
                    .map(Arc::from);
                self.serve(tls, Peer { certificate_name }).await;
            }
            // Scanners and clients that do not trust us fail here: a counter, and only debug
            // lines, so that they cannot flood the log.
            Ok(Err(error)) => {
                self.state.metrics.observe_tls_handshake_failure();
                tracing::debug!(%error, "TLS handshake failed");
            }
            Err(_) => {
                self.state.metrics.observe_tls_handshake_failure();
                tracing::debug!("TLS handshake not finished in time");
            }
        }
    }

    /// Serves HTTP/1.1 on an established connection until it closes.
    async fn serve<S>(self, stream: S, peer: Peer)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            state,
            builder,
            mut close_idle,
            slot,
        } = self;
        let open = state.metrics.connections_open().clone();
        open.inc();
        let peer = Arc::new(peer);
        // A connection is only asked to give way once it has had a request: closing one whose
        // first request is still on its way would drop that request unanswered.
        let had_request = Arc::new(AtomicBool::new(false));
        let draining = Arc::clone(&state);
        let service = {
            let had_request = Arc::clone(&had_request);
            service_fn(move |request| {
                had_request.store(true, Ordering::Relaxed);
                handlers::handle(Arc::clone(&state), Arc::clone(&peer), request)
            })
        };
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let ended = loop {
            tokio::select! {
                ended = connection.as_mut() => break ended,
                // A closed sender (the server is gone) disables this branch; the connection
                // runs on.
                Ok(()) = close_idle.changed() => {
                    if had_request.load(Ordering::Relaxed) || draining.is_draining() {
                        connection.as_mut().graceful_shutdown();
                        break connection.await;
                    }
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        open.dec();
        drop(slot);
    }
}

/// Accepts one connection, retrying transient failures such as running out of file descriptors.
async fn accept(listener: &TcpListener) -> TcpStream {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => return stream,
            Err(e) => {
                log_accept_error(&e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

fn log_accept_error(error: &io::Error) {
    tracing::warn!(%error, "accept failed; retrying");
}
