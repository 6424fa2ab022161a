//! The shutdown trigger of the binary: SIGTERM (container stop) or SIGINT (Ctrl-C).

use std::future::Future;
use std::io;

/// Installs the signal handlers now, so a failure shows at start-up, and returns a future that
/// completes on the first SIGTERM or SIGINT.
#[cfg(unix)]
pub fn termination_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Installs the Ctrl-C handler and returns a future that completes on Ctrl-C.
#[cfg(not(unix))]
pub fn termination_signal() -> io::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received");
        }
    })
}
