//! Errors the engine reports to its callers.
//!
//! Broker failures are folded into the few categories a caller acts on (KIP-1050 style):
//! retry the same call, abort the transaction, or drop the producer. Calling an operation in
//! the wrong state is a separate [`UsageError`] so it is never mistaken for a broker failure.
//! A record the client refuses on its own ([`TxnError::InvalidPartition`]) affects only that
//! record, never the transaction.

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
    /// `send_offsets_to_transaction`.
    SendOffsets,
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
            Self::SendOffsets => "send_offsets",
            Self::Close => "close",
        };
        f.write_str(name)
    }
}

/// An operation was called in a state that does not allow it, or with arguments it can never
/// accept (`detail` says which); nothing changed.
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
    /// A record named a partition its topic does not have. Only that record is refused:
    /// it never joined the transaction, which can still commit its other records.
    #[error(
        "partition {partition} of topic `{topic}` does not exist: {}",
        valid_partitions(*partitions)
    )]
    InvalidPartition {
        /// The record's topic.
        topic: String,
        /// The partition the record asked for.
        partition: i32,
        /// The topic's partition count; `None` when a negative partition was refused before
        /// the topic's metadata was known.
        partitions: Option<u32>,
    },
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

/// The valid range of partitions, for [`TxnError::InvalidPartition`]'s message.
fn valid_partitions(partitions: Option<u32>) -> String {
    match partitions {
        Some(count) => format!("valid partitions are 0 to {}", count.saturating_sub(1)),
        None => "partitions are numbered from 0".to_owned(),
    }
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

    #[test]
    fn an_invalid_partition_names_the_valid_range_and_affects_nothing_else() {
        let out_of_range = TxnError::InvalidPartition {
            topic: "exp-a".into(),
            partition: 9,
            partitions: Some(3),
        };
        assert_eq!(
            out_of_range.to_string(),
            "partition 9 of topic `exp-a` does not exist: valid partitions are 0 to 2"
        );
        assert!(
            !out_of_range.is_retriable()
                && !out_of_range.requires_abort()
                && !out_of_range.is_fatal()
        );
        assert_eq!(out_of_range.code(), None);
        let negative = TxnError::InvalidPartition {
            topic: "exp-a".into(),
            partition: -1,
            partitions: None,
        };
        assert_eq!(
            negative.to_string(),
            "partition -1 of topic `exp-a` does not exist: partitions are numbered from 0"
        );
    }
}
