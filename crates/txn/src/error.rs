//! Errors the engine reports to its callers.
//!
//! Broker failures are folded into the few categories a caller acts on (KIP-1050 style):
//! retry the same call, abort the transaction, or drop the producer. Calling an operation in
//! the wrong state is a separate [`UsageError`] so it is never mistaken for a broker failure.

use std::fmt;

use crate::state::TxnState;

/// A public operation of the producer, used in errors and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `init_transactions` / first producer-id request.
    Init,
    /// `begin_transaction`.
    Begin,
    /// `send`.
    Send,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
    /// `flush`.
    Flush,
    /// `close`.
    Close,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Init => "init",
            Self::Begin => "begin",
            Self::Send => "send",
            Self::Commit => "commit",
            Self::Abort => "abort",
            Self::Flush => "flush",
            Self::Close => "close",
        };
        f.write_str(name)
    }
}

/// An operation was called in a state that does not allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{op}` is not allowed in state {state:?}{}", detail.map(|d| format!(": {d}")).unwrap_or_default())]
pub struct UsageError {
    /// The operation that was refused.
    pub op: Operation,
    /// The state the producer was in.
    pub state: TxnState,
    /// Optional hint (e.g. "a different operation is still in progress").
    pub detail: Option<&'static str>,
}

/// Every error the engine reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// Another producer with the same transactional id took over; this one is dead.
    #[error("producer fenced: another instance uses the same transactional.id")]
    Fenced,
    /// An unrecoverable broker error; the producer must be closed.
    #[error("fatal error (code {code}): {reason}")]
    Fatal {
        /// Kafka error code, or -1 when the failure was local.
        code: i16,
        /// What went wrong.
        reason: String,
    },
    /// The current transaction failed and must be aborted.
    #[error("transaction must be aborted (code {code}): {reason}")]
    Abortable {
        /// Kafka error code, or -1 when the failure was local.
        code: i16,
        /// What went wrong.
        reason: String,
    },
    /// The EndTxn answer was lost: the transaction may or may not be committed. Only abort is
    /// allowed next; it resolves the state by bumping the epoch.
    #[error("the outcome of the transaction commit is unknown; abort to recover")]
    OutcomeUnknown,
    /// The operation did not finish within `max.block.ms`; calling the same operation again
    /// resumes it.
    #[error("`{op}` timed out; call it again to resume")]
    Timeout {
        /// The operation that timed out.
        op: Operation,
    },
    /// A record could not be delivered within `delivery.timeout.ms` (idempotent producer).
    #[error("record delivery failed (code {code}): {reason}")]
    Delivery {
        /// Kafka error code, or -1 when the failure was local.
        code: i16,
        /// What went wrong.
        reason: String,
    },
    /// The records were not sent because the transaction is being aborted.
    #[error("transaction aborted before the record was sent")]
    TransactionAborted,
    /// The operation was called in the wrong state.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The producer was closed.
    #[error("producer closed")]
    Closed,
    /// The configuration does not fit this kind of producer.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl TxnError {
    /// The same call may simply be repeated.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// The transaction must be aborted (and the input rewound) before continuing.
    pub fn requires_abort(&self) -> bool {
        matches!(
            self,
            Self::Abortable { .. } | Self::OutcomeUnknown | Self::TransactionAborted
        )
    }

    /// The producer is unusable; close it and create a new one.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Fenced | Self::Fatal { .. } | Self::Closed)
    }

    /// Kafka error code carried by the error, if any.
    pub fn code(&self) -> Option<i16> {
        match self {
            Self::Fatal { code, .. }
            | Self::Abortable { code, .. }
            | Self::Delivery { code, .. } => Some(*code),
            Self::Fenced => Some(90),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_partition_the_categories() {
        let abortable = TxnError::Abortable {
            code: 47,
            reason: "stale epoch".into(),
        };
        assert!(abortable.requires_abort() && !abortable.is_fatal() && !abortable.is_retriable());
        assert!(TxnError::Fenced.is_fatal() && !TxnError::Fenced.requires_abort());
        assert!(TxnError::OutcomeUnknown.requires_abort());
        assert!(
            TxnError::Timeout {
                op: Operation::Commit
            }
            .is_retriable()
        );
        let usage = TxnError::from(UsageError {
            op: Operation::Commit,
            state: TxnState::Ready,
            detail: None,
        });
        assert!(!usage.is_fatal() && !usage.requires_abort() && !usage.is_retriable());
        assert_eq!(usage.to_string(), "`commit` is not allowed in state Ready");
    }
}
