//! What an error of the transaction engine means for an HTTP client, by stage.
//!
//! The rule that matters most: only an error at commit may be reported as an unknown outcome, and
//! every error at commit that does not prove the commit failed is reported as unknown. Errors
//! before the commit end in an abort, so their records can never become visible.

use kafkatx_txn::TxnError;

use crate::pool_backend::{FailureKind, Stage};

/// Kafka error codes that mean the request itself is wrong, not the cluster or the transaction.
const REQUEST_ERROR_CODES: &[i16] = &[
    3,  // UNKNOWN_TOPIC_OR_PARTITION
    10, // MESSAGE_TOO_LARGE
    17, // INVALID_TOPIC_EXCEPTION
    18, // RECORD_LIST_TOO_LARGE
    29, // TOPIC_AUTHORIZATION_FAILED
    87, // INVALID_RECORD
];

/// Classifies `error`, raised by the engine at `stage`.
pub fn classify(error: &TxnError, stage: Stage) -> FailureKind {
    match stage {
        Stage::Begin => at_begin(error),
        Stage::Send => before_commit(error),
        Stage::Commit => at_commit(error),
    }
}

fn at_begin(error: &TxnError) -> FailureKind {
    match error {
        TxnError::Abortable { code, .. } | TxnError::Delivery { code, .. }
            if REQUEST_ERROR_CODES.contains(code) =>
        {
            FailureKind::Invalid
        }
        // Nothing was sent: whatever went wrong, the client may retry later.
        _ => FailureKind::Unavailable,
    }
}

fn before_commit(error: &TxnError) -> FailureKind {
    match error {
        TxnError::InvalidPartition { .. } => FailureKind::Invalid,
        TxnError::Abortable { code, .. } | TxnError::Delivery { code, .. }
            if REQUEST_ERROR_CODES.contains(code) =>
        {
            FailureKind::Invalid
        }
        // The cluster was slow or gone; the transaction is aborted, so a retry is safe.
        TxnError::Timeout { .. } => FailureKind::Unavailable,
        _ => FailureKind::Aborted,
    }
}

fn at_commit(error: &TxnError) -> FailureKind {
    match error {
        // The engine refused or the coordinator rejected the commit: it did not happen.
        TxnError::Abortable { .. }
        | TxnError::Delivery { .. }
        | TxnError::TransactionAborted
        | TxnError::Fenced
        | TxnError::Usage(_) => FailureKind::Aborted,
        // A timeout at commit (even one the engine calls retriable), a lost answer, or any
        // error this code does not know: the EndTxn may have been applied, so claim nothing.
        _ => FailureKind::OutcomeUnknown,
    }
}

#[cfg(test)]
mod tests {
    use kafkatx_txn::{Operation, TxnState, UsageError};

    use super::*;

    fn abortable(code: i16) -> TxnError {
        TxnError::Abortable {
            code,
            reason: "test".to_owned(),
        }
    }

    #[test]
    fn only_commit_errors_can_leave_the_outcome_unknown() {
        let errors = [
            TxnError::OutcomeUnknown,
            TxnError::Closed,
            TxnError::Timeout {
                op: Operation::Commit,
            },
            TxnError::Fatal {
                code: -1,
                reason: "x".to_owned(),
            },
        ];
        for error in &errors {
            assert_eq!(
                classify(error, Stage::Commit),
                FailureKind::OutcomeUnknown,
                "{error}"
            );
            assert_ne!(
                classify(error, Stage::Send),
                FailureKind::OutcomeUnknown,
                "{error}"
            );
            assert_ne!(
                classify(error, Stage::Begin),
                FailureKind::OutcomeUnknown,
                "{error}"
            );
        }
    }

    #[test]
    fn a_rejected_commit_is_an_abort() {
        for error in [
            TxnError::Fenced,
            abortable(48),
            TxnError::TransactionAborted,
            TxnError::Usage(UsageError {
                op: Operation::Commit,
                state: TxnState::AbortableError,
                detail: None,
            }),
        ] {
            assert_eq!(
                classify(&error, Stage::Commit),
                FailureKind::Aborted,
                "{error}"
            );
        }
    }

    #[test]
    fn unknown_topics_are_the_clients_fault_and_timeouts_the_clusters() {
        assert_eq!(classify(&abortable(3), Stage::Send), FailureKind::Invalid);
        assert_eq!(classify(&abortable(47), Stage::Send), FailureKind::Aborted);
        let missing_partition = TxnError::InvalidPartition {
            topic: "t".to_owned(),
            partition: 9,
            partitions: Some(3),
        };
        assert_eq!(
            classify(&missing_partition, Stage::Send),
            FailureKind::Invalid
        );
        let timeout = TxnError::Timeout {
            op: Operation::Send,
        };
        assert_eq!(classify(&timeout, Stage::Send), FailureKind::Unavailable);
        assert_eq!(
            classify(&TxnError::Fenced, Stage::Begin),
            FailureKind::Unavailable
        );
    }
}
