//! The Kafka wire layer of kafkatx.
//!
//! # Layout
//! - [`frame`]: the 4-byte length framing, split from any socket (sans-IO).
//! - [`codec`]: request header + body encoding and response decoding, using the
//!   generated messages of the `kafka-protocol` crate (re-exported as [`protocol`]).
//! - [`versions`]: the API versions this crate speaks, negotiation against a broker's
//!   ApiVersions answer, and the broker's finalized features.
//! - [`connection`]: an async, pipelined connection to one broker.
//! - [`record`]: record batch v2 encoding and decoding (our own codec; duplicate header
//!   keys survive, truncated trailing batches are tolerated).
//! - [`compression`]: none, gzip, snappy (xerial framing), lz4 (frame) and zstd, all
//!   pure Rust unless the `zstd-native` feature is on.
//! - [`read_committed`]: which fetched records a read_committed reader sees.
//! - [`reader`]: a minimal read-a-topic-to-its-end client for tools and checks.
//! - [`sasl`]: SASL PLAIN and SCRAM-SHA-256/512 authentication after the handshake.
//! - [`tls`]: TLS to brokers on rustls with graviola's pure-Rust crypto.
//!
//! Nothing in this crate panics on bytes a broker sends: every decoder returns an error.

#![warn(missing_docs)]

pub mod admin;
pub mod codec;
pub mod compression;
pub mod connection;
pub mod error;
pub mod frame;
pub mod read_committed;
pub mod reader;
pub mod record;
pub mod sasl;
pub mod tls;
pub mod versions;

pub use connection::{ConnectOptions, Connection};
pub use error::WireError;
pub use kafka_protocol as protocol;
pub use sasl::{AuthError, SaslCredentials, SaslMechanism};
pub use tls::{TlsConfig, TlsConfigError, TlsError, TlsSettings};
pub use versions::BrokerVersions;
