//! SIGHUP, the conventional "read your files again" signal: the TLS certificate and the access
//! file are reloaded on it (each by its own watcher; every handler installed gets the signal).

/// The stream of SIGHUPs ([`hangup_signal`]); there is none outside unix.
#[cfg(unix)]
pub type Hangup = tokio::signal::unix::Signal;
/// The stream of SIGHUPs; there is none outside unix.
#[cfg(not(unix))]
pub type Hangup = std::convert::Infallible;

/// Installs the SIGHUP handler now, so a failure shows at start-up. Installing it also stops
/// SIGHUP's default action, ending the process.
#[cfg(unix)]
pub fn hangup_signal() -> std::io::Result<Option<Hangup>> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).map(Some)
}

/// No SIGHUP outside unix.
#[cfg(not(unix))]
pub fn hangup_signal() -> std::io::Result<Option<Hangup>> {
    Ok(None)
}

/// The next SIGHUP; never without a handler or once its stream has ended.
pub async fn next_hangup(hangup: &mut Option<Hangup>) {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        if signal.recv().await.is_some() {
            return;
        }
    }
    #[cfg(not(unix))]
    if let Some(never) = hangup {
        match *never {}
    }
    std::future::pending().await
}
