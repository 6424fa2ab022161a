//! Runs the group-commit queue: one runner per producer takes the requests waiting at that
//! moment and commits them as one transaction, then answers each.
//!
//! No request can hurt another: a shared transaction that fails for any reason that might be one
//! request's fault (an invalid record, an abort) is aborted and every request of it is retried
//! in a transaction of its own, so each ends with the outcome it would have had alone. Only a
//! failure that says nothing about the requests (the cluster unavailable) or an unknown commit
//! outcome (retrying could duplicate) is given to the whole group.

use std::sync::Arc;
use std::time::Duration;

use kafkatx_pool::{Lease, Pool, PoolError, ProducerFactory};
use tracing::Instrument;

use crate::backend::group_commit::{Job, JobQueue};
use crate::backend::transaction::{RecordSink, run_transaction};
use crate::backend::{Committed, OutRecord, Placed, ProducerInfo, TxnFailure};

/// Pause after a lease failed at once (its producer could not begin), so that a broken
/// producer cannot turn the loop into a busy one; requests wait with their own deadlines.
const LEASE_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How long a runner keeps a leased producer while no request waits, so that a busy gateway does
/// not return and re-lease producers between groups, and an idle one shows them idle.
const IDLE_HOLD: Duration = Duration::from_millis(50);

/// Takes the next group for a producer just leased. Under load another runner often took the
/// work that woke this one while it was leasing; rather than return the producer (an empty
/// abort) and lease it again a moment later, keep it for up to [`IDLE_HOLD`] for the next request.
async fn take_work_holding(queue: &JobQueue) -> Vec<Job> {
    let deadline = tokio::time::Instant::now() + IDLE_HOLD;
    loop {
        let jobs = queue.take_group();
        if !jobs.is_empty() {
            return jobs;
        }
        match tokio::time::timeout_at(deadline, queue.wait_for_work()).await {
            Ok(true) => {}
            // Closed, or idle long enough: the producer goes back to the pool.
            Ok(false) | Err(_) => return jobs,
        }
    }
}

/// Keeps one runner going: a runner that panicked (a bug; its requests were answered "outcome
/// unknown" when their reply channels dropped) is started again, so the gateway never ends up
/// with fewer runners than producers.
pub async fn supervise<F>(pool: Pool<F>, queue: Arc<JobQueue>)
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    loop {
        let runner = tokio::spawn(run(pool.clone(), Arc::clone(&queue)));
        match runner.await {
            Ok(()) => return,
            Err(error) if error.is_panic() => {
                tracing::error!("a group-commit runner panicked; starting another");
                tokio::time::sleep(LEASE_RETRY_PAUSE).await;
            }
            // Cancelled: the runtime is shutting down.
            Err(_) => return,
        }
    }
}

/// One runner: takes groups until the queue is closed or the pool is.
async fn run<F>(pool: Pool<F>, queue: Arc<JobQueue>)
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    while queue.wait_for_work().await {
        let lease = match pool.lease().await {
            Ok(lease) => lease,
            Err(PoolError::Closed) => break,
            Err(error) => {
                tracing::debug!(%error, "group runner could not lease a producer");
                tokio::time::sleep(LEASE_RETRY_PAUSE).await;
                continue;
            }
        };
        let jobs = take_work_holding(&queue).await;
        if jobs.is_empty() {
            // Nothing came while we held the producer; the empty transaction ends locally.
            let _ = lease.abort().await;
            continue;
        }
        let span = tracing::info_span!(
            "group",
            transactional_id = lease.transactional_id(),
            requests = jobs.len()
        );
        run_group(&queue, lease, jobs).instrument(span).await;
    }
}

/// Runs `jobs` in the leased producer's transaction and answers each (or requeues them).
async fn run_group<F>(queue: &JobQueue, lease: Lease<F>, jobs: Vec<Job>)
where
    F: ProducerFactory,
    F::Producer: RecordSink,
{
    let info = ProducerInfo {
        transactional_id: lease.transactional_id().to_owned(),
    };
    let mut built: Vec<(Job, Vec<OutRecord>)> = jobs
        .into_iter()
        .map(|job| {
            let records = (job.build)(&info);
            (job, records)
        })
        .collect();
    if built.len() > 1 {
        // A request to a topic not seen committed yet might wait long for its metadata or
        // fail: it goes alone, and the others do not wait for it.
        let (known, unknown): (Vec<_>, Vec<_>) = built
            .into_iter()
            .partition(|(_, records)| queue.topics_known(records.iter().map(|r| r.topic.as_str())));
        if !unknown.is_empty() {
            queue.retry_alone(unknown.into_iter().map(|(job, _)| job).collect());
        }
        built = known;
    }
    if built.is_empty() {
        let _ = lease.abort().await;
        return;
    }
    let counts: Vec<usize> = built.iter().map(|(_, records)| records.len()).collect();
    let (jobs, batches): (Vec<Job>, Vec<Vec<OutRecord>>) = built.into_iter().unzip();
    let records: Vec<OutRecord> = batches.into_iter().flatten().collect();
    let outcome = run_transaction(lease, records).await;
    match outcome {
        Ok(placed) => {
            queue.learn_topics(placed.iter().map(|p| p.topic.as_str()));
            if jobs.len() > 1 {
                queue.count_shared(jobs.len());
            }
            answer_committed(jobs, &counts, placed, &info.transactional_id);
        }
        Err(failure) if jobs.len() > 1 && may_be_a_requests_fault(&failure) => {
            tracing::info!(%failure, "shared transaction failed; retrying its requests alone");
            queue.retry_alone(jobs);
        }
        Err(failure) => {
            for job in jobs {
                let _ = job.reply.send(Err(failure.clone()));
            }
        }
    }
}

/// Whether a failure of a shared transaction could have been caused by one of its requests,
/// and retrying each alone is safe (nothing of the transaction can be visible).
fn may_be_a_requests_fault(failure: &TxnFailure) -> bool {
    match failure {
        TxnFailure::Invalid(_) | TxnFailure::UnknownTopic(_) | TxnFailure::Aborted(_) => true,
        TxnFailure::Saturated
        | TxnFailure::LeaseTimeout
        | TxnFailure::Unavailable(_)
        | TxnFailure::OutcomeUnknown(_)
        // Keyed requests never share a transaction.
        | TxnFailure::KeyReused
        | TxnFailure::InProgress => false,
    }
}

/// Gives each request the placements of its own records.
fn answer_committed(jobs: Vec<Job>, counts: &[usize], placed: Vec<Placed>, transactional_id: &str) {
    let mut placed = placed.into_iter();
    for (job, count) in jobs.into_iter().zip(counts) {
        let mine: Vec<Placed> = placed.by_ref().take(*count).collect();
        let _ = job.reply.send(Ok(Committed {
            transactional_id: transactional_id.to_owned(),
            placed: mine,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_that_prove_nothing_was_committed_are_retried() {
        assert!(may_be_a_requests_fault(&TxnFailure::Invalid("x".into())));
        assert!(may_be_a_requests_fault(&TxnFailure::Aborted("x".into())));
        assert!(!may_be_a_requests_fault(&TxnFailure::OutcomeUnknown(
            "x".into()
        )));
        assert!(!may_be_a_requests_fault(&TxnFailure::Unavailable(
            "x".into()
        )));
    }
}
