//! The `perf` module (ProducerPerformance semantics) against a real broker, idempotent and
//! transactional, checked with a read_committed reader.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use kafkatx_testkit::{bootstrap, create_topic, kcat_read_committed, require_broker, unique_name};
use kafkatx_tools::perf::{PerfPlan, run_perf};

async fn run(addr: &str, transactional_id: Option<String>) {
    let topic = unique_name("txn-perf");
    create_topic(addr, &topic, 3).await.unwrap();
    let args = PerfPlan {
        bootstrap_servers: addr.to_owned(),
        topic: topic.clone(),
        num_records: 20_000,
        record_size: 100,
        throughput: -1.0,
        transactional_id,
        transaction_duration: Duration::from_millis(200),
        producer_props: vec![("linger.ms".into(), "5".into())],
        print_progress: false,
    };
    let report = run_perf(args).await.unwrap();
    eprintln!("{report}");
    assert_eq!(report.records, 20_000);
    assert_eq!(report.errors, 0);
    assert!(report.to_string().starts_with("20000 records sent, "));
    assert_eq!(kcat_read_committed(addr, &topic).unwrap().len(), 20_000);
}

#[tokio::test]
async fn perf_idempotent_sends_every_record_once() {
    let addr = bootstrap();
    if require_broker(&addr).await {
        run(&addr, None).await;
    }
}

#[tokio::test]
async fn perf_transactional_commits_every_record_once() {
    let addr = bootstrap();
    if require_broker(&addr).await {
        run(&addr, Some(unique_name("txn-perf-id"))).await;
    }
}
