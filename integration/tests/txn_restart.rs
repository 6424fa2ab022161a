//! A broker killed (SIGKILL) and restarted in the middle of a transaction: the producer
//! recovers, and nothing committed is lost or duplicated. Uses its own brokers (started with
//! `integration/kafka`): port 9096 with KIP-890, port 9098 with the classic protocol, so the
//! shared brokers are never disturbed.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use kafkatx_testkit::{create_topic, in_ci, kafka, kcat_read_committed, unique_name};
use kafkatx_txn::{Action, ProducerConfig, ProducerRecord, TransactionalProducer, TxnError};

/// Restart node 1, retrying while the killed process still holds the port.
fn restart_broker(port: &str) -> Result<String, String> {
    let mut last = Err(String::new());
    for _ in 0..20 {
        last = kafka(&["restart", "1", "--port", port]);
        if last.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    last
}

/// How a transaction ended, as the producer saw it.
#[derive(Debug, PartialEq)]
enum Ended {
    Committed,
    Aborted,
    /// Commit outcome unknown, then aborted by epoch bump: all or nothing may be visible.
    Unknown,
}

/// `end_transaction`, called again while it times out (each call resumes the commit or abort
/// under way).
async fn end(p: &TransactionalProducer, commit: bool) -> Result<kafkatx_txn::Ended, TxnError> {
    let mut result = p.end_transaction(commit).await;
    for _ in 0..5 {
        match &result {
            Err(e) if e.action() == Action::Retry => result = p.end_transaction(commit).await,
            _ => break,
        }
    }
    result
}

/// Commits, or aborts a transaction that failed.
async fn finish(p: &TransactionalProducer) -> Ended {
    match end(p, true).await {
        Ok(kafkatx_txn::Ended::Committed) => Ended::Committed,
        Ok(kafkatx_txn::Ended::Aborted { .. }) => Ended::Aborted,
        Err(e) if e.action() == Action::OutcomeUnknown => {
            // Only an abort (an epoch bump) makes the producer usable again.
            end(p, false).await.unwrap();
            Ended::Unknown
        }
        Err(e) => panic!("commit failed unrecoverably: {e:?}"),
    }
}

#[tokio::test]
async fn broker_restart_mid_transaction_loses_and_duplicates_nothing_tv2() {
    restart_mid_transaction("2", "9096").await;
}

#[tokio::test]
async fn broker_restart_mid_transaction_loses_and_duplicates_nothing_tv1() {
    restart_mid_transaction("1", "9098").await;
}

async fn restart_mid_transaction(tv: &str, port: &'static str) {
    let addr = match kafka(&["start", "--tv", tv, "--port", port]) {
        Ok(addr) => addr,
        Err(e) if in_ci() => panic!("could not start the dedicated broker: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: could not start a broker on port {port}: {e}");
            return;
        }
    };
    let topic = unique_name("txn-restart");
    create_topic(&addr, &topic, 2).await.unwrap();
    let config = ProducerConfig::builder()
        .bootstrap_servers(&addr)
        .transactional_id(unique_name("txn-restart-id"))
        .request_timeout(Duration::from_secs(10))
        .delivery_timeout(Duration::from_secs(120))
        .max_block(Duration::from_secs(60))
        .build()
        .unwrap();
    let p = TransactionalProducer::new(config).await.unwrap();
    p.init_transactions().await.unwrap();

    let mut outcomes: Vec<(Vec<String>, Ended)> = Vec::new();
    let mut restarting = None;
    for txn in 0..8 {
        p.begin_transaction().await.unwrap();
        let mut values = Vec::new();
        for n in 0..6 {
            let value = format!("t{txn}-{n}");
            p.send(ProducerRecord::new(
                topic.clone(),
                Bytes::from(value.clone()),
            ))
            .await
            .unwrap();
            values.push(value);
            if txn == 3 && n == 2 {
                // Half of the transaction is in the log, then the broker dies.
                p.flush().await.unwrap();
                kafka(&["kill", "1", "--port", port]).unwrap();
                restarting = Some(tokio::task::spawn_blocking(move || restart_broker(port)));
                // Keep producing and commit while it is down; the engine retries until it
                // is back.
            }
        }
        let ended = finish(&p).await;
        if let Some(restart) = restarting.take() {
            restart.await.unwrap().unwrap();
        }
        outcomes.push((values, ended));
    }
    eprintln!(
        "tv{tv} outcomes: {:?}",
        outcomes.iter().map(|(_, e)| e).collect::<Vec<_>>()
    );
    eprintln!("tv{tv} metrics: {:?}", p.metrics());
    p.close().await.unwrap();

    let read: Vec<String> = kcat_read_committed(&addr, &topic)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    let visible: BTreeSet<&str> = read.iter().map(String::as_str).collect();
    assert_eq!(visible.len(), read.len(), "duplicates in {read:?}");
    for (values, ended) in &outcomes {
        let shown: Vec<bool> = values
            .iter()
            .map(|v| visible.contains(v.as_str()))
            .collect();
        match ended {
            Ended::Committed => assert!(
                shown.iter().all(|s| *s),
                "committed records lost: {values:?}"
            ),
            Ended::Aborted => assert!(
                shown.iter().all(|s| !*s),
                "aborted records visible: {values:?}"
            ),
            Ended::Unknown => assert!(
                shown.iter().all(|s| *s) || shown.iter().all(|s| !*s),
                "partial: {values:?}"
            ),
        }
    }
    let committed = outcomes
        .iter()
        .filter(|(_, e)| *e == Ended::Committed)
        .count();
    assert!(
        committed >= 6,
        "the producer kept committing after the restart: {outcomes:?}"
    );
    let _ = kafka(&["stop", "--port", port]);
}
