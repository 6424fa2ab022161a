//! Group commit on a real `kafkatx-pool` with fake producers: requests that wait at the same
//! time share one transaction, each still gets exactly its own outcome, and no request's fault
//! or timeout reaches another.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use kafkatx_pool::PoolConfig;
use kafkatx_server::backend::pool::FailureKind;
use kafkatx_server::{Backend, Committed, TxnFailure};
use support::fake_pool::{
    Shared, TestBackend, grouped_backend, records_of, records_to, scrape, small_pool,
};
use tokio::task::JoinHandle;

type Outcome = Result<Committed, TxnFailure>;

fn spawn(backend: &Arc<TestBackend>, value: &str) -> JoinHandle<Outcome> {
    let backend = Arc::clone(backend);
    let build = records_of(value);
    tokio::spawn(async move { backend.transact(build).await })
}

async fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("condition not reached in 2 s");
}

/// Starts a request whose send is held, so that the next ones queue behind it; returns it.
async fn hold_the_producer(
    backend: &Arc<TestBackend>,
    shared: &Arc<Shared>,
) -> JoinHandle<Outcome> {
    shared.script.lock().unwrap().hold_sends = true;
    let holder = spawn(backend, "holder");
    until(|| shared.held.load(Ordering::SeqCst) == 1).await;
    holder
}

fn release(shared: &Shared) {
    shared.script.lock().unwrap().hold_sends = false;
    shared.release.notify_one();
}

/// A grouped backend on one producer whose topic `t` is already known (one committed request).
async fn warm_backend(config: PoolConfig) -> (Arc<TestBackend>, Arc<Shared>) {
    let (backend, shared) = grouped_backend(config, 8).await;
    let backend = Arc::new(backend);
    backend.transact(records_of("warm-up")).await.unwrap();
    (backend, shared)
}

/// Holds the producer, queues one request per value behind it, and releases the producer once
/// all of them wait; returns the holder and the queued requests.
async fn queue_behind_holder(
    backend: &Arc<TestBackend>,
    shared: &Arc<Shared>,
    values: &[String],
) -> (JoinHandle<Outcome>, Vec<JoinHandle<Outcome>>) {
    let holder = hold_the_producer(backend, shared).await;
    let waiting: Vec<_> = values.iter().map(|v| spawn(backend, v)).collect();
    until(|| backend.queued_requests() == values.len()).await;
    release(shared);
    (holder, waiting)
}

fn named(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}{n}")).collect()
}

fn values(shared: &Shared) -> Vec<usize> {
    shared.sends.lock().unwrap().clone()
}

#[tokio::test]
async fn waiting_requests_share_one_transaction_and_each_gets_its_own_records() {
    let (backend, shared) = warm_backend(small_pool()).await;
    let (holder, waiting) = queue_behind_holder(&backend, &shared, &named("r", 4)).await;

    assert!(holder.await.unwrap().is_ok());
    let mut offsets = Vec::new();
    for request in waiting {
        let committed = request.await.unwrap().unwrap();
        assert_eq!(committed.transactional_id, "kafkatx-test-0");
        assert_eq!(committed.placed.len(), 2, "its own two records");
        offsets.extend(committed.placed.iter().map(|p| p.offset));
    }
    // Warm-up and holder alone, then the four waiting requests in one send and one commit.
    assert_eq!(values(&shared), vec![2, 2, 8]);
    assert_eq!(offsets, (4..12).collect::<Vec<i64>>(), "in arrival order");
    assert_eq!(backend.pool().stats().commits, 3);
}

#[tokio::test]
async fn a_failed_group_is_retried_alone_so_only_the_bad_request_fails() {
    let (backend, shared) = warm_backend(small_pool()).await;
    shared.script.lock().unwrap().poison = Some(Bytes::from_static(b"bad"));
    let holder = hold_the_producer(&backend, &shared).await;
    let good_before = spawn(&backend, "good-1");
    let bad = spawn(&backend, "bad");
    let good_after = spawn(&backend, "good-2");
    until(|| backend.queued_requests() == 3).await;
    release(&shared);

    assert!(holder.await.unwrap().is_ok());
    assert!(good_before.await.unwrap().is_ok());
    assert!(matches!(bad.await.unwrap(), Err(TxnFailure::Invalid(_))));
    assert!(good_after.await.unwrap().is_ok());
    // The shared attempt (6 records) was aborted; then each ran alone.
    assert_eq!(values(&shared), vec![2, 2, 6, 2, 2, 2]);
    let stats = backend.pool().stats();
    assert_eq!((stats.commits, stats.aborts), (4, 2));
}

#[tokio::test]
async fn an_aborted_shared_commit_is_retried_alone_but_an_unknown_one_is_not() {
    let (backend, shared) = warm_backend(small_pool()).await;
    shared.script.lock().unwrap().shared_commit_failure = Some(FailureKind::Aborted);
    let (holder, waiting) = queue_behind_holder(&backend, &shared, &named("a", 2)).await;
    assert!(holder.await.unwrap().is_ok());
    for request in waiting {
        assert!(
            request.await.unwrap().is_ok(),
            "committed alone after the shared abort"
        );
    }

    // Retrying after an unknown outcome could commit the same request twice.
    shared.script.lock().unwrap().shared_commit_failure = Some(FailureKind::OutcomeUnknown);
    let holder = hold_the_producer(&backend, &shared).await;
    let waiting: Vec<_> = (0..2).map(|n| spawn(&backend, &format!("u{n}"))).collect();
    until(|| backend.queued_requests() == 2).await;
    let sends_before = values(&shared).len();
    release(&shared);
    assert!(holder.await.unwrap().is_ok());
    for request in waiting {
        assert!(matches!(
            request.await.unwrap(),
            Err(TxnFailure::OutcomeUnknown(_))
        ));
    }
    assert_eq!(
        values(&shared).len(),
        sends_before + 1,
        "the group's send (the holder's was counted when held), nothing retried"
    );
}

#[tokio::test]
async fn requests_to_a_topic_never_committed_run_alone() {
    let (backend, shared) = grouped_backend(small_pool(), 8).await;
    let backend = Arc::new(backend);
    shared.script.lock().unwrap().hold_sends = true;
    let holder = tokio::spawn({
        let backend = Arc::clone(&backend);
        async move { backend.transact(records_to("other", "holder")).await }
    });
    until(|| shared.held.load(Ordering::SeqCst) == 1).await;
    let waiting: Vec<_> = (0..3).map(|n| spawn(&backend, &format!("n{n}"))).collect();
    until(|| backend.queued_requests() == 3).await;
    release(&shared);
    assert!(holder.await.unwrap().is_ok());
    for request in waiting {
        assert!(request.await.unwrap().is_ok());
    }
    assert_eq!(
        values(&shared),
        vec![2, 2, 2, 2],
        "nobody waited on an unknown topic together"
    );
}

#[tokio::test]
async fn a_request_that_waited_too_long_is_refused_and_never_run() {
    let (backend, shared) = warm_backend(small_pool()).await;
    let holder = hold_the_producer(&backend, &shared).await;
    let late = spawn(&backend, "late");
    assert_eq!(late.await.unwrap(), Err(TxnFailure::LeaseTimeout));
    release(&shared);
    assert!(holder.await.unwrap().is_ok());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        values(&shared),
        vec![2, 2],
        "the refused request was never sent"
    );
}

#[tokio::test]
async fn a_full_queue_refuses_with_saturated() {
    let config = PoolConfig {
        max_waiters: 1,
        lease_timeout: Duration::from_secs(5),
        ..small_pool()
    };
    let (backend, shared) = warm_backend(config).await;
    let holder = hold_the_producer(&backend, &shared).await;
    let queued = spawn(&backend, "queued");
    until(|| backend.queued_requests() == 1).await;
    assert_eq!(
        backend.transact(records_of("refused")).await,
        Err(TxnFailure::Saturated)
    );
    release(&shared);
    assert!(holder.await.unwrap().is_ok());
    assert!(queued.await.unwrap().is_ok());
}

#[tokio::test]
async fn closing_answers_requests_that_never_started() {
    let config = PoolConfig {
        lease_timeout: Duration::from_secs(5),
        ..small_pool()
    };
    let (backend, shared) = warm_backend(config).await;
    let holder = hold_the_producer(&backend, &shared).await;
    let queued = spawn(&backend, "queued");
    until(|| backend.queued_requests() == 1).await;
    let closing = tokio::spawn({
        let backend = Arc::clone(&backend);
        async move { backend.close().await }
    });
    assert!(matches!(
        queued.await.unwrap(),
        Err(TxnFailure::Unavailable(_))
    ));
    release(&shared);
    let _ = holder.await.unwrap();
    closing.await.unwrap();
    assert_eq!(
        values(&shared),
        vec![2, 2],
        "the queued request was never sent"
    );
}

#[tokio::test]
async fn group_commit_is_visible_in_the_metrics() {
    let (backend, shared) = warm_backend(small_pool()).await;
    let (holder, waiting) = queue_behind_holder(&backend, &shared, &named("m", 3)).await;
    holder.await.unwrap().unwrap();
    for request in waiting {
        request.await.unwrap().unwrap();
    }
    let value = scrape(backend.as_ref());
    assert_eq!(
        value("kafkatx_group_commit_shared_transactions_total"),
        Some(1.0)
    );
    assert_eq!(
        value("kafkatx_group_commit_shared_requests_total"),
        Some(3.0)
    );
    assert_eq!(value("kafkatx_group_commit_queued_requests"), Some(0.0));
}

#[tokio::test]
async fn a_runner_that_panics_is_replaced() {
    let (backend, _shared) = warm_backend(small_pool()).await;
    let outcome = backend
        .transact(
            |_: &kafkatx_server::ProducerInfo| -> Vec<kafkatx_server::OutRecord> {
                panic!("a builder bug")
            },
        )
        .await;
    assert!(
        matches!(outcome, Err(TxnFailure::OutcomeUnknown(_))),
        "{outcome:?}"
    );
    // One producer, so one runner: only its replacement can serve this.
    let after = tokio::time::timeout(
        Duration::from_secs(5),
        backend.transact(records_of("after")),
    )
    .await
    .expect("served by a new runner");
    assert!(after.is_ok(), "{after:?}");
}
