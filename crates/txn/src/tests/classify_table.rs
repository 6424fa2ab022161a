//! One test per row of the classification table (`src/classify.rs`), each checking every
//! column of its row, plus the transport-failure and context-dependent cells.

use super::codes::*;
use crate::classify::Disposition::{self, *};
use crate::classify::{Context, Failure, Recovery, RequestKind, TransportFailure, classify};

const TXN_TV1: Context = Context {
    transactional: true,
    can_bump_epoch: true,
    tv2: false,
    retries_exhausted: false,
    next_expected_batch: true,
};
const TXN_TV2: Context = Context {
    tv2: true,
    ..TXN_TV1
};
const TXN_NO_BUMP: Context = Context {
    can_bump_epoch: false,
    ..TXN_TV1
};
const IDEMPOTENT: Context = Context {
    transactional: false,
    ..TXN_TV1
};

fn code(kind: RequestKind, code: i16, ctx: Context) -> Disposition {
    classify(kind, Failure::Code(code), ctx)
}

fn check(kind: RequestKind, ctx: Context, cells: &[(i16, Disposition)]) {
    for (error, expected) in cells {
        assert_eq!(
            code(kind, *error, ctx),
            *expected,
            "{kind:?} code {error} ({ctx:?})"
        );
    }
}

const RETRY: Disposition = Retry { short: false };
const SHORT: Disposition = Retry { short: true };
const ABORT: Disposition = Abortable(Recovery::EndTxn);
const ABORT_BUMP: Disposition = Abortable(Recovery::EndTxnThenBump);

#[test]
fn find_coordinator_row() {
    let kind = RequestKind::FindCoordinator;
    // Retry: any retriable; abortable: group auth, TRANSACTION_ABORTABLE; fatal: txn-id auth, other.
    check(
        kind,
        TXN_TV1,
        &[
            (COORDINATOR_LOAD_IN_PROGRESS, RETRY),
            (COORDINATOR_NOT_AVAILABLE, RETRY),
            (REQUEST_TIMED_OUT, RETRY),
            (GROUP_AUTHORIZATION_FAILED, ABORT),
            (TRANSACTION_ABORTABLE, ABORT),
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
            (INVALID_REQUEST, Fatal),
        ],
    );
    assert_eq!(
        classify(kind, Failure::Transport(TransportFailure::Lost), TXN_TV1),
        RETRY
    );
}

#[test]
fn init_producer_id_row() {
    let kind = RequestKind::InitProducerId;
    check(
        kind,
        TXN_TV1,
        &[
            (COORDINATOR_LOAD_IN_PROGRESS, RETRY),
            (CONCURRENT_TRANSACTIONS, SHORT),
            (NOT_COORDINATOR, RefindCoordinator),
            (COORDINATOR_NOT_AVAILABLE, RefindCoordinator),
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Uninitialize),
            (CLUSTER_AUTHORIZATION_FAILED, Uninitialize),
            (TRANSACTION_ABORTABLE, Abortable(Recovery::Reinit)),
            (INVALID_PRODUCER_EPOCH, Fenced),
            (PRODUCER_FENCED, Fenced),
            (INVALID_TRANSACTION_TIMEOUT, Fatal),
            (UNKNOWN_SERVER_ERROR, Fatal),
        ],
    );
    assert_eq!(
        classify(kind, Failure::Transport(TransportFailure::Lost), TXN_TV1),
        RefindCoordinator
    );
    assert_eq!(
        classify(kind, Failure::Transport(TransportFailure::Lost), IDEMPOTENT),
        RETRY
    );
}

#[test]
fn add_partitions_to_txn_row() {
    let kind = RequestKind::AddPartitionsToTxn;
    check(
        kind,
        TXN_TV1,
        &[
            (CONCURRENT_TRANSACTIONS, SHORT),
            (COORDINATOR_LOAD_IN_PROGRESS, RETRY),
            (UNKNOWN_TOPIC_OR_PARTITION, RETRY),
            (NOT_COORDINATOR, RefindCoordinator),
            (COORDINATOR_NOT_AVAILABLE, RefindCoordinator),
            (TOPIC_AUTHORIZATION_FAILED, ABORT),
            (OPERATION_NOT_ATTEMPTED, ABORT),
            (TRANSACTION_ABORTABLE, ABORT),
            (UNKNOWN_PRODUCER_ID, ABORT_BUMP),
            (INVALID_PRODUCER_EPOCH, Fenced),
            (PRODUCER_FENCED, Fenced),
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
            (INVALID_TXN_STATE, Fatal),
            (INVALID_PRODUCER_ID_MAPPING, Fatal),
            (INVALID_RECORD, ABORT),
        ],
    );
    // abortable* without KIP-360 support is fatal.
    assert_eq!(code(kind, UNKNOWN_PRODUCER_ID, TXN_NO_BUMP), Fatal);
    assert_eq!(
        classify(kind, Failure::Transport(TransportFailure::Lost), TXN_TV1),
        RefindCoordinator
    );
}

#[test]
fn add_offsets_to_txn_row() {
    let kind = RequestKind::AddOffsetsToTxn;
    // Java `AddOffsetsToTxnHandler` (Kafka 4.x).
    check(
        kind,
        TXN_TV1,
        &[
            (NOT_COORDINATOR, RefindCoordinator),
            (COORDINATOR_NOT_AVAILABLE, RefindCoordinator),
            (CONCURRENT_TRANSACTIONS, SHORT),
            (COORDINATOR_LOAD_IN_PROGRESS, RETRY),
            (UNKNOWN_PRODUCER_ID, ABORT_BUMP),
            (INVALID_PRODUCER_ID_MAPPING, Abortable(Recovery::Reinit)),
            (INVALID_PRODUCER_EPOCH, Fenced),
            (PRODUCER_FENCED, Fenced),
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
            (INVALID_TXN_STATE, Fatal),
            (GROUP_AUTHORIZATION_FAILED, ABORT),
            (TRANSACTION_ABORTABLE, ABORT),
            (INVALID_REQUEST, Fatal),
            (UNKNOWN_SERVER_ERROR, Fatal),
        ],
    );
    // abortable* without KIP-360 support is fatal.
    assert_eq!(code(kind, UNKNOWN_PRODUCER_ID, TXN_NO_BUMP), Fatal);
    assert_eq!(code(kind, INVALID_PRODUCER_ID_MAPPING, TXN_NO_BUMP), Fatal);
    for failure in [TransportFailure::Lost, TransportFailure::NotSent] {
        assert_eq!(
            classify(kind, Failure::Transport(failure), TXN_TV1),
            RefindCoordinator
        );
    }
}

#[test]
fn txn_offset_commit_row() {
    let kind = RequestKind::TxnOffsetCommit;
    // Java `TxnOffsetCommitHandler` (Kafka 4.x), plus the KIP-1319 group errors of v6.
    for ctx in [TXN_TV1, TXN_TV2] {
        check(
            kind,
            ctx,
            &[
                (COORDINATOR_NOT_AVAILABLE, RefindCoordinator),
                (NOT_COORDINATOR, RefindCoordinator),
                (REQUEST_TIMED_OUT, RefindCoordinator),
                (COORDINATOR_LOAD_IN_PROGRESS, RETRY),
                (UNKNOWN_TOPIC_OR_PARTITION, RETRY),
                (CONCURRENT_TRANSACTIONS, SHORT),
                (GROUP_AUTHORIZATION_FAILED, ABORT),
                (FENCED_INSTANCE_ID, ABORT),
                (TRANSACTION_ABORTABLE, ABORT),
                (UNKNOWN_MEMBER_ID, ABORT),
                (ILLEGAL_GENERATION, ABORT),
                (GROUP_ID_NOT_FOUND, ABORT),
                (STALE_MEMBER_EPOCH, ABORT),
                (INVALID_PRODUCER_EPOCH, Fenced),
                (PRODUCER_FENCED, Fenced),
                (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
                (UNSUPPORTED_FOR_MESSAGE_FORMAT, Fatal),
                (INVALID_GROUP_ID, Fatal),
                (UNKNOWN_SERVER_ERROR, Fatal),
            ],
        );
    }
    for failure in [TransportFailure::Lost, TransportFailure::NotSent] {
        assert_eq!(
            classify(kind, Failure::Transport(failure), TXN_TV2),
            RefindCoordinator
        );
    }
}

#[test]
fn end_txn_row() {
    let commit = RequestKind::EndTxn { commit: true };
    let abort = RequestKind::EndTxn { commit: false };
    check(
        commit,
        TXN_TV1,
        &[
            (CONCURRENT_TRANSACTIONS, SHORT),
            (COORDINATOR_LOAD_IN_PROGRESS, RETRY),
            (NOT_COORDINATOR, RefindCoordinator),
            (COORDINATOR_NOT_AVAILABLE, RefindCoordinator),
            (UNKNOWN_PRODUCER_ID, ABORT_BUMP),
            (TRANSACTION_ABORTABLE, ABORT),
            (INVALID_PRODUCER_EPOCH, Fenced),
            (PRODUCER_FENCED, Fenced),
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
            (INVALID_TXN_STATE, Fatal),
            (INVALID_PRODUCER_ID_MAPPING, Fatal),
            (UNKNOWN_SERVER_ERROR, Unconfirmed),
            (INVALID_REQUEST, Fatal),
        ],
    );
    // KAFKA-19250: TRANSACTION_ABORTABLE while aborting is fatal.
    assert_eq!(code(abort, TRANSACTION_ABORTABLE, TXN_TV1), Fatal);
    assert_eq!(code(commit, UNKNOWN_PRODUCER_ID, TXN_TV2), ABORT);
    // A lost answer: the same EndTxn goes to the coordinator found again (Java does so).
    for ctx in [TXN_TV1, TXN_TV2] {
        assert_eq!(
            classify(commit, Failure::Transport(TransportFailure::Lost), ctx),
            RefindCoordinator
        );
    }
    assert_eq!(
        classify(
            commit,
            Failure::Transport(TransportFailure::NotSent),
            TXN_TV1
        ),
        RefindCoordinator
    );
}

#[test]
fn produce_row_transactional() {
    let kind = RequestKind::Produce;
    check(
        kind,
        TXN_TV1,
        &[
            (DUPLICATE_SEQUENCE_NUMBER, TreatAsSuccess),
            (REQUEST_TIMED_OUT, RetryUnsure),
            (NOT_ENOUGH_REPLICAS_AFTER_APPEND, RetryUnsure),
            (NOT_LEADER_OR_FOLLOWER, RefreshMetadata),
            (UNKNOWN_TOPIC_OR_PARTITION, RefreshMetadata),
            (NETWORK_EXCEPTION, RefreshMetadata),
            (KAFKA_STORAGE_ERROR, RefreshMetadata),
            (NOT_ENOUGH_REPLICAS, RETRY),
            (CONCURRENT_TRANSACTIONS, SHORT),
            (OUT_OF_ORDER_SEQUENCE_NUMBER, ABORT_BUMP),
            (UNKNOWN_PRODUCER_ID, ABORT_BUMP),
            (INVALID_PRODUCER_EPOCH, ABORT_BUMP),
            // A batch refused for good took sequences it never uses: on the classic protocol
            // the abort bumps the epoch so the next transaction does not start past a gap.
            (INVALID_TXN_STATE, ABORT_BUMP),
            (TRANSACTION_ABORTABLE, ABORT_BUMP),
            (MESSAGE_TOO_LARGE, ABORT_BUMP),
            (INVALID_RECORD, ABORT_BUMP),
            (TOPIC_AUTHORIZATION_FAILED, ABORT_BUMP),
            (PRODUCER_FENCED, Fenced),
            (CLUSTER_AUTHORIZATION_FAILED, Fatal),
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Fatal),
            (UNSUPPORTED_VERSION, Fatal),
            (INVALID_PRODUCER_ID_MAPPING, Fatal),
        ],
    );
    // Under TV2 EndTxn bumps by itself.
    assert_eq!(code(kind, OUT_OF_ORDER_SEQUENCE_NUMBER, TXN_TV2), ABORT);
    assert_eq!(code(kind, INVALID_PRODUCER_EPOCH, TXN_TV2), ABORT);
    assert_eq!(code(kind, INVALID_PRODUCER_EPOCH, TXN_NO_BUMP), ABORT);
    for refused in [
        INVALID_TXN_STATE,
        TRANSACTION_ABORTABLE,
        MESSAGE_TOO_LARGE,
        INVALID_RECORD,
        TOPIC_AUTHORIZATION_FAILED,
    ] {
        assert_eq!(code(kind, refused, TXN_TV2), ABORT);
        // Without KIP-360 there is no bump; the engine gives the sequences back instead.
        assert_eq!(code(kind, refused, TXN_NO_BUMP), ABORT);
    }
    // Sequence errors of a batch that is not next in line are collateral: retry.
    let collateral = Context {
        next_expected_batch: false,
        ..TXN_TV1
    };
    assert_eq!(code(kind, OUT_OF_ORDER_SEQUENCE_NUMBER, collateral), RETRY);
    // Lost answers: maybe persisted, resend the same bytes; never sent: refresh and resend.
    assert_eq!(
        classify(kind, Failure::Transport(TransportFailure::Lost), TXN_TV1),
        RetryUnsure
    );
    assert_eq!(
        classify(kind, Failure::Transport(TransportFailure::NotSent), TXN_TV1),
        RefreshMetadata
    );
}

#[test]
fn produce_retries_exhausted_become_abortable_or_fatal() {
    let kind = RequestKind::Produce;
    let exhausted = Context {
        retries_exhausted: true,
        ..TXN_TV1
    };
    assert_eq!(code(kind, NOT_LEADER_OR_FOLLOWER, exhausted), ABORT_BUMP);
    assert_eq!(
        code(
            kind,
            6,
            Context {
                tv2: true,
                ..exhausted
            }
        ),
        ABORT
    );
    assert_eq!(
        code(
            kind,
            6,
            Context {
                can_bump_epoch: false,
                ..exhausted
            }
        ),
        Fatal
    );
    assert_eq!(
        code(
            kind,
            6,
            Context {
                transactional: false,
                ..exhausted
            }
        ),
        FailBatch {
            reset_producer_id: true
        }
    );
}

#[test]
fn produce_row_idempotent() {
    check(
        RequestKind::Produce,
        IDEMPOTENT,
        &[
            (DUPLICATE_SEQUENCE_NUMBER, TreatAsSuccess),
            (NOT_LEADER_OR_FOLLOWER, RefreshMetadata),
            (OUT_OF_ORDER_SEQUENCE_NUMBER, RetryWithNewProducerId),
            (UNKNOWN_PRODUCER_ID, RetryWithNewProducerId),
            (INVALID_PRODUCER_EPOCH, RetryWithNewProducerId),
            (
                10,
                FailBatch {
                    reset_producer_id: false,
                },
            ),
            (CLUSTER_AUTHORIZATION_FAILED, Fatal),
        ],
    );
}

#[test]
fn unsupported_version_and_refused_credentials_are_fatal_everywhere() {
    for failure in [
        TransportFailure::Unsupported,
        TransportFailure::AuthenticationFailed,
    ] {
        for kind in [
            RequestKind::Metadata,
            RequestKind::FindCoordinator,
            RequestKind::InitProducerId,
            RequestKind::AddPartitionsToTxn,
            RequestKind::AddOffsetsToTxn,
            RequestKind::TxnOffsetCommit,
            RequestKind::EndTxn { commit: true },
            RequestKind::Produce,
        ] {
            assert_eq!(
                classify(kind, Failure::Transport(failure), TXN_TV1),
                Fatal,
                "{kind:?} {failure:?}"
            );
            assert_eq!(
                classify(kind, Failure::Transport(failure), IDEMPOTENT),
                Fatal,
                "{kind:?} {failure:?}"
            );
        }
    }
}
