//! Who may call the gateway, and which topics each caller may write.
//!
//! Off by default. `--api-keys FILE` turns it on: the file ([`mod@file`]) names every caller, by the
//! SHA-256 digest of its API key (sent as `Authorization: Bearer <key>`, RFC 6750) or by the
//! common name of a client certificate verified against `--tls-client-ca`, with the topics it
//! may write and whether it may read `/metrics`. The file holds digests only, so reading it does
//! not reveal a key; `kafkatx hash-key` turns a key into its line. SIGHUP reads the file again
//! ([`shared`]).

pub mod file;
pub mod key_hash;
pub mod rights;
pub mod shared;

pub use file::{AccessFileError, AccessList};
pub use key_hash::KeyHash;
pub use rights::{Rights, TopicPattern};
pub use shared::SharedAccess;

/// One caller of the access file: a name for logs and its rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name given in the file; logged with each request, never secret.
    pub name: String,
    /// What this caller may do.
    pub rights: Rights,
}
