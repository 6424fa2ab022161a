//! The served certificate, replaced while the gateway runs.
//!
//! rustls asks [`CertStore`] for a certificate at every handshake (`ResolvesServerCert`), so
//! swapping the `Arc<CertifiedKey>` it holds changes what new connections get and nothing else:
//! connections already open keep the session they negotiated. [`watch`] swaps it on SIGHUP and
//! when either file's modification time, size or inode changes (a renewal tool that writes the
//! files, or replaces them by a rename). A pair that cannot be loaded, such as a new
//! certificate whose key has not been written yet, is logged and the previous one kept.
//!
//! The store also keeps the sessions clients may resume (RFC 8446 section 2.2), and forgets
//! them at each reload: a resumed session skips the certificate, so without this a client
//! could go on connecting under the replaced certificate (a rotated-out key, perhaps a
//! compromised one) until its ticket expired.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;

use super::ServerTlsError;
use super::certificate::load_certified_key;
use crate::hangup::{Hangup, next_hangup};

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode,
    })
}

/// Sessions kept for resumption, as many as rustls' default cache.
const SESSION_CACHE_SIZE: usize = 256;

/// The certificate and key files and the pair currently served.
#[derive(Debug)]
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// Resumable sessions of the current pair; replaced by an empty cache at each reload.
    sessions: RwLock<Arc<ServerSessionMemoryCache>>,
    /// The files' stamps when last loaded or tried, so a bad pair is reported once per change.
    seen: Mutex<(Option<Stamp>, Option<Stamp>)>,
}

impl CertStore {
    /// Loads the pair; fails (for start-up) if it cannot be served.
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, ServerTlsError> {
        let seen = (stamp(cert_path), stamp(key_path));
        let pair = load_certified_key(cert_path, key_path, &provider)?;
        Ok(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(Arc::new(pair)),
            sessions: RwLock::new(ServerSessionMemoryCache::new(SESSION_CACHE_SIZE)),
            seen: Mutex::new(seen),
        })
    }

    /// Loads the files again and serves them from the next handshake on; on failure the
    /// previous pair stays.
    pub fn reload(&self) -> Result<(), ServerTlsError> {
        // Stamps before contents: a write between the two shows as a change at the next poll.
        let seen = (stamp(&self.cert_path), stamp(&self.key_path));
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
        let pair = load_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
        *self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner) =
            ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
        Ok(())
    }

    /// Reloads if either file changed since it was last loaded or tried; `None` if unchanged.
    pub fn reload_if_changed(&self) -> Option<Result<(), ServerTlsError>> {
        let now = (stamp(&self.cert_path), stamp(&self.key_path));
        let changed = *self.seen.lock().unwrap_or_else(PoisonError::into_inner) != now;
        changed.then(|| self.reload())
    }

    /// The pair handshakes get now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl CertStore {
    fn sessions(&self) -> Arc<ServerSessionMemoryCache> {
        Arc::clone(&self.sessions.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl StoresServerSessions for CertStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.sessions().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Reloads `store` on every SIGHUP (when `hangup` is given) and whenever a poll every
/// `interval` sees a file change. Runs until aborted.
pub async fn watch(store: Arc<CertStore>, interval: Duration, mut hangup: Option<Hangup>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let result = tokio::select! {
            _ = ticks.tick() => store.reload_if_changed(),
            () = next_hangup(&mut hangup) => Some(store.reload()),
        };
        match result {
            None => {}
            Some(Ok(())) => tracing::info!(
                cert = %store.cert_path.display(),
                "TLS certificate reloaded; new connections use it"
            ),
            Some(Err(error)) => tracing::error!(
                %error,
                "TLS certificate not reloaded; still serving the previous one"
            ),
        }
    }
}
