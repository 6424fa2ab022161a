//! Errors of the pool's operations.

use std::time::Duration;

/// A configuration that cannot make a working pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `pool.size` is 0.
    #[error("pool.size must be at least 1")]
    EmptyPool,
    /// A part of the transactional id is empty or contains whitespace or control characters.
    #[error("{name} must be non-empty and free of whitespace, got {value:?}")]
    InvalidIdPart {
        /// The property name.
        name: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A backoff starts at zero or above its maximum.
    #[error("{0}: the initial delay must be positive and not above the maximum")]
    InvalidBackoff(&'static str),
    /// A property value does not parse.
    #[error("invalid value {value:?} for {key}")]
    InvalidValue {
        /// The property name.
        key: String,
        /// The rejected value.
        value: String,
    },
    /// A property name the pool does not know.
    #[error("unknown pool property {0:?}")]
    UnknownProperty(String),
}

/// Why a lease could not be obtained or its transaction did not end as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E: std::error::Error + 'static> {
    /// The pool is closed (or closing) and hands out no more producers.
    #[error("the producer pool is closed")]
    Closed,
    /// `max.waiters` callers are already waiting; this one is turned away at once.
    #[error("the producer pool is saturated: {max_waiters} callers are already waiting")]
    Saturated {
        /// The configured bound.
        max_waiters: usize,
    },
    /// No producer became free within `lease.timeout.ms`.
    #[error("no producer became free within {0:?}")]
    Timeout(Duration),
    /// Starting the transaction failed; the producer went back through the return path.
    #[error("beginning the transaction failed")]
    Begin(#[source] E),
    /// Committing failed; the producer went back through the return path (aborted or replaced).
    #[error("committing the transaction failed")]
    Commit(#[source] E),
    /// Aborting failed; the producer went back through the return path (one more abort, else
    /// replaced).
    #[error("aborting the transaction failed")]
    Abort(#[source] E),
    /// The producer panicked while ending the transaction; its slot is re-initialised.
    #[error("the producer panicked while ending the transaction")]
    ProducerPanicked,
}

/// The result of [`crate::Pool::run`]: either the pool or the caller's work failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static, W> {
    /// Leasing or committing failed.
    #[error(transparent)]
    Pool(#[from] PoolError<E>),
    /// The work returned an error; the transaction was aborted.
    #[error("the transaction's work failed; the transaction was aborted")]
    Work(W),
}

/// Why `Pool::new` could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `Pool::new` was not called inside a tokio runtime, which the pool's background tasks need.
    #[error("the producer pool must be started inside a tokio runtime")]
    NoRuntime,
}
