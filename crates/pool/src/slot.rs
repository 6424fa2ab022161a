//! The background task that fills one slot: creates its producer, retrying with backoff until it
//! succeeds or the pool closes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::producer::{ProducerFactory, TxnProducer};
use crate::shared::Shared;

/// Reports the outcome of a slot's first initialisation attempt (`true` = ready) to `Pool::new`.
pub(crate) type FirstAttempt = oneshot::Sender<bool>;

/// Fills `slot` after `delay`. The slot must already be counted as replacing.
pub(crate) async fn fill_slot<F: ProducerFactory>(
    shared: Arc<Shared<F>>,
    slot: usize,
    delay: Duration,
    mut first_attempt: Option<FirstAttempt>,
) {
    let transactional_id = shared.config.transactional_id(slot);
    let mut closed = shared.closed_signal();
    if !sleep_unless_closed(delay, &mut closed).await {
        shared.abandon_slot();
        return;
    }
    let mut failures: u32 = 0;
    loop {
        let created = tokio::select! {
            created = shared.factory.create(&transactional_id) => created,
            () = wait_closed(&mut closed) => {
                shared.abandon_slot();
                return;
            }
        };
        match created {
            Ok(producer) => {
                let installed = shared.install(slot, producer);
                // Only now: once `Pool::new` returns, a ready producer must be leasable (and
                // seen by `/readyz`); reported before the install, the caller could run first.
                report_first_attempt(&mut first_attempt, true);
                match installed {
                    Ok(()) => tracing::debug!(%transactional_id, "producer ready"),
                    // The pool closed while the producer was being initialised.
                    Err(late) => late.close().await,
                }
                return;
            }
            Err(error) => {
                report_first_attempt(&mut first_attempt, false);
                failures = failures.saturating_add(1);
                let retry_in = shared.config.init_backoff.delay(failures);
                tracing::warn!(
                    %transactional_id, failures, ?retry_in, error = %error,
                    "initialising a producer failed; retrying"
                );
                if !sleep_unless_closed(retry_in, &mut closed).await {
                    shared.abandon_slot();
                    return;
                }
            }
        }
    }
}

/// Tells `Pool::new` how the slot's first attempt went, once.
fn report_first_attempt(first_attempt: &mut Option<FirstAttempt>, ready: bool) {
    if let Some(report) = first_attempt.take() {
        // `Pool::new` may have stopped listening after its startup timeout; nothing to do then.
        let _ignored = report.send(ready);
    }
}

/// Sleeps for `delay`; returns `false` if the pool closed first.
async fn sleep_unless_closed(delay: Duration, closed: &mut watch::Receiver<bool>) -> bool {
    if *closed.borrow() {
        return false;
    }
    if delay.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = wait_closed(closed) => false,
    }
}

async fn wait_closed(closed: &mut watch::Receiver<bool>) {
    // An error means the pool's shared state is gone, which also means "stop".
    let _closed = closed.wait_for(|is_closed| *is_closed).await;
}
