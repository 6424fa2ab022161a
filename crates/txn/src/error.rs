//! Errors the engine reports to its callers.
//!
//! Broker failures are folded into the few categories a caller acts on (KIP-1050 style):
//! retry the same call, abort the transaction, or drop the producer. [`TxnError::action`]
//! answers "what now?" for every error with one [`Action`]; it is derived in the error table
//! (`classify.rs`), next to the decisions that produced the error. Calling an operation in
//! the wrong state is a separate [`UsageError`] so it is never mistaken for a broker failure.
//! A record the client refuses on its own ([`TxnError::InvalidPartition`]) affects only that
//! record, never the transaction.

use std::fmt;

use kafkatx_wire::protocol::error::ResponseError;

use crate::state::TxnState;

/// A public operation of the producer, used in errors and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// What a caller does about an error: [`TxnError::action`]. One vocabulary for every caller
/// (the pool decides from it whether a producer is reusable, the gateway what its client is
/// told), so no caller interprets error variants or Kafka error codes on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Call the same operation again: it resumes where it stopped (a timeout). Nothing was
    /// lost; a timed-out commit or abort may still finish (see
    /// [`TransactionalProducer::end_transaction`](crate::TransactionalProducer::end_transaction)).
    Retry,
    /// Only this record was refused, and nothing else changed: it was not queued because
    /// `buffer.memory` stayed full; send it again once the brokers have caught up.
    RetryLater,
    /// Only this record was refused, for what it is (a partition its topic does not have, too
    /// large to ever be sent): fix or drop it; sending it unchanged fails the same way. A
    /// record refused at `send` never joined the transaction. One refused after `send`
    /// accepted it (its topic's metadata came later) makes its transaction fail too, which
    /// the transaction's calls report on their own.
    RecordRefused,
    /// Only this record was refused: its topic does not exist (and
    /// `allow.auto.create.topics` is false). Create the topic or fix the name. As with
    /// [`Action::RecordRefused`], a record refused after `send` accepted it fails its
    /// transaction too.
    UnknownTopic,
    /// The transaction failed and nothing of it will be committed: abort it, then the same
    /// work may succeed in a new transaction. For an idempotent producer, which has no
    /// transactions, the record was not delivered: send it again.
    AbortThenRetry,
    /// The transaction failed because the brokers refused records of it for what they are
    /// (too large, an invalid timestamp or record, an invalid or unauthorized topic): abort
    /// it; sending the same records again fails the same way.
    AbortThenFixRecords,
    /// The request may or may not have been applied (a commit's answer never came, or a
    /// record was sent and not answered before a forced close). Abort to make the producer
    /// usable again; whether the transaction committed can only be learned by reading.
    OutcomeUnknown,
    /// Another producer with the same `transactional.id` took over: close this one. A new
    /// producer with that id fences the other one in turn.
    Fenced,
    /// This producer can never be used again: close it and create a new one (after fixing
    /// the configuration, when that was the cause).
    ReplaceProducer,
    /// The call is not allowed in the producer's state, or its arguments can never be
    /// accepted: nothing changed. A bug in the caller, or a call racing another one.
    FixUsage,
}

/// Every error the engine reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The answer never came: the transaction may or may not be committed (after a lost
    /// EndTxn answer: only abort is allowed next, it resolves the state by bumping the epoch),
    /// or the record may or may not have been written (a forced close).
    #[error("the outcome is unknown: the request may or may not have been applied")]
    OutcomeUnknown,
    /// The operation did not finish within `max.block.ms` (or its own timeout); calling the
    /// same operation again resumes it, except `close`, which was forced.
    #[error("`{op}` timed out{}", resume_hint(*op))]
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
    /// A record larger than `max.request.size` (or `buffer.memory`) was refused at `send`,
    /// as Java's `ensureValidRecordSize` does: it could never be sent. It never joined the
    /// transaction, which can still commit its other records.
    #[error("the record is {size} bytes encoded, more than {setting} ({max} bytes)")]
    RecordTooLarge {
        /// Estimated encoded size of the record in a batch of its own.
        size: usize,
        /// The limit it exceeds.
        max: usize,
        /// The setting that sets the limit.
        setting: &'static str,
    },
    /// `buffer.memory` stayed full for `max.block.ms`: the brokers do not take records as fast
    /// as they arrive (or do not answer). The record was not queued.
    #[error(
        "buffer.memory ({buffer_memory} bytes) stayed full for max.block.ms; the brokers are not \
         keeping up"
    )]
    BufferExhausted {
        /// The configured `buffer.memory`.
        buffer_memory: usize,
    },
    /// The record's topic does not exist and `allow.auto.create.topics` is false. Like
    /// [`TxnError::InvalidPartition`], only that record is refused: it never joined the
    /// transaction.
    #[error("topic `{topic}` does not exist (and allow.auto.create.topics is false)")]
    UnknownTopic {
        /// The record's topic.
        topic: String,
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
    /// A producer was created outside a tokio runtime: its driver needs one to run on.
    #[error("a producer must be created inside a tokio runtime")]
    NoRuntime,
    /// The brokers cannot be used with this configuration: they refused our credentials,
    /// share no API version with us, or TLS failed in a way only the settings can fix.
    /// `reason` names the settings to check.
    #[error("{reason}")]
    BrokerUnusable {
        /// What went wrong, and which settings to check.
        reason: String,
    },
    /// The engine broke one of its own rules (an invalid state transition, a batch it cannot
    /// encode or re-stamp, a broker it cannot speak Produce with): the producer is unusable.
    #[error("internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

fn resume_hint(op: Operation) -> &'static str {
    match op {
        Operation::Close => ": closed without waiting any longer",
        _ => "; call it again to resume",
    }
}

/// The valid range of partitions, for [`TxnError::InvalidPartition`]'s message.
fn valid_partitions(partitions: Option<u32>) -> String {
    match partitions {
        Some(count) => format!("valid partitions are 0 to {}", count.saturating_sub(1)),
        None => "partitions are numbered from 0".to_owned(),
    }
}

impl TxnError {
    /// What the caller does now; see [`Action`]. Decided in the error table
    /// (`classify.rs`), the one place that knows what each failure means.
    pub fn action(&self) -> Action {
        crate::classify::action(self)
    }

    /// The same call may simply be repeated: [`Action::Retry`].
    pub fn is_retriable(&self) -> bool {
        self.action() == Action::Retry
    }

    /// The transaction must be aborted (and the input rewound) before continuing:
    /// [`Action::AbortThenRetry`], [`Action::AbortThenFixRecords`] or
    /// [`Action::OutcomeUnknown`].
    pub fn requires_abort(&self) -> bool {
        matches!(
            self.action(),
            Action::AbortThenRetry | Action::AbortThenFixRecords | Action::OutcomeUnknown
        )
    }

    /// The producer is unusable; close it and create a new one: [`Action::ReplaceProducer`]
    /// or [`Action::Fenced`].
    pub fn is_fatal(&self) -> bool {
        matches!(self.action(), Action::ReplaceProducer | Action::Fenced)
    }

    /// Kafka error code carried by the error, if any (for logs; decide with [`Self::action`]).
    pub fn code(&self) -> Option<i16> {
        match self {
            Self::Fatal { code, .. }
            | Self::Abortable { code, .. }
            | Self::Delivery { code, .. } => Some(*code),
            Self::Fenced => Some(ResponseError::ProducerFenced.code()),
            Self::UnknownTopic { .. } => Some(ResponseError::UnknownTopicOrPartition.code()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abortable(error: ResponseError) -> TxnError {
        TxnError::Abortable {
            code: error.code(),
            reason: "test".into(),
        }
    }

    fn delivery(error: ResponseError) -> TxnError {
        TxnError::Delivery {
            code: error.code(),
            reason: "test".into(),
        }
    }

    #[test]
    fn every_error_has_one_action() {
        let usage = TxnError::from(UsageError {
            op: Operation::Abort,
            state: TxnState::Committing,
            detail: None,
        });
        let cases = [
            (TxnError::Fenced, Action::Fenced),
            (
                TxnError::Fatal {
                    code: ResponseError::TransactionalIdAuthorizationFailed.code(),
                    reason: "x".into(),
                },
                Action::ReplaceProducer,
            ),
            (
                TxnError::Internal { reason: "x".into() },
                Action::ReplaceProducer,
            ),
            (
                TxnError::BrokerUnusable { reason: "x".into() },
                Action::ReplaceProducer,
            ),
            (TxnError::Closed, Action::ReplaceProducer),
            (TxnError::NoRuntime, Action::ReplaceProducer),
            (
                TxnError::Config(crate::config::ConfigError::UnknownKey("x".into())),
                Action::ReplaceProducer,
            ),
            (
                abortable(ResponseError::InvalidProducerEpoch),
                Action::AbortThenRetry,
            ),
            (
                abortable(ResponseError::TransactionAbortable),
                Action::AbortThenRetry,
            ),
            (
                abortable(ResponseError::RequestTimedOut),
                Action::AbortThenRetry,
            ),
            (
                delivery(ResponseError::RequestTimedOut),
                Action::AbortThenRetry,
            ),
            (TxnError::TransactionAborted, Action::AbortThenRetry),
            (TxnError::OutcomeUnknown, Action::OutcomeUnknown),
            (
                TxnError::Timeout {
                    op: Operation::Commit,
                },
                Action::Retry,
            ),
            (
                TxnError::Timeout {
                    op: Operation::Flush,
                },
                Action::Retry,
            ),
            (
                TxnError::Timeout {
                    op: Operation::Close,
                },
                Action::ReplaceProducer,
            ),
            (
                TxnError::InvalidPartition {
                    topic: "t".into(),
                    partition: 9,
                    partitions: Some(3),
                },
                Action::RecordRefused,
            ),
            (
                TxnError::RecordTooLarge {
                    size: 2,
                    max: 1,
                    setting: "max.request.size",
                },
                Action::RecordRefused,
            ),
            (
                TxnError::UnknownTopic { topic: "t".into() },
                Action::UnknownTopic,
            ),
            (
                TxnError::BufferExhausted { buffer_memory: 1 },
                Action::RetryLater,
            ),
            (usage, Action::FixUsage),
        ];
        for (error, action) in cases {
            assert_eq!(error.action(), action, "{error}");
        }
    }

    #[test]
    fn records_the_brokers_refuse_for_what_they_are_need_fixing() {
        for refusal in [
            ResponseError::UnknownTopicOrPartition,
            ResponseError::MessageTooLarge,
            ResponseError::InvalidTopicException,
            ResponseError::RecordListTooLarge,
            ResponseError::TopicAuthorizationFailed,
            ResponseError::InvalidTimestamp,
            ResponseError::InvalidRecord,
        ] {
            assert_eq!(
                abortable(refusal).action(),
                Action::AbortThenFixRecords,
                "{refusal:?}"
            );
            assert_eq!(
                delivery(refusal).action(),
                Action::AbortThenFixRecords,
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn predicates_partition_the_categories() {
        let abortable = abortable(ResponseError::InvalidProducerEpoch);
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
