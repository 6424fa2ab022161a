//! Every way a producer comes back: ready, abortable, outcome unknown, fatal, broken, panicking.

mod support;

use std::sync::atomic::Ordering;

use kafkatx_pool::PoolError;
use support::{Event, FakeError, Outcome, config, start, until};

#[tokio::test]
async fn an_abortable_commit_failure_is_aborted_and_the_producer_reused() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_commit(&[Outcome::Abortable]);
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    let error = lease.commit().await.unwrap_err();
    assert!(matches!(error, PoolError::Commit(FakeError::Abortable)));

    let stats = pool.stats();
    assert_eq!(
        (stats.idle, stats.aborts, stats.commits, stats.replacements),
        (1, 1, 0, 0)
    );
    // The same producer (still epoch 1, never re-created) serves the next transaction.
    let lease = pool.lease().await.unwrap();
    assert_eq!(lease.producer().epoch(), 1);
    lease.commit().await.unwrap();
    assert_eq!(cluster.create_attempts(&tid), 1);
}

#[tokio::test]
async fn an_unknown_commit_outcome_is_aborted_with_an_epoch_bump_and_reused() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_commit(&[Outcome::CommitUnknown]);
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    let error = lease.commit().await.unwrap_err();
    assert!(matches!(
        error,
        PoolError::Commit(FakeError::OutcomeUnknown)
    ));

    let lease = pool.lease().await.unwrap();
    assert_eq!(
        lease.producer().epoch(),
        2,
        "the abort re-initialised the producer"
    );
    lease.commit().await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.aborts, stats.commits, stats.replacements), (1, 1, 0));
    assert_eq!(cluster.create_attempts(&tid), 1);
}

#[tokio::test]
async fn a_fenced_producer_is_closed_and_replaced_with_the_same_id() {
    let (pool, cluster) = start(config(2)).await;
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    let slot = lease.slot();
    cluster.fence(&tid); // another producer initialised this transactional id
    let error = lease.commit().await.unwrap_err();
    assert!(matches!(error, PoolError::Commit(FakeError::Fenced)));

    until(&pool, "the slot is refilled", |s| s.idle == 2).await;
    let stats = pool.stats();
    assert_eq!(
        (
            stats.ready,
            stats.replacements,
            stats.fenced,
            stats.replacing
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(
        cluster.count(|e| *e
            == Event::Closed {
                tid: tid.clone(),
                epoch: 1
            }),
        1
    );
    assert_eq!(
        cluster.count(|e| *e
            == Event::Created {
                tid: tid.clone(),
                epoch: 3
            }),
        1
    );

    // Both slots serve again; the replaced one under its old transactional id.
    let a = pool.lease().await.unwrap();
    let b = pool.lease().await.unwrap();
    let replaced = if a.slot() == slot { &a } else { &b };
    assert_eq!(replaced.transactional_id(), tid);
    assert_eq!(replaced.producer().epoch(), 3);
    a.commit().await.unwrap();
    b.commit().await.unwrap();
}

#[tokio::test]
async fn a_fatal_error_replaces_the_producer() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_commit(&[Outcome::Fatal]);
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    assert!(matches!(
        lease.commit().await,
        Err(PoolError::Commit(FakeError::Fatal))
    ));

    until(&pool, "the slot is refilled", |s| s.idle == 1).await;
    let stats = pool.stats();
    assert_eq!((stats.replacements, stats.fenced), (1, 0));
    assert_eq!(cluster.create_attempts(&tid), 2);
    pool.lease().await.unwrap().commit().await.unwrap();
}

#[tokio::test]
async fn a_producer_still_broken_after_one_abort_is_replaced_not_retried() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_commit(&[Outcome::Abortable]);
    cluster.script_abort(&[
        Outcome::StayBroken,
        Outcome::StayBroken,
        Outcome::StayBroken,
    ]);
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    assert!(lease.commit().await.is_err());

    until(&pool, "the slot is refilled", |s| s.idle == 1).await;
    assert_eq!(pool.stats().replacements, 1);
    let aborts_of_first = cluster.count(|e| {
        *e == Event::Abort {
            tid: tid.clone(),
            epoch: 1,
        }
    });
    assert_eq!(
        aborts_of_first, 1,
        "exactly one abort before giving up on the producer"
    );
}

#[tokio::test]
async fn a_failed_explicit_abort_leads_to_replacement() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_abort(&[Outcome::StayBroken, Outcome::StayBroken]);
    let lease = pool.lease().await.unwrap();
    assert!(matches!(
        lease.abort().await,
        Err(PoolError::Abort(FakeError::Abortable))
    ));
    until(&pool, "the slot is refilled", |s| s.idle == 1).await;
    assert_eq!(pool.stats().replacements, 1);
}

#[tokio::test]
async fn a_failed_begin_is_reported_and_the_producer_handled() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_begin(&[Outcome::Fatal]);
    assert!(matches!(
        pool.lease().await,
        Err(PoolError::Begin(FakeError::Fatal))
    ));
    until(&pool, "the slot is refilled", |s| s.idle == 1).await;
    assert_eq!(pool.stats().replacements, 1);
    pool.lease().await.unwrap().commit().await.unwrap();
}

#[tokio::test]
async fn a_producer_that_panics_while_committing_does_not_shrink_the_pool() {
    let (pool, cluster) = start(config(1)).await;
    cluster.script_commit(&[Outcome::Panic]);
    let lease = pool.lease().await.unwrap();
    assert!(matches!(
        lease.commit().await,
        Err(PoolError::ProducerPanicked)
    ));
    until(&pool, "the producer is back", |s| s.idle == 1).await;
    let lease = pool.lease().await.unwrap();
    lease.commit().await.unwrap();
    assert_eq!(cluster.overlapping_begins.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_dropped_commit_future_still_returns_the_producer() {
    let (pool, cluster) = start(config(1)).await;
    let lease = pool.lease().await.unwrap();
    let mut committing = Box::pin(lease.commit());
    support::poll_once(committing.as_mut()).await;
    drop(committing);

    until(&pool, "the producer is back", |s| s.idle == 1).await;
    assert_eq!(
        pool.stats().commits,
        1,
        "the commit went on without its caller"
    );
    assert_eq!(cluster.count(|e| matches!(e, Event::Commit { .. })), 1);
}
