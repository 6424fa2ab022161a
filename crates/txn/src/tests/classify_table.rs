//! One test per row of the classification table (txn-reference §3.2), each checking every
//! column of its row, plus the transport-failure and context-dependent cells.

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
            (14, RETRY),
            (15, RETRY),
            (7, RETRY),
            (30, ABORT),
            (120, ABORT),
            (53, Fatal),
            (42, Fatal),
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
            (14, RETRY),
            (51, SHORT),
            (16, RefindCoordinator),
            (15, RefindCoordinator),
            (53, Uninitialize),
            (31, Uninitialize),
            (120, Abortable(Recovery::Reinit)),
            (47, Fenced),
            (90, Fenced),
            (50, Fatal),
            (-1, Fatal),
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
            (51, SHORT),
            (14, RETRY),
            (3, RETRY),
            (16, RefindCoordinator),
            (15, RefindCoordinator),
            (29, ABORT),
            (55, ABORT),
            (120, ABORT),
            (59, ABORT_BUMP),
            (47, Fenced),
            (90, Fenced),
            (53, Fatal),
            (48, Fatal),
            (49, Fatal),
            (87, ABORT),
        ],
    );
    // abortable* without KIP-360 support is fatal.
    assert_eq!(code(kind, 59, TXN_NO_BUMP), Fatal);
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
            (16, RefindCoordinator),
            (15, RefindCoordinator),
            (51, SHORT),
            (14, RETRY),
            (59, ABORT_BUMP),
            (49, Abortable(Recovery::Reinit)),
            (47, Fenced),
            (90, Fenced),
            (53, Fatal),
            (48, Fatal),
            (30, ABORT),
            (120, ABORT),
            (42, Fatal),
            (-1, Fatal),
        ],
    );
    // abortable* without KIP-360 support is fatal.
    assert_eq!(code(kind, 59, TXN_NO_BUMP), Fatal);
    assert_eq!(code(kind, 49, TXN_NO_BUMP), Fatal);
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
                (15, RefindCoordinator),
                (16, RefindCoordinator),
                (7, RefindCoordinator),
                (14, RETRY),
                (3, RETRY),
                (51, SHORT),
                (30, ABORT),
                (82, ABORT),
                (120, ABORT),
                (25, ABORT),
                (22, ABORT),
                (69, ABORT),
                (113, ABORT),
                (47, Fenced),
                (90, Fenced),
                (53, Fatal),
                (43, Fatal),
                (24, Fatal),
                (-1, Fatal),
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
            (51, SHORT),
            (14, RETRY),
            (16, RefindCoordinator),
            (15, RefindCoordinator),
            (59, ABORT_BUMP),
            (120, ABORT),
            (47, Fenced),
            (90, Fenced),
            (53, Fatal),
            (48, Fatal),
            (49, Fatal),
            (-1, Unconfirmed),
            (42, Fatal),
        ],
    );
    // KAFKA-19250: TRANSACTION_ABORTABLE while aborting is fatal.
    assert_eq!(code(abort, 120, TXN_TV1), Fatal);
    assert_eq!(code(commit, 59, TXN_TV2), ABORT);
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
            (46, TreatAsSuccess),
            (7, RetryUnsure),
            (20, RetryUnsure),
            (6, RefreshMetadata),
            (3, RefreshMetadata),
            (13, RefreshMetadata),
            (56, RefreshMetadata),
            (19, RETRY),
            (51, SHORT),
            (45, ABORT_BUMP),
            (59, ABORT_BUMP),
            (47, ABORT_BUMP),
            (48, ABORT),
            (120, ABORT),
            (10, ABORT),
            (87, ABORT),
            (29, ABORT),
            (90, Fenced),
            (31, Fatal),
            (53, Fatal),
            (35, Fatal),
            (49, Fatal),
        ],
    );
    // Under TV2 EndTxn bumps by itself.
    assert_eq!(code(kind, 45, TXN_TV2), ABORT);
    assert_eq!(code(kind, 47, TXN_TV2), ABORT);
    assert_eq!(code(kind, 47, TXN_NO_BUMP), ABORT);
    // Sequence errors of a batch that is not next in line are collateral: retry.
    let collateral = Context {
        next_expected_batch: false,
        ..TXN_TV1
    };
    assert_eq!(code(kind, 45, collateral), RETRY);
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
    assert_eq!(code(kind, 6, exhausted), ABORT_BUMP);
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
            (46, TreatAsSuccess),
            (6, RefreshMetadata),
            (45, RetryWithNewProducerId),
            (59, RetryWithNewProducerId),
            (47, RetryWithNewProducerId),
            (
                10,
                FailBatch {
                    reset_producer_id: false,
                },
            ),
            (31, Fatal),
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
