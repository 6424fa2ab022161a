//! Test support of the pool's tests: the scripted fake producer is `kafkatx_pool::testing`
//! (shared with the gateway's tests); here, starting a pool on it and watching it.
// Each test binary uses a different part of this module. Test support, not product code.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use kafkatx_pool::testing::*;
use kafkatx_pool::{Pool, PoolConfig, PoolStats};

/// A configuration for tests: instance `i1`, prefix `test`, generous timeouts.
pub fn config(size: usize) -> PoolConfig {
    PoolConfig {
        size,
        transactional_id_prefix: "test".to_owned(),
        instance_id: "i1".to_owned(),
        lease_timeout: Duration::from_secs(3600),
        ..PoolConfig::default()
    }
}

pub async fn start(config: PoolConfig) -> (Pool<FakeFactory>, Arc<FakeCluster>) {
    let cluster = FakeCluster::new();
    let pool = Pool::new(
        config,
        FakeFactory {
            cluster: Arc::clone(&cluster),
        },
    )
    .await
    .unwrap();
    (pool, cluster)
}

/// Waits (1 ms steps, so paused time advances too) until the pool's stats satisfy `done`.
pub async fn until(pool: &Pool<FakeFactory>, what: &str, done: impl Fn(&PoolStats) -> bool) {
    for _ in 0..1_000_000 {
        if done(&pool.stats()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("gave up waiting until {what}: {:?}", pool.stats());
}

/// Polls `future` once, which is enough for `lease()` to join the queue.
pub async fn poll_once<T>(future: std::pin::Pin<&mut impl std::future::Future<Output = T>>) {
    let mut future = future;
    std::future::poll_fn(|cx| {
        assert!(
            future.as_mut().poll(cx).is_pending(),
            "expected the future to wait"
        );
        std::task::Poll::Ready(())
    })
    .await;
}

/// User + system CPU time of this process, in clock ticks (`/proc/self/stat` fields 14 and 15).
pub fn process_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The command name (field 2) may contain spaces; the fields after it are plain numbers.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // `after_name` starts at field 3, so fields 14 and 15 are at indices 11 and 12.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Log lines written while the returned guard lives, on this thread (current-thread runtimes run
/// every spawned task here too).
pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, Arc<Mutex<Vec<u8>>>) {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(Arc::clone(&buffer));
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), buffer)
}

pub fn logged(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}
