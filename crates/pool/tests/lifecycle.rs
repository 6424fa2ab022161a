//! Start-up, restarts and fencing between instances, repeated fencing, and close.

mod support;

use std::sync::Arc;
use std::time::Duration;

use kafkatx_pool::{Backoff, CloseReport, Pool, PoolConfig, PoolError};
use support::{
    Event, FakeCluster, FakeError, FakeFactory, capture_logs, config, logged, start, until,
};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn start_up_initialises_every_slot_concurrently() {
    let cluster = FakeCluster::new();
    for slot in 0..4 {
        cluster.delay_creates(&format!("test-i1-{slot}"), Duration::from_secs(1));
    }
    let started = Instant::now();
    let pool = Pool::new(
        config(4),
        FakeFactory {
            cluster: Arc::clone(&cluster),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "four 1 s initialisations overlapped"
    );
    let stats = pool.stats();
    assert_eq!(
        (stats.size, stats.ready, stats.idle, stats.replacing),
        (4, 4, 4, 0)
    );
    for slot in 0..4 {
        assert_eq!(cluster.epoch(&format!("test-i1-{slot}")), 1);
    }
}

/// `Pool::new` returning means its producers can be leased: a caller that asks at once (the
/// gateway's `/readyz` right after start-up) must not find a ready slot still empty. On a
/// multi-threaded runtime the caller runs on one thread while the slot's task goes on on the
/// other, so the report of a slot's first attempt must follow its install.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_started_has_its_ready_producers_installed() {
    for round in 0..300 {
        let (pool, _cluster) = start(config(2)).await;
        let stats = pool.stats();
        assert_eq!((stats.ready, stats.idle), (2, 2), "round {round}");
        pool.close().await;
    }
}

#[tokio::test(start_paused = true)]
async fn start_up_survives_failing_slots_and_retries_them_with_backoff() {
    let cluster = FakeCluster::new();
    cluster.fail_creates("test-i1-1", 3);
    let config = PoolConfig {
        init_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(10)),
        ..config(3)
    };
    let started = Instant::now();
    let pool = Pool::new(
        config,
        FakeFactory {
            cluster: Arc::clone(&cluster),
        },
    )
    .await
    .unwrap();
    let stats = pool.stats();
    assert_eq!(
        (stats.ready, stats.replacing),
        (2, 1),
        "starts without the failing slot"
    );
    // It serves meanwhile.
    pool.lease().await.unwrap().commit().await.unwrap();

    until(&pool, "the failing slot recovers", |s| s.ready == 3).await;
    assert_eq!(cluster.create_attempts("test-i1-1"), 4);
    // Three failures wait 100 + 200 + 400 ms before the fourth attempt.
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(started.elapsed() < Duration::from_millis(750));
}

#[tokio::test(start_paused = true)]
async fn start_up_stops_waiting_at_the_startup_timeout() {
    let cluster = FakeCluster::new();
    cluster.delay_creates("test-i1-0", Duration::from_secs(3600));
    let config = PoolConfig {
        startup_timeout: Duration::from_secs(2),
        ..config(2)
    };
    let started = Instant::now();
    let pool = Pool::new(config, FakeFactory { cluster }).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let stats = pool.stats();
    assert_eq!((stats.ready, stats.replacing), (1, 1));
}

#[tokio::test]
async fn a_restart_with_the_same_instance_id_fences_the_old_producers() {
    let cluster = FakeCluster::new();
    let factory = FakeFactory {
        cluster: Arc::clone(&cluster),
    };
    let old = Pool::new(config(2), factory.clone()).await.unwrap();
    let zombie = old.lease().await.unwrap();
    let tid = zombie.transactional_id().to_owned();

    let restarted = Pool::new(config(2), factory).await.unwrap();
    assert_eq!(cluster.epoch(&tid), 2, "the new process took the id over");

    // The old process shuts down while its zombie transaction tries to commit.
    let closing = tokio::spawn({
        let old = old.clone();
        async move { old.close().await }
    });
    while !old.is_closed() {
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        zombie.commit().await,
        Err(PoolError::Commit(FakeError::Fenced))
    ));
    assert_eq!(
        closing.await.unwrap(),
        CloseReport {
            closed_idle: 1,
            forced: 0
        }
    );
    assert_eq!(
        cluster.epoch(&tid),
        2,
        "a closed pool does not take the id back"
    );

    let a = restarted.lease().await.unwrap();
    let b = restarted.lease().await.unwrap();
    assert!(a.transactional_id().starts_with("test-i1-"));
    a.commit().await.unwrap();
    b.commit().await.unwrap();
    assert_eq!(restarted.stats().fenced, 0);
}

#[tokio::test]
async fn instances_with_different_ids_never_fence_each_other() {
    let cluster = FakeCluster::new();
    let factory = FakeFactory {
        cluster: Arc::clone(&cluster),
    };
    let first = Pool::new(config(2), factory.clone()).await.unwrap();
    let open = first.lease().await.unwrap();
    let second_config = PoolConfig {
        instance_id: "i2".to_owned(),
        ..config(2)
    };
    let second = Pool::new(second_config, factory).await.unwrap();

    open.commit().await.unwrap();
    second.lease().await.unwrap().commit().await.unwrap();
    let stats = (first.stats(), second.stats());
    assert_eq!((stats.0.fenced, stats.1.fenced), (0, 0));
    assert_eq!(cluster.epoch("test-i1-0"), 1);
    assert_eq!(cluster.epoch("test-i2-0"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slot_fenced_again_and_again_backs_off() {
    let config = PoolConfig {
        lease_timeout: Duration::from_millis(500),
        fatal_window: Duration::from_secs(60),
        fatal_backoff: Backoff::new(Duration::from_secs(10), Duration::from_secs(300)),
        ..config(1)
    };
    let (pool, cluster) = start(config).await;
    let tid = "test-i1-0";

    // Another process keeps taking the id; measure how long the pool takes to take it back.
    let mut recoveries = Vec::new();
    for _ in 0..3 {
        let lease = pool.lease().await.unwrap();
        cluster.fence(tid);
        let fenced_at = Instant::now();
        assert!(matches!(
            lease.commit().await,
            Err(PoolError::Commit(FakeError::Fenced))
        ));
        until(&pool, "the slot is refilled", |s| s.idle == 1).await;
        recoveries.push(fenced_at.elapsed());
    }
    assert!(
        recoveries[0] < Duration::from_millis(10),
        "first fence: immediate"
    );
    assert!(recoveries[1] >= Duration::from_secs(10) && recoveries[1] < Duration::from_secs(11));
    assert!(recoveries[2] >= Duration::from_secs(20) && recoveries[2] < Duration::from_secs(21));
    assert_eq!(pool.stats().fenced, 3);

    // While backing off, callers time out instead of the pool fencing the other process back.
    let lease = pool.lease().await.unwrap();
    cluster.fence(tid);
    assert!(lease.commit().await.is_err());
    assert!(matches!(pool.lease().await, Err(PoolError::Timeout(_))));
    assert_eq!(pool.stats().replacing, 1);

    // A producer that lived longer than the window before being fenced is replaced at once.
    until(&pool, "the slot is refilled", |s| s.idle == 1).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let lease = pool.lease().await.unwrap();
    cluster.fence(tid);
    let fenced_at = Instant::now();
    assert!(lease.commit().await.is_err());
    until(&pool, "the slot is refilled", |s| s.idle == 1).await;
    assert!(fenced_at.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn repeated_fencing_is_logged_as_an_error_naming_the_instance() {
    let (_guard, logs) = capture_logs();
    let (pool, cluster) = start(config(1)).await;
    for round in 0..2 {
        let lease = pool.lease().await.unwrap();
        cluster.fence("test-i1-0");
        assert!(lease.commit().await.is_err());
        until(&pool, "the slot is refilled", |s| s.idle == 1).await;
        let errors: Vec<String> = logged(&logs)
            .lines()
            .filter(|line| line.contains("ERROR"))
            .map(str::to_owned)
            .collect();
        if round == 0 {
            assert!(errors.is_empty(), "one fence is routine: {errors:?}");
        } else {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("same instance id"));
            assert!(errors[0].contains("instance_id=i1"));
            assert!(errors[0].contains("transactional_id=test-i1-0"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_leases_and_closes_every_producer() {
    let (pool, cluster) = start(PoolConfig {
        close_timeout: Duration::from_secs(5),
        ..config(3)
    })
    .await;
    let lease = pool.lease().await.unwrap();
    let closing = tokio::spawn({
        let pool = pool.clone();
        async move { pool.close().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pool.is_closed());
    assert!(matches!(pool.lease().await, Err(PoolError::Closed)));
    assert_eq!(
        cluster.closed_count(),
        2,
        "idle producers are closed at once"
    );

    lease.commit().await.unwrap();
    let report = closing.await.unwrap();
    assert_eq!(
        report,
        CloseReport {
            closed_idle: 2,
            forced: 0
        }
    );
    assert_eq!(cluster.closed_count(), 3);
    let stats = pool.stats();
    assert_eq!((stats.ready, stats.leased, stats.commits), (0, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn close_wakes_waiters_and_forces_leases_still_out_at_the_deadline() {
    let (pool, cluster) = start(PoolConfig {
        close_timeout: Duration::from_secs(5),
        ..config(1)
    })
    .await;
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.lease().await.map(drop) }
    });
    until(&pool, "the waiter queues", |s| s.waiters == 1).await;

    let started = Instant::now();
    let report = pool.close().await;
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(
        report,
        CloseReport {
            closed_idle: 0,
            forced: 1
        }
    );
    assert!(matches!(waiter.await.unwrap(), Err(PoolError::Closed)));
    assert!(
        lease.producer().is_closed(),
        "the leased producer was closed under its caller"
    );
    assert_eq!(
        cluster.count(|e| *e
            == Event::Abort {
                tid: tid.clone(),
                epoch: 1
            }),
        1
    );

    // The caller finds out when it tries to commit; nothing hangs or panics.
    assert!(matches!(lease.commit().await, Err(PoolError::Commit(_))));
    until(&pool, "the lease is settled", |s| s.leased == 0).await;
    assert_eq!(cluster.closed_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn close_stops_background_retries() {
    let cluster = FakeCluster::new();
    cluster.fail_creates("test-i1-0", u32::MAX);
    let pool = Pool::new(
        config(1),
        FakeFactory {
            cluster: Arc::clone(&cluster),
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let report = pool.close().await;
    assert_eq!(report, CloseReport::default());
    assert_eq!(pool.stats().replacing, 0);
    let attempts = cluster.create_attempts("test-i1-0");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(cluster.create_attempts("test-i1-0"), attempts);
}
