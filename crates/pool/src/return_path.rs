//! What happens to a producer when its transaction ends: back to the pool, abort then back, or close
//! and replace. Every path ends after at most one abort, so an unexpected state can never loop.

use std::sync::Arc;

use crate::member::Member;
use crate::producer::{Health, ProducerFactory, TxnProducer};
use crate::shared::Shared;
use crate::slot::fill_slot;
use crate::stats::Counters;

/// The decision for a returning producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Reuse,
    Replace { fenced: bool },
}

/// Aborts the lease's transaction (a lease dropped without commit or abort), then returns it.
pub(crate) async fn abort_then_recycle<F: ProducerFactory>(
    shared: Arc<Shared<F>>,
    member: Member<F>,
) {
    match member.producer.abort().await {
        Ok(()) => Counters::bump(&shared.counters.aborts),
        Err(error) => tracing::warn!(
            transactional_id = %member.transactional_id, error = %error,
            "aborting a dropped lease's transaction failed"
        ),
    }
    recycle(shared, member).await;
}

/// Returns a producer whose transaction ended (or failed) to the pool, or replaces it.
pub(crate) async fn recycle<F: ProducerFactory>(shared: Arc<Shared<F>>, member: Member<F>) {
    match settle(&shared, &member).await {
        Verdict::Reuse => shared.give_back(member),
        Verdict::Replace { fenced } => replace(shared, member, fenced).await,
    }
}

/// Brings the producer to `Ready` if one abort can, else condemns it.
async fn settle<F: ProducerFactory>(shared: &Shared<F>, member: &Member<F>) -> Verdict {
    match member.producer.health() {
        Health::Ready => return Verdict::Reuse,
        Health::Fatal { fenced } => return Verdict::Replace { fenced },
        Health::NeedsAbort | Health::OutcomeUnknown => {}
    }
    match member.producer.abort().await {
        Ok(()) => Counters::bump(&shared.counters.aborts),
        Err(error) => tracing::warn!(
            transactional_id = %member.transactional_id, error = %error,
            "aborting a failed transaction failed; the producer will be replaced"
        ),
    }
    match member.producer.health() {
        Health::Ready => Verdict::Reuse,
        Health::Fatal { fenced } => Verdict::Replace { fenced },
        // Still not usable after its one abort: replacing is bounded, retrying might not be.
        Health::NeedsAbort | Health::OutcomeUnknown => Verdict::Replace { fenced: false },
    }
}

/// Closes a producer that can no longer be used and re-initialises its slot with the same
/// transactional id in the background, backing off when the slot keeps failing.
async fn replace<F: ProducerFactory>(shared: Arc<Shared<F>>, member: Member<F>, fenced: bool) {
    let transactional_id = Arc::clone(&member.transactional_id);
    let (producer, slot) = member.retire();
    producer.close().await;
    drop(producer);
    Counters::bump(&shared.counters.replacements);
    if fenced {
        Counters::bump(&shared.counters.fenced);
    }
    let Some(plan) = shared.begin_replacement(slot) else {
        return;
    };
    if plan.rapid_failures >= 2 && fenced {
        tracing::error!(
            %transactional_id,
            fenced_in_a_row = plan.rapid_failures,
            instance_id = %shared.config.instance_id,
            retry_in = ?plan.delay,
            "producer fenced again soon after taking its transactional id back: another process \
             is probably running with the same instance id; backing off instead of fencing it back"
        );
    } else if plan.rapid_failures >= 2 {
        tracing::error!(
            %transactional_id,
            failures_in_a_row = plan.rapid_failures,
            retry_in = ?plan.delay,
            "producer failed fatally again soon after being re-initialised; backing off"
        );
    } else {
        tracing::warn!(%transactional_id, fenced, "producer failed fatally; re-initialising it");
    }
    let task = fill_slot(Arc::clone(&shared), slot, plan.delay, None);
    shared.spawn(task);
}
