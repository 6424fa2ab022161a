//! What an error of the transaction engine means for an HTTP client, by stage.
//!
//! The rule that matters most: only an error at commit may be reported as an unknown outcome, and
//! every error at commit that does not prove the commit failed is reported as unknown. Errors
//! before the commit end in an abort, so their records can never become visible.
//!
//! The engine says what each error means ([`TxnError::action`]); this file only decides what the
//! client is told at each stage. It knows no Kafka error codes.

use kafkatx_txn::{Action, TxnError};

use crate::backend::transaction::{FailureKind, Stage};

/// Classifies `error`, raised by the engine at `stage`.
pub fn classify(error: &TxnError, stage: Stage) -> FailureKind {
    let action = error.action();
    match stage {
        Stage::Begin => at_begin(action),
        Stage::Send => before_commit(action),
        Stage::Commit => at_commit(action),
    }
}

fn at_begin(action: Action) -> FailureKind {
    match action {
        Action::UnknownTopic => FailureKind::UnknownTopic,
        // The brokers refused the records themselves: the request is wrong.
        Action::AbortThenFixRecords => FailureKind::Invalid,
        // Nothing was sent: whatever went wrong, the client may retry later.
        _ => FailureKind::Unavailable,
    }
}

fn before_commit(action: Action) -> FailureKind {
    match action {
        // A record the engine or the brokers refused for what it is: the request is wrong.
        Action::RecordRefused | Action::AbortThenFixRecords => FailureKind::Invalid,
        // The brokers do not keep up: nothing of this request was queued, retry later.
        Action::RetryLater => FailureKind::Unavailable,
        // The engine refuses records of a topic metadata calls unknown when auto-creation is
        // off (the gateway's setting): 404, nothing written.
        Action::UnknownTopic => FailureKind::UnknownTopic,
        // The cluster was slow or gone; the transaction is aborted, so a retry is safe.
        Action::Retry => FailureKind::Unavailable,
        _ => FailureKind::Aborted,
    }
}

fn at_commit(action: Action) -> FailureKind {
    match action {
        // The engine refused or the coordinator rejected the commit: it did not happen.
        Action::AbortThenRetry
        | Action::AbortThenFixRecords
        | Action::Fenced
        | Action::FixUsage => FailureKind::Aborted,
        // A timeout at commit (even one the engine calls retriable), a lost answer, or any
        // error this code does not know: the EndTxn may have been applied, so claim nothing.
        _ => FailureKind::OutcomeUnknown,
    }
}

#[cfg(test)]
mod tests {
    use kafkatx_txn::{Operation, TxnState, UsageError};

    use super::*;

    /// Kafka error codes the engine may carry, named.
    const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    const INVALID_TIMESTAMP: i16 = 32;
    const INVALID_PRODUCER_EPOCH: i16 = 47;
    const INVALID_TXN_STATE: i16 = 48;

    fn abortable(code: i16) -> TxnError {
        TxnError::Abortable {
            code,
            reason: "test".to_owned(),
        }
    }

    #[test]
    fn a_timestamp_the_broker_refuses_is_the_clients_fault() {
        assert_eq!(
            classify(&abortable(INVALID_TIMESTAMP), Stage::Send),
            FailureKind::Invalid
        );
    }

    #[test]
    fn only_commit_errors_can_leave_the_outcome_unknown() {
        let errors = [
            TxnError::OutcomeUnknown,
            TxnError::Closed,
            TxnError::Timeout {
                op: Operation::Commit,
            },
            TxnError::Internal {
                reason: "x".to_owned(),
            },
            TxnError::Fatal {
                code: INVALID_TXN_STATE,
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
            abortable(INVALID_TXN_STATE),
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
        assert_eq!(
            classify(&abortable(UNKNOWN_TOPIC_OR_PARTITION), Stage::Send),
            FailureKind::Invalid
        );
        assert_eq!(
            classify(&abortable(INVALID_PRODUCER_EPOCH), Stage::Send),
            FailureKind::Aborted
        );
        let unknown = TxnError::UnknownTopic {
            topic: "nope".to_owned(),
        };
        assert_eq!(classify(&unknown, Stage::Send), FailureKind::UnknownTopic);
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
