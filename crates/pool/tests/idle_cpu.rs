//! Callers waiting for a producer cost no CPU (the sarama server's pool spun on an empty pool).
//!
//! Alone in its test binary because it measures the CPU time of the whole process.

mod support;

use std::time::Duration;

use support::{config, process_cpu_ticks, start, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_waiting_for_a_producer_use_no_cpu() {
    const WAITERS: usize = 32;
    let (pool, _cluster) = start(config(1)).await;
    let held = pool.lease().await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..WAITERS {
        let pool = pool.clone();
        waiters.push(tokio::spawn(async move {
            let lease = pool.lease().await.unwrap();
            lease.commit().await.unwrap();
        }));
    }
    until(&pool, "every caller waits", |s| s.waiters == WAITERS).await;

    let before = process_cpu_ticks();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = process_cpu_ticks() - before;
    // Clock ticks are 10 ms on Linux (USER_HZ = 100): one spinning waiter would burn ~100 ticks.
    assert!(
        used <= 5,
        "waiting callers used {used} ticks of CPU in one second"
    );

    held.commit().await.unwrap();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    assert_eq!(pool.stats().leases_served, WAITERS as u64 + 1);
}
