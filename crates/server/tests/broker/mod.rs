//! Shared by the tests that need a real broker: its address, the CI rule, unique names.
//!
//! `KAFKATX_BOOTSTRAP` (default `127.0.0.1:9092`) is what `./dev test` exports. Without a broker
//! a test is skipped with a notice, except under CI where that is a failure.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkatx_server::backend::probe::{BootstrapProbe, ClusterProbe};

pub fn bootstrap() -> String {
    std::env::var("KAFKATX_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `true` if a broker answers; `false` (skip) when none does outside CI; fails under CI.
pub async fn broker_available(addr: &str) -> bool {
    let probe = BootstrapProbe::new(vec![addr.to_owned()], Duration::from_secs(5));
    match probe.reachable().await {
        Ok(()) => true,
        Err(reason) => {
            assert!(
                !in_ci(),
                "CI is set but no broker answers at {addr}: {reason}"
            );
            eprintln!("SKIPPED: no Kafka broker at {addr} ({reason})");
            false
        }
    }
}

/// A name no other test or earlier run uses: tests share one broker.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}
