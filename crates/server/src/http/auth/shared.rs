//! The access list in use, replaced when the file is read again on SIGHUP.
//!
//! A request takes the current list once (an `Arc`), so a reload never changes the rules in
//! the middle of a request. A file that no longer parses is logged and the previous list kept:
//! a typo must not lock every caller out, nor let anyone in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use super::file::{AccessFileError, AccessList};
use crate::hangup::{Hangup, next_hangup};

/// The access list of `--api-keys`, reloadable.
pub struct SharedAccess {
    /// The file, when there is one to read again.
    path: Option<PathBuf>,
    /// Whether `cert:CN=` lines can match (the gateway verifies client certificates).
    certificates_verified: bool,
    current: RwLock<Arc<AccessList>>,
}

impl SharedAccess {
    /// A fixed list, never reloaded (for embedding and tests).
    pub fn fixed(list: AccessList) -> Self {
        Self {
            path: None,
            certificates_verified: true,
            current: RwLock::new(Arc::new(list)),
        }
    }

    /// Reads `path`; `certificates_verified` says whether `cert:CN=` lines may appear (only
    /// when client certificates are verified, or they could never match).
    pub fn load(path: &Path, certificates_verified: bool) -> Result<Self, AccessFileError> {
        let list = read(path, certificates_verified)?;
        Ok(Self {
            path: Some(path.to_owned()),
            certificates_verified,
            current: RwLock::new(Arc::new(list)),
        })
    }

    /// The list in force now.
    pub fn current(&self) -> Arc<AccessList> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reads the file again and uses it from the next request on; on failure the previous list
    /// stays. Returns the number of callers in force.
    pub fn reload(&self) -> Result<usize, AccessFileError> {
        let Some(path) = &self.path else {
            return Ok(self.current().len());
        };
        let list = read(path, self.certificates_verified)?;
        let callers = list.len();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(list);
        Ok(callers)
    }
}

fn read(path: &Path, certificates_verified: bool) -> Result<AccessList, AccessFileError> {
    let list = AccessList::load(path)?;
    if list.names_certificates() && !certificates_verified {
        return Err(AccessFileError::CertificatesUnverified(
            path.display().to_string(),
        ));
    }
    Ok(list)
}

/// The file's name and caller count; never the digests.
impl fmt::Debug for SharedAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedAccess")
            .field("path", &self.path)
            .field("callers", &self.current().len())
            .finish_non_exhaustive()
    }
}

/// Equal when they read the same file and hold the same list now.
impl PartialEq for SharedAccess {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.current() == other.current()
    }
}

impl Eq for SharedAccess {}

/// Reloads `access` on every SIGHUP. Runs until aborted.
pub async fn watch(access: Arc<SharedAccess>, mut hangup: Option<Hangup>) {
    loop {
        next_hangup(&mut hangup).await;
        match access.reload() {
            Ok(callers) => tracing::info!(callers, "access file reloaded"),
            Err(error) => tracing::error!(
                %error,
                "access file not reloaded; the previous callers and rights stay in force"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::auth::KeyHash;

    #[test]
    fn a_reload_takes_a_good_file_and_keeps_the_old_list_on_a_bad_one() {
        let dir = std::env::temp_dir().join(format!("kafkatx-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.txt");
        let line = |key: &str| format!("{} app topics=a\n", KeyHash::of(key.as_bytes()));
        std::fs::write(&path, line("first-key-0123456789")).unwrap();
        let access = SharedAccess::load(&path, false).unwrap();
        let before = access.current();
        assert!(before.by_key(b"first-key-0123456789").is_some());

        std::fs::write(&path, line("second-key-0123456789")).unwrap();
        assert_eq!(access.reload(), Ok(1));
        assert!(access.current().by_key(b"first-key-0123456789").is_none());
        assert!(access.current().by_key(b"second-key-0123456789").is_some());
        // A request that took the list before the reload keeps its rules.
        assert!(before.by_key(b"first-key-0123456789").is_some());

        for bad in [
            "sha256:nothex app\n",
            "cert:CN=x billing topics=a\n",
            "# empty\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(access.reload().is_err(), "{bad}");
            assert!(access.current().by_key(b"second-key-0123456789").is_some());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
