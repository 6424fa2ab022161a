//! Operations that end in an unusual way still end: a failed epoch bump completes the abort
//! (or commit) that led to it, and a commit whose caller timed out keeps its result until
//! the caller asks again.

use std::time::Duration;

use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::{CONCURRENT_TRANSACTIONS, OUT_OF_ORDER_SEQUENCE_NUMBER};
use super::fake_cluster::{CLASSIC, Fault, KIP_890};
use super::harness::{Harness, txn_config};
use crate::error::{Operation, TxnError};
use crate::state::TxnState;

/// A classic-protocol transaction whose abort must bump the epoch: its commit failed with a
/// sequence error. Returns the harness in AbortableError.
fn aborting_with_a_bump() -> Harness {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    h.cluster
        .inject(ApiKey::Produce, Fault::Error(OUT_OF_ORDER_SEQUENCE_NUMBER));
    let commit = h.transaction(&[(0, "x")], true);
    assert!(
        matches!(commit, Some(Err(ref e)) if e.requires_abort()),
        "{commit:?}"
    );
    h
}

#[test]
fn an_epoch_bump_refused_for_authorization_fails_the_abort_and_allows_init() {
    let mut h = aborting_with_a_bump();
    let refused = ResponseError::TransactionalIdAuthorizationFailed.code();
    h.cluster
        .inject(ApiKey::InitProducerId, Fault::Error(refused));
    h.clear_events();
    h.m.abort(h.now).unwrap();
    h.settle();
    let abort = h.op_result(Operation::Abort);
    assert!(
        matches!(abort, Some(Err(_))),
        "the abort ends, with the error: {abort:?}"
    );
    assert_eq!(h.m.state(), TxnState::Uninitialized);
    h.init_ok();
    assert_eq!(h.transaction(&[(0, "y")], true), Some(Ok(())));
}

#[test]
fn an_epoch_bump_answered_abortable_fails_the_abort_which_can_then_be_retried() {
    let mut h = aborting_with_a_bump();
    let abortable = ResponseError::TransactionAbortable.code();
    h.cluster
        .inject(ApiKey::InitProducerId, Fault::Error(abortable));
    h.clear_events();
    h.m.abort(h.now).unwrap();
    h.settle();
    let abort = h.op_result(Operation::Abort);
    assert!(matches!(abort, Some(Err(_))), "{abort:?}");
    assert_eq!(h.m.state(), TxnState::AbortableError);
    assert_eq!(h.run_op_resuming(Operation::Abort), Ok(()));
    assert_eq!(h.m.state(), TxnState::Ready);
    assert_eq!(h.transaction(&[(0, "y")], true), Some(Ok(())));
}

#[test]
fn begin_after_a_timed_out_commit_asks_for_its_result_first() {
    let config = txn_config().max_block(Duration::from_millis(50));
    let mut h = Harness::single_broker(config, KIP_890);
    h.init_ok();
    // EndTxn is refused a few times, so the commit outlives max.block.ms and then succeeds.
    for _ in 0..4 {
        h.cluster
            .inject(ApiKey::EndTxn, Fault::Error(CONCURRENT_TRANSACTIONS));
    }
    let commit = h.transaction(&[(0, "x")], true);
    assert_eq!(
        commit,
        Some(Err(TxnError::Timeout {
            op: Operation::Commit
        }))
    );
    assert_eq!(
        h.committed()[0],
        vec!["x"],
        "the commit went through meanwhile"
    );

    let begin = h.m.begin(h.now);
    assert!(
        matches!(begin, Err(TxnError::Usage(ref u)) if u.op == Operation::Begin),
        "the commit's result must not be dropped: {begin:?}"
    );
    h.clear_events();
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    h.m.begin(h.now).unwrap();
}

#[test]
fn end_transaction_resumes_a_timed_out_commit_whatever_it_is_asked() {
    let config = txn_config().max_block(Duration::from_millis(50));
    let mut h = Harness::single_broker(config, KIP_890);
    h.init_ok();
    for _ in 0..8 {
        h.cluster
            .inject(ApiKey::EndTxn, Fault::Error(CONCURRENT_TRANSACTIONS));
    }
    let commit = h.transaction(&[(0, "x")], true);
    assert_eq!(
        commit,
        Some(Err(TxnError::Timeout {
            op: Operation::Commit
        }))
    );
    // The commit finished after its caller gave up. Asked to abort, end_transaction picks
    // the commit and hands over its result.
    h.clear_events();
    assert_eq!(
        h.m.end_transaction(h.now, false),
        (Operation::Commit, Ok(()))
    );
    h.settle();
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert_eq!(h.committed()[0], vec!["x"]);
    assert_eq!(h.m.state(), TxnState::Ready);
    // Nothing under way: the flag decides.
    h.m.begin(h.now).unwrap();
    assert_eq!(
        h.m.end_transaction(h.now, false),
        (Operation::Abort, Ok(()))
    );
}
