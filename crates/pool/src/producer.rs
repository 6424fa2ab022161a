//! What the pool needs from a transactional producer, kept small so that the pool can be tested with
//! fakes and does not depend on the transaction engine's internals.

use std::future::Future;

/// The state a producer reports when it comes back to the pool; it decides what the pool does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No transaction is open and a new one may begin.
    Ready,
    /// The open transaction hit an abortable error: it must be aborted before the producer is reused.
    NeedsAbort,
    /// A commit was sent but its answer was lost: only an abort is legal, and the abort re-initialises
    /// the producer (epoch bump), after which it is ready again.
    OutcomeUnknown,
    /// The producer can never be used again. `fenced` says another producer took over its
    /// transactional id (PRODUCER_FENCED); other causes are authorization failures and
    /// unrecoverable protocol states.
    Fatal {
        /// Whether the producer was fenced by a newer producer with the same transactional id.
        fenced: bool,
    },
}

/// One transactional producer bound to a fixed transactional id.
///
/// Implementations must make `abort` succeed as a no-op when no transaction is open (the pool aborts
/// defensively when a lease is dropped while `begin` was in flight) and make `close` idempotent (a
/// producer still leased when the pool's close deadline passes is closed by the pool and again when
/// its lease comes back).
pub trait TxnProducer: Send + Sync + 'static {
    /// The producer's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Starts a transaction.
    fn begin(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Flushes what was sent and commits the open transaction.
    fn commit(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Aborts the open transaction (a no-op when none is open).
    fn abort(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Releases the producer's resources. Idempotent.
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// The producer's current state; cheap and non-blocking.
    fn health(&self) -> Health;
}

/// Builds producers for the pool.
pub trait ProducerFactory: Send + Sync + 'static {
    /// The producers this factory builds.
    type Producer: TxnProducer;

    /// Builds a producer for `transactional_id` and initialises its transactions (InitProducerId),
    /// which fences any older producer that used the same id.
    fn create(
        &self,
        transactional_id: &str,
    ) -> impl Future<Output = Result<Self::Producer, ProducerError<Self>>> + Send;
}

/// The error type of the producers a factory builds.
pub type ProducerError<F> = <<F as ProducerFactory>::Producer as TxnProducer>::Error;
