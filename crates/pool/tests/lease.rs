//! Leasing: exclusivity, order, timeouts, cancellation, saturation and the run convenience.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkatx_pool::{PoolConfig, PoolError, RunError};
use support::{Event, config, poll_once, start, until};

#[tokio::test]
async fn a_lease_holds_an_open_transaction_and_commit_returns_the_producer() {
    let (pool, cluster) = start(config(2)).await;
    assert_eq!(pool.stats().ready, 2);

    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    assert_eq!(tid, format!("test-i1-{}", lease.slot()));
    assert_eq!(lease.producer().tid(), tid);
    let stats = pool.stats();
    assert_eq!((stats.idle, stats.leased), (1, 1));

    lease.commit().await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.idle, stats.leased), (2, 0));
    assert_eq!((stats.leases_served, stats.commits), (1, 1));
    assert_eq!(
        cluster.count(|e| *e
            == Event::Commit {
                tid: tid.clone(),
                epoch: 1
            }),
        1
    );
}

#[tokio::test]
async fn the_producer_idle_longest_is_leased_next() {
    let (pool, _cluster) = start(config(3)).await;
    let a = pool.lease().await.unwrap();
    let b = pool.lease().await.unwrap();
    let c = pool.lease().await.unwrap();
    let (slot_a, slot_b, slot_c) = (a.slot(), b.slot(), c.slot());
    b.commit().await.unwrap();
    c.commit().await.unwrap();
    a.commit().await.unwrap();

    let mut next = Vec::new();
    for _ in 0..3 {
        let lease = pool.lease().await.unwrap();
        next.push(lease.slot());
        lease.commit().await.unwrap();
    }
    assert_eq!(next, vec![slot_b, slot_c, slot_a]);

    // The producer just released is never the one leased next while another is idle.
    let first = pool.lease().await.unwrap();
    let released = first.slot();
    first.commit().await.unwrap();
    assert_ne!(pool.lease().await.unwrap().slot(), released);
}

#[tokio::test]
async fn waiters_are_served_in_fifo_order() {
    let (pool, _cluster) = start(config(1)).await;
    let held = pool.lease().await.unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for caller in 0..6 {
        let (caller_pool, served) = (pool.clone(), Arc::clone(&served));
        tasks.push(tokio::spawn(async move {
            let lease = caller_pool.lease().await.unwrap();
            served.lock().unwrap().push(caller);
            lease.commit().await.unwrap();
        }));
        until(&pool, "the caller queues", |s| s.waiters == caller + 1).await;
    }
    held.commit().await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*served.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(pool.stats().leases_served, 7);
}

#[tokio::test(start_paused = true)]
async fn lease_times_out_and_leaves_the_queue() {
    let (pool, _cluster) = start(PoolConfig {
        lease_timeout: Duration::from_millis(200),
        ..config(1)
    })
    .await;
    let held = pool.lease().await.unwrap();
    let started = tokio::time::Instant::now();
    let error = pool.lease().await.unwrap_err();
    assert!(matches!(error, PoolError::Timeout(t) if t == Duration::from_millis(200)));
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    let stats = pool.stats();
    assert_eq!(
        (stats.waiters, stats.lease_timeouts, stats.leased),
        (0, 1, 1)
    );

    held.commit().await.unwrap();
    pool.lease().await.unwrap().commit().await.unwrap();
}

#[tokio::test]
async fn a_caller_that_gives_up_while_queued_leaks_nothing() {
    let (pool, _cluster) = start(config(1)).await;
    let held = pool.lease().await.unwrap();

    // Boxed rather than pinned on the stack, so that `drop` really drops the future.
    let mut waiting = Box::pin(pool.lease());
    poll_once(waiting.as_mut()).await;
    assert_eq!(pool.stats().waiters, 1);
    drop(waiting);
    assert_eq!(pool.stats().waiters, 0);

    // The same through a caller-side timeout, the usual way to give up.
    let gave_up = tokio::time::timeout(Duration::from_millis(20), pool.lease()).await;
    assert!(gave_up.is_err());
    assert_eq!(pool.stats().waiters, 0);

    held.commit().await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.idle, stats.leased), (1, 0));
    pool.lease().await.unwrap().commit().await.unwrap();
}

#[tokio::test]
async fn a_caller_that_gives_up_after_the_handoff_returns_the_producer() {
    let (pool, cluster) = start(config(1)).await;
    let held = pool.lease().await.unwrap();
    // Boxed rather than pinned on the stack, so that `drop` really drops the future.
    let mut waiting = Box::pin(pool.lease());
    poll_once(waiting.as_mut()).await;

    // The released producer goes straight into the waiter's hands...
    held.commit().await.unwrap();
    let stats = pool.stats();
    assert_eq!((stats.idle, stats.leased, stats.waiters), (0, 1, 0));
    // ...and comes back when the waiter leaves without ever looking at it.
    drop(waiting);
    let stats = pool.stats();
    assert_eq!((stats.idle, stats.leased), (1, 0));

    let lease = pool.lease().await.unwrap();
    lease.commit().await.unwrap();
    assert_eq!(cluster.overlapping_begins.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn beyond_max_waiters_lease_fails_fast() {
    let (pool, _cluster) = start(PoolConfig {
        max_waiters: 2,
        ..config(1)
    })
    .await;
    let held = pool.lease().await.unwrap();
    let first = pool.lease();
    let second = pool.lease();
    tokio::pin!(first, second);
    poll_once(first.as_mut()).await;
    poll_once(second.as_mut()).await;

    let error = pool.lease().await.unwrap_err();
    assert!(matches!(error, PoolError::Saturated { max_waiters: 2 }));
    assert_eq!(pool.stats().saturated, 1);

    held.commit().await.unwrap();
    first.await.unwrap().commit().await.unwrap();
    second.await.unwrap().commit().await.unwrap();
}

#[tokio::test]
async fn zero_max_waiters_never_queues() {
    let (pool, _cluster) = start(PoolConfig {
        max_waiters: 0,
        ..config(1)
    })
    .await;
    let held = pool.lease().await.unwrap();
    assert!(matches!(
        pool.lease().await,
        Err(PoolError::Saturated { max_waiters: 0 })
    ));
    held.abort().await.unwrap();
    assert!(pool.lease().await.is_ok());
}

#[tokio::test]
async fn dropping_a_lease_aborts_its_transaction_before_reuse() {
    let (pool, cluster) = start(config(1)).await;
    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    drop(lease);

    let again = pool.lease().await.unwrap();
    again.commit().await.unwrap();
    let for_tid: Vec<_> = cluster
        .events()
        .into_iter()
        .filter(|e| !matches!(e, Event::Created { .. } | Event::Closed { .. }))
        .collect();
    let epoch = 1;
    assert_eq!(
        for_tid,
        vec![
            Event::Begin {
                tid: tid.clone(),
                epoch
            },
            Event::Abort {
                tid: tid.clone(),
                epoch
            },
            Event::Begin {
                tid: tid.clone(),
                epoch
            },
            Event::Commit { tid, epoch },
        ]
    );
    assert_eq!(pool.stats().aborts, 1);
}

#[tokio::test]
async fn run_commits_on_ok_and_aborts_on_err() {
    let (pool, cluster) = start(config(2)).await;
    let value = pool
        .run(async |producer: &support::FakeProducer| Ok::<_, String>(producer.tid().len()))
        .await
        .unwrap();
    assert_eq!(value, "test-i1-0".len());

    let failed = pool
        .run(async |_producer: &support::FakeProducer| Err::<(), _>("bad input".to_owned()))
        .await;
    assert!(matches!(failed, Err(RunError::Work(message)) if message == "bad input"));

    // The future is Send, so a multi-threaded server can spawn it.
    let spawned = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(async |_p: &support::FakeProducer| Ok::<_, String>(7))
                .await
        }
    });
    assert_eq!(spawned.await.unwrap().unwrap(), 7);

    let stats = pool.stats();
    assert_eq!((stats.commits, stats.aborts, stats.idle), (2, 1, 2));
    assert_eq!(cluster.count(|e| matches!(e, Event::Abort { .. })), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_never_share_a_producer() {
    const SIZE: usize = 4;
    const TASKS: usize = 32;
    const ROUNDS: usize = 50;
    let (pool, cluster) = start(config(SIZE)).await;
    let in_use: Arc<Vec<AtomicBool>> =
        Arc::new((0..SIZE).map(|_| AtomicBool::new(false)).collect());
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (pool, in_use) = (pool.clone(), Arc::clone(&in_use));
        tasks.push(tokio::spawn(async move {
            let mut commits = 0;
            for round in 0..ROUNDS {
                let lease = pool.lease().await.unwrap();
                let stats = pool.stats();
                assert_eq!(
                    stats.idle + stats.leased + stats.replacing,
                    SIZE,
                    "{stats:?}"
                );
                let slot = lease.slot();
                assert!(
                    !in_use[slot].swap(true, Ordering::SeqCst),
                    "slot {slot} leased twice"
                );
                tokio::task::yield_now().await;
                in_use[slot].store(false, Ordering::SeqCst);
                match (task + round) % 5 {
                    0 => lease.abort().await.unwrap(),
                    1 => drop(lease),
                    _ => {
                        lease.commit().await.unwrap();
                        commits += 1;
                    }
                }
            }
            commits
        }));
    }
    let mut commits = 0;
    for task in tasks {
        commits += task.await.unwrap();
    }
    until(&pool, "every producer is back", |s| s.idle == SIZE).await;
    let stats = pool.stats();
    assert_eq!(stats.commits, commits);
    assert_eq!(stats.leases_served, (TASKS * ROUNDS) as u64);
    assert_eq!((stats.leased, stats.waiters, stats.replacements), (0, 0, 0));
    assert_eq!(cluster.overlapping_begins.load(Ordering::SeqCst), 0);
    let slots: HashSet<_> = cluster
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Begin { tid, .. } => Some(tid),
            _ => None,
        })
        .collect();
    assert_eq!(slots.len(), SIZE, "every producer was used");
}
