//! THE error table: every (request, error code or transport failure, context) maps to one
//! [`Disposition`]. No other code decides how a broker failure is handled. What an error the
//! engine reports means to its caller ([`action`], behind [`TxnError::action`]) is decided
//! here too, so no caller interprets variants or Kafka error codes on its own.
//!
//! Rows follow the Java `TransactionManager` handlers (`TxnRequestHandler` subclasses and
//! `canRetry`) with franz-go's refinement (`txn.go`) that a produce whose answer was lost is
//! `RetryUnsure`. A lost EndTxn answer is resent to the coordinator found again, as Java does
//! (the coordinator answers a repeated EndTxn of a finished transaction with success): on the
//! classic protocol, declaring it unknown and recovering by an epoch bump gets the producer
//! fenced when the coordinator never saw the first EndTxn (proven on a real 3-node cluster).
//! The machine treats a later refusal of that commit as an unknown outcome.

use kafkatx_wire::protocol::error::ResponseError;

use crate::error::{Action, Operation, TxnError};

/// The request a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// Cluster metadata.
    Metadata,
    /// FindCoordinator, for the transaction coordinator or a consumer group's coordinator
    /// (Java handles both alike).
    FindCoordinator,
    /// InitProducerId (first one or epoch bump).
    InitProducerId,
    /// AddPartitionsToTxn v<=3 (TV1 only).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn, to the transaction coordinator (TV1 only).
    AddOffsetsToTxn,
    /// TxnOffsetCommit, to the consumer group's coordinator; `RefindCoordinator` means that
    /// coordinator.
    TxnOffsetCommit,
    /// EndTxn; `commit` tells commit from abort.
    EndTxn {
        /// true for commit.
        commit: bool,
    },
    /// Produce.
    Produce,
}

/// How a request failed on the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "test-util"), allow(unreachable_pub))]
#[non_exhaustive]
pub enum TransportFailure {
    /// The request never left this process (connect failed, encode failed): not applied.
    NotSent,
    /// The connection broke or the request timed out after sending: it may have been applied.
    Lost,
    /// The broker does not support any version we can send.
    Unsupported,
    /// The broker refused our credentials (SASL): retrying the same ones cannot succeed.
    AuthenticationFailed,
}

/// A failed outcome to classify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A non-zero Kafka error code.
    Code(i16),
    /// A transport failure.
    Transport(TransportFailure),
}

/// Facts about the producer the table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Context {
    /// A transactional producer (else idempotent-only).
    pub transactional: bool,
    /// The coordinator can bump epochs for us (InitProducerId >= v3, KIP-360).
    pub can_bump_epoch: bool,
    /// KIP-890 transactions are in effect for the current transaction.
    pub tv2: bool,
    /// `delivery.timeout.ms` has passed for the produce batch: no more retries.
    pub retries_exhausted: bool,
    /// Produce only: this batch is the next one the broker expects for its partition
    /// (`base_sequence == last_acked + 1`). When false, sequence errors are collateral.
    pub next_expected_batch: bool,
}

/// How an aborted transaction gets the producer back to a clean state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// EndTxn(abort) is enough.
    EndTxn,
    /// EndTxn(abort), then InitProducerId(pid, epoch) to bump the epoch (TV1, KIP-360).
    EndTxnThenBump,
    /// Skip EndTxn (the coordinator already moved on) and re-run InitProducerId(pid, epoch),
    /// which aborts whatever is open and bumps the epoch.
    Reinit,
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Retry against the same destination after a backoff (`short`: ~20 ms, used for
    /// CONCURRENT_TRANSACTIONS which clears as soon as the markers are written).
    Retry {
        /// Use the short backoff.
        short: bool,
    },
    /// Produce: the batch may be persisted; resend the same bytes (never fail it).
    RetryUnsure,
    /// Look the coordinator up again, then retry.
    RefindCoordinator,
    /// Refresh metadata (leaders), then retry.
    RefreshMetadata,
    /// Counts as success (DUPLICATE_SEQUENCE_NUMBER).
    TreatAsSuccess,
    /// The transaction must be aborted, recovering as given.
    Abortable(Recovery),
    /// Idempotent producer: the broker lost or rejects our sequence state for this
    /// partition; get a new producer id, re-stamp the waiting batches from sequence 0 and
    /// resend them (Java retries these with an epoch bump instead of failing them).
    RetryWithNewProducerId,
    /// Idempotent producer: the batch fails; `reset_producer_id` when the sequence state
    /// can no longer be trusted.
    FailBatch {
        /// Request a new producer id before sending more.
        reset_producer_id: bool,
    },
    /// EndTxn outcome unknown: only abort (by epoch bump) may follow.
    Unconfirmed,
    /// InitProducerId authorization failure: back to Uninitialized, `init` may be retried.
    Uninitialize,
    /// Another instance owns the transactional id.
    Fenced,
    /// Unrecoverable.
    Fatal,
}

use Disposition::*;
use ResponseError as E;

/// Classify one failure. This is the only place failure handling is decided.
pub(crate) fn classify(kind: RequestKind, failure: Failure, ctx: Context) -> Disposition {
    match failure {
        Failure::Transport(transport) => classify_transport(kind, transport, ctx),
        Failure::Code(code) => {
            let error = ResponseError::try_from_code(code).unwrap_or(E::Unknown(code));
            match kind {
                RequestKind::Metadata => metadata(error),
                RequestKind::FindCoordinator => find_coordinator(error),
                RequestKind::InitProducerId => init_producer_id(error),
                RequestKind::AddPartitionsToTxn => add_partitions(error, ctx),
                RequestKind::AddOffsetsToTxn => add_offsets(error, ctx),
                RequestKind::TxnOffsetCommit => txn_offset_commit(error),
                RequestKind::EndTxn { commit } => end_txn(error, commit, ctx),
                RequestKind::Produce => produce(error, ctx),
            }
        }
    }
}

fn classify_transport(kind: RequestKind, failure: TransportFailure, ctx: Context) -> Disposition {
    // Java: an AuthenticationException is fatal for the producer; so is a broker we cannot speak to.
    if matches!(
        failure,
        TransportFailure::Unsupported | TransportFailure::AuthenticationFailed
    ) {
        return Fatal;
    }
    match kind {
        RequestKind::Metadata => Retry { short: false },
        RequestKind::FindCoordinator => Retry { short: false },
        RequestKind::InitProducerId | RequestKind::AddPartitionsToTxn if ctx.transactional => {
            RefindCoordinator
        }
        RequestKind::InitProducerId | RequestKind::AddPartitionsToTxn => Retry { short: false },
        // A disconnect makes Java look the coordinator up again; both requests are safe to
        // repeat (the partition is added once, the same offsets are written again).
        RequestKind::AddOffsetsToTxn | RequestKind::TxnOffsetCommit => RefindCoordinator,
        // Sent or not, the same EndTxn is safe to send again (see the module doc).
        RequestKind::EndTxn { .. } => RefindCoordinator,
        RequestKind::Produce if ctx.retries_exhausted => retries_exhausted(ctx),
        RequestKind::Produce => match failure {
            TransportFailure::NotSent => RefreshMetadata,
            _ => RetryUnsure,
        },
    }
}

/// Produce retries ran out: the batch may or may not be in the log, so the partition's
/// sequence is unresolved. Recover by an epoch bump where possible (KIP-360; Java's
/// `TransactionManager.handleFailedBatch`).
fn retries_exhausted(ctx: Context) -> Disposition {
    match (ctx.transactional, ctx.tv2, ctx.can_bump_epoch) {
        (false, _, _) => FailBatch {
            reset_producer_id: true,
        },
        (true, true, _) => Abortable(Recovery::EndTxn),
        (true, false, true) => Abortable(Recovery::EndTxnThenBump),
        (true, false, false) => Fatal,
    }
}

/// Abortable; under TV1 with KIP-360 the abort also bumps the epoch.
fn abortable_or_bump(ctx: Context) -> Disposition {
    if !ctx.tv2 && ctx.can_bump_epoch {
        Abortable(Recovery::EndTxnThenBump)
    } else {
        Abortable(Recovery::EndTxn)
    }
}

/// Java's `abortableErrorIfPossible`: abortable with a bump when the coordinator can bump,
/// fatal otherwise. Under TV2 EndTxn bumps the epoch by itself.
fn abortable_if_bump_possible(ctx: Context) -> Disposition {
    if ctx.tv2 {
        Abortable(Recovery::EndTxn)
    } else if ctx.can_bump_epoch {
        Abortable(Recovery::EndTxnThenBump)
    } else {
        Fatal
    }
}

fn is_coordinator_moved(error: E) -> bool {
    matches!(error, E::NotCoordinator | E::CoordinatorNotAvailable)
}

fn metadata(error: E) -> Disposition {
    match error {
        E::TopicAuthorizationFailed | E::InvalidTopicException => Abortable(Recovery::EndTxn),
        E::ClusterAuthorizationFailed => Fatal,
        // Unknown topics and missing leaders settle after a while; the delivery timeout
        // bounds how long records wait for them.
        _ => Retry { short: false },
    }
}

fn find_coordinator(error: E) -> Disposition {
    match error {
        E::GroupAuthorizationFailed | E::TransactionAbortable => Abortable(Recovery::EndTxn),
        E::TransactionalIdAuthorizationFailed => Fatal,
        other if other.is_retriable() => Retry { short: false },
        _ => Fatal,
    }
}

fn init_producer_id(error: E) -> Disposition {
    match error {
        e if is_coordinator_moved(e) => RefindCoordinator,
        E::ConcurrentTransactions => Retry { short: true },
        E::TransactionalIdAuthorizationFailed | E::ClusterAuthorizationFailed => Uninitialize,
        // No usable epoch yet: recovering means asking for one again.
        E::TransactionAbortable => Abortable(Recovery::Reinit),
        E::InvalidProducerEpoch | E::ProducerFenced => Fenced,
        other if other.is_retriable() => Retry { short: false },
        _ => Fatal,
    }
}

fn add_partitions(error: E, ctx: Context) -> Disposition {
    match error {
        e if is_coordinator_moved(e) => RefindCoordinator,
        E::ConcurrentTransactions => Retry { short: true },
        E::InvalidProducerEpoch | E::ProducerFenced => Fenced,
        E::TransactionalIdAuthorizationFailed
        | E::InvalidTxnState
        | E::InvalidProducerIdMapping => Fatal,
        E::UnknownProducerId => abortable_if_bump_possible(ctx),
        E::TopicAuthorizationFailed | E::OperationNotAttempted | E::TransactionAbortable => {
            Abortable(Recovery::EndTxn)
        }
        other if other.is_retriable() => Retry { short: false },
        _ => Abortable(Recovery::EndTxn),
    }
}

/// Java `AddOffsetsToTxnHandler`. A TV2 producer never sends it (TxnOffsetCommit v5 adds the
/// offsets partition itself).
fn add_offsets(error: E, ctx: Context) -> Disposition {
    match error {
        e if is_coordinator_moved(e) => RefindCoordinator,
        E::ConcurrentTransactions => Retry { short: true },
        E::UnknownProducerId => abortable_if_bump_possible(ctx),
        // Java skips EndTxn for this one: the coordinator no longer maps our id, so only a new
        // InitProducerId can recover (`beginCompletingTransaction`).
        E::InvalidProducerIdMapping => match abortable_if_bump_possible(ctx) {
            Abortable(_) => Abortable(Recovery::Reinit),
            other => other,
        },
        E::InvalidProducerEpoch | E::ProducerFenced => Fenced,
        E::TransactionalIdAuthorizationFailed | E::InvalidTxnState => Fatal,
        E::GroupAuthorizationFailed | E::TransactionAbortable => Abortable(Recovery::EndTxn),
        other if other.is_retriable() => Retry { short: false },
        _ => Fatal,
    }
}

/// Java `TxnOffsetCommitHandler`, per partition. The group coordinator fences zombie group
/// members (KIP-447): those errors fail the transaction, not the producer.
fn txn_offset_commit(error: E) -> Disposition {
    match error {
        E::CoordinatorNotAvailable | E::NotCoordinator | E::RequestTimedOut => RefindCoordinator,
        // Under TV2 the group coordinator adds the offsets partition through the transaction
        // coordinator, which answers this while the previous transaction's markers are written.
        E::ConcurrentTransactions => Retry { short: true },
        E::GroupAuthorizationFailed
        | E::FencedInstanceId
        | E::TransactionAbortable
        | E::UnknownMemberId
        | E::IllegalGeneration
        | E::GroupIdNotFound
        | E::StaleMemberEpoch => Abortable(Recovery::EndTxn),
        E::InvalidProducerEpoch | E::ProducerFenced => Fenced,
        E::TransactionalIdAuthorizationFailed | E::UnsupportedForMessageFormat => Fatal,
        other if other.is_retriable() => Retry { short: false },
        _ => Fatal,
    }
}

fn end_txn(error: E, commit: bool, ctx: Context) -> Disposition {
    match error {
        e if is_coordinator_moved(e) => RefindCoordinator,
        E::ConcurrentTransactions => Retry { short: true },
        E::CoordinatorLoadInProgress => Retry { short: false },
        // Older Redpanda answers UNKNOWN_SERVER_ERROR to an EndTxn it may have applied.
        E::UnknownServerError => Unconfirmed,
        E::UnknownProducerId => abortable_if_bump_possible(ctx),
        E::TransactionAbortable if commit => Abortable(Recovery::EndTxn),
        // KAFKA-19250: abortable during abort would loop forever.
        E::TransactionAbortable => Fatal,
        E::InvalidProducerEpoch | E::ProducerFenced => Fenced,
        E::TransactionalIdAuthorizationFailed
        | E::InvalidTxnState
        | E::InvalidProducerIdMapping => Fatal,
        other if other.is_retriable() => Retry { short: false },
        _ => Fatal,
    }
}

fn produce(error: E, ctx: Context) -> Disposition {
    let refresh_or_retry = |disposition: Disposition| {
        if ctx.retries_exhausted {
            retries_exhausted(ctx)
        } else {
            disposition
        }
    };
    match error {
        E::DuplicateSequenceNumber => TreatAsSuccess,
        E::RequestTimedOut | E::NotEnoughReplicasAfterAppend => refresh_or_retry(RetryUnsure),
        E::UnknownTopicOrPartition
        | E::NotLeaderOrFollower
        | E::LeaderNotAvailable
        | E::NetworkException
        | E::KafkaStorageError
        | E::FencedLeaderEpoch
        | E::UnknownLeaderEpoch => refresh_or_retry(RefreshMetadata),
        E::ConcurrentTransactions => refresh_or_retry(Retry { short: true }),
        E::OutOfOrderSequenceNumber | E::UnknownProducerId if !ctx.next_expected_batch => {
            // Collateral damage of an earlier batch of the same partition: that batch decides.
            refresh_or_retry(Retry { short: false })
        }
        E::OutOfOrderSequenceNumber | E::UnknownProducerId if !ctx.transactional => {
            RetryWithNewProducerId
        }
        E::OutOfOrderSequenceNumber | E::UnknownProducerId => abortable_if_bump_possible(ctx),
        E::InvalidProducerEpoch if !ctx.transactional => RetryWithNewProducerId,
        // KIP-588: on Produce a stale epoch is abortable (a coordinator timeout or a new
        // instance). The abort's EndTxn tells the two apart: TV2 treats it as a retry of the
        // timeout abort, a real fence answers PRODUCER_FENCED (KIP-588, KIP-890).
        E::InvalidProducerEpoch => abortable_or_bump(ctx),
        E::ProducerFenced => Fenced,
        E::ClusterAuthorizationFailed
        | E::TransactionalIdAuthorizationFailed
        | E::UnsupportedVersion
        | E::UnsupportedForMessageFormat
        | E::InvalidProducerIdMapping => Fatal,
        other if other.is_retriable() => refresh_or_retry(Retry { short: false }),
        _ if !ctx.transactional => FailBatch {
            reset_producer_id: false,
        },
        // INVALID_TXN_STATE (KAFKA-19177), TRANSACTION_ABORTABLE, MESSAGE_TOO_LARGE,
        // INVALID_RECORD, TOPIC_AUTHORIZATION_FAILED and anything unknown. The batch took
        // sequences it will never use; on the classic protocol the epoch survives the abort,
        // so the abort also bumps it (Java's `clientSideEpochBumpRequired`).
        _ => abortable_or_bump(ctx),
    }
}

/// What the caller of an operation that failed with `error` does now: the one mapping from
/// errors to [`Action`]s ([`TxnError::action`]).
pub(crate) fn action(error: &TxnError) -> Action {
    match error {
        TxnError::Timeout {
            op: Operation::Close,
        } => Action::ReplaceProducer,
        TxnError::Timeout { .. } => Action::Retry,
        TxnError::BufferExhausted { .. } => Action::RetryLater,
        TxnError::InvalidPartition { .. } | TxnError::RecordTooLarge { .. } => {
            Action::RecordRefused
        }
        TxnError::UnknownTopic { .. } => Action::UnknownTopic,
        TxnError::Abortable { code, .. } | TxnError::Delivery { code, .. }
            if refuses_the_records(*code) =>
        {
            Action::AbortThenFixRecords
        }
        TxnError::Abortable { .. } | TxnError::Delivery { .. } | TxnError::TransactionAborted => {
            Action::AbortThenRetry
        }
        TxnError::OutcomeUnknown => Action::OutcomeUnknown,
        TxnError::Fenced => Action::Fenced,
        TxnError::Fatal { .. }
        | TxnError::BrokerUnusable { .. }
        | TxnError::Internal { .. }
        | TxnError::Closed
        | TxnError::Config(_)
        | TxnError::NoRuntime => Action::ReplaceProducer,
        TxnError::Usage(_) => Action::FixUsage,
    }
}

/// Broker errors that refuse records for what they are, not because of the cluster or the
/// transaction: sending the same records again fails the same way.
fn refuses_the_records(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(
            E::UnknownTopicOrPartition
                | E::MessageTooLarge
                | E::InvalidTopicException
                | E::RecordListTooLarge
                | E::TopicAuthorizationFailed
                // A timestamp outside the topic's message.timestamp.{before,after}.max.ms
                // (Kafka's default refuses more than an hour ahead).
                | E::InvalidTimestamp
                | E::InvalidRecord
        )
    )
}
