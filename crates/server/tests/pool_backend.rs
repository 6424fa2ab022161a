//! `PoolBackend` on a real `kafkatx-pool` with fake producers: how producer and pool failures
//! become client-visible outcomes, readiness, pool metrics, and the pair endpoint end to end.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use kafkatx_pool::PoolConfig;
use kafkatx_server::backend::pool::FailureKind;
use kafkatx_server::{Backend, ServerConfig, TxnFailure};
use std::sync::atomic::Ordering;
use support::fake_pool::{Shared, backend_on, backend_with, scrape, small_pool, two_records};
use tokio::net::TcpListener;

#[tokio::test]
async fn a_committed_transaction_reports_its_producer_and_offsets() {
    let (backend, _) = backend_with(small_pool(), Ok(())).await;
    let committed = backend.transact(two_records()).await.unwrap();
    assert_eq!(committed.transactional_id, "kafkatx-test-0");
    let offsets: Vec<_> = committed.placed.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, vec![0, 1]);
    assert_eq!(backend.pool().stats().commits, 1);
}

#[tokio::test]
async fn send_failures_abort_and_never_claim_an_unknown_outcome() {
    let (backend, shared) = backend_with(small_pool(), Ok(())).await;
    shared.script.lock().unwrap().send_failures.extend([
        FailureKind::Invalid,
        FailureKind::OutcomeUnknown,
        FailureKind::Unavailable,
    ]);
    assert!(matches!(
        backend.transact(two_records()).await,
        Err(TxnFailure::Invalid(_))
    ));
    // The transaction was aborted after the send failed, so nothing of it can be visible.
    assert!(matches!(
        backend.transact(two_records()).await,
        Err(TxnFailure::Aborted(_))
    ));
    assert!(matches!(
        backend.transact(two_records()).await,
        Err(TxnFailure::Unavailable(_))
    ));
    assert_eq!(backend.pool().stats().aborts, 3);
    assert_eq!(backend.pool().stats().commits, 0);
}

#[tokio::test]
async fn commit_failures_keep_their_meaning() {
    let (backend, shared) = backend_with(small_pool(), Ok(())).await;
    shared
        .script
        .lock()
        .unwrap()
        .commit_failures
        .extend([FailureKind::OutcomeUnknown, FailureKind::Aborted]);
    let unknown = backend.transact(two_records()).await.unwrap_err();
    assert!(matches!(unknown, TxnFailure::OutcomeUnknown(ref m) if m.contains("OutcomeUnknown")));
    assert!(matches!(
        backend.transact(two_records()).await,
        Err(TxnFailure::Aborted(_))
    ));
    // The producer came back: the next transaction commits.
    assert!(backend.transact(two_records()).await.is_ok());
}

#[tokio::test]
async fn a_busy_pool_times_out_leases_and_refuses_waiters_beyond_the_limit() {
    let config = PoolConfig {
        max_waiters: 1,
        ..small_pool()
    };
    let (backend, shared) = backend_with(config, Ok(())).await;
    shared.script.lock().unwrap().hold_sends = true;
    let backend = Arc::new(backend);
    let holder = tokio::spawn({
        let backend = Arc::clone(&backend);
        async move { backend.transact(two_records()).await }
    });
    while backend.pool().stats().leased == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waiter = tokio::spawn({
        let backend = Arc::clone(&backend);
        async move { backend.transact(two_records()).await }
    });
    while backend.pool().stats().waiters == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        backend.transact(two_records()).await,
        Err(TxnFailure::Saturated)
    );
    assert_eq!(waiter.await.unwrap(), Err(TxnFailure::LeaseTimeout));

    shared.script.lock().unwrap().hold_sends = false;
    shared.release.notify_one();
    assert!(holder.await.unwrap().is_ok());
}

#[tokio::test]
async fn readiness_needs_a_ready_producer_and_a_reachable_cluster() {
    let (up, _) = backend_with(small_pool(), Ok(())).await;
    let ready = up.ready().await;
    assert!(ready.is_ready(), "{ready:?}");
    assert_eq!(ready.producers_ready, 1);

    let (down, _) = backend_with(small_pool(), Err("connection refused".to_owned())).await;
    let readiness = down.ready().await;
    assert!(!readiness.is_ready());
    assert!(readiness.detail.unwrap().contains("connection refused"));

    up.close().await;
    assert_eq!(up.ready().await.producers_ready, 0);
    assert!(matches!(
        up.transact(two_records()).await,
        Err(TxnFailure::Unavailable(_))
    ));
}

#[tokio::test]
async fn pool_statistics_are_exposed_as_metrics() {
    let (backend, _) = backend_with(small_pool(), Ok(())).await;
    backend.transact(two_records()).await.unwrap();
    let value = scrape(&backend);
    assert_eq!(value("kafkatx_pool_producers"), Some(1.0));
    assert_eq!(value("kafkatx_pool_commits_total"), Some(1.0));
    assert_eq!(value("kafkatx_pool_leases_total"), Some(1.0));
    assert_eq!(
        value("kafkatx_pool_producers_idle"),
        Some(1.0),
        "back after commit"
    );
}

#[tokio::test]
async fn a_pair_endpoint_runs_end_to_end_on_the_pool() {
    let (backend, _) = backend_with(small_pool(), Ok(())).await;
    let backend = Arc::new(backend);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kafkatx_server::run(
        listener,
        Arc::clone(&backend),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let response = support::get(addr, "/errors/5").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["transactional_id"], "kafkatx-test-0");
    let metrics = support::get(addr, "/metrics").await.text();
    assert!(
        metrics.contains("kafkatx_pool_commits_total 1"),
        "{metrics}"
    );

    stop.send(()).unwrap();
    server.await.unwrap();
    assert!(backend.pool().is_closed(), "shutdown closes the pool");
}

#[tokio::test]
async fn with_no_producer_initialised_a_lease_timeout_is_reported_as_unavailable() {
    let shared = Arc::new(Shared::default());
    shared.refuse_create.store(true, Ordering::SeqCst);
    let (backend, _) = backend_on(shared, small_pool(), Err("refused".to_owned())).await;
    assert_eq!(backend.pool().stats().ready, 0);
    let failure = backend.transact(two_records()).await.unwrap_err();
    assert!(matches!(failure, TxnFailure::Unavailable(_)), "{failure:?}");
}

#[tokio::test]
async fn topics_come_from_the_probe_and_a_probe_without_metadata_is_unavailable() {
    let (backend, _) = backend_with(small_pool(), Ok(())).await;
    let answer = backend.topics(None).await;
    assert!(
        matches!(answer, Err(kafkatx_server::MetadataError::Unavailable(_))),
        "{answer:?}"
    );
}
