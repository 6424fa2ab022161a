//! The accept loop: a connection limit, one task per connection, and graceful shutdown.
//!
//! Shutdown order matters: stop accepting, let hyper finish the requests in progress (bounded by
//! `shutdown_timeout`), wait for transactions whose client already left (same bound), and only
//! then close the backend, which aborts whatever is still open.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::backend::Backend;
use crate::config::ServerConfig;
use crate::handlers;
use crate::state::AppState;

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
    let state = Arc::new(AppState::new(backend, config));
    let graceful = serve(listener, &state, shutdown).await;
    // One deadline for connections and transactions, so `shutdown_timeout` bounds both together.
    let deadline = Instant::now() + state.config.shutdown_timeout;
    state.start_draining();
    tracing::info!("shutdown: stopped accepting, draining connections");
    if tokio::time::timeout_at(deadline, graceful.shutdown())
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

/// Accepts connections until `shutdown` completes; returns the watcher of those still open.
async fn serve<B: Backend>(
    listener: TcpListener,
    state: &Arc<AppState<B>>,
    shutdown: impl Future<Output = ()>,
) -> GracefulShutdown {
    // Clamped: 0 would serve nobody and more than MAX_PERMITS makes tokio panic.
    let slots = state
        .config
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS);
    let connection_slots = Arc::new(Semaphore::new(slots));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        // The slot is taken before accepting, so clients beyond the limit wait in the kernel's
        // backlog instead of costing us a task and buffers.
        let slot = tokio::select! {
            slot = Arc::clone(&connection_slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            stream = accept(&listener) => stream,
            () = &mut shutdown => break,
        };
        let service_state = Arc::clone(state);
        let service =
            service_fn(move |request| handlers::handle(Arc::clone(&service_state), request));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        let open = state.metrics.connections_open().clone();
        open.inc();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            open.dec();
            drop(slot);
        });
    }
    graceful
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
