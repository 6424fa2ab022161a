//! Our read-to-end reader against the real broker, with transactions written by an
//! independent producer (Kafka's own Java client): read_committed sees the committed
//! transaction and not the aborted one; read_uncommitted sees both; kcat agrees.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use kafkatx_testkit::{create_topic, kafka_script, kcat_read_committed, unique_name};
use kafkatx_wire::reader::{Isolation, read_topic};

/// Writes `values` in one transaction with Kafka's own Java producer, then commits or aborts.
fn java_transaction(addr: &str, topic: &str, txn_id: &str, values: &[String], commit: bool) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let outcome = if commit { "commit" } else { "abort" };
    let output = Command::new(kafka_script())
        .arg("java")
        .arg(root.join("java/TxnWriter.java"))
        .args([addr, topic, txn_id, outcome])
        .args(values)
        .output()
        .expect("run integration/kafka java");
    assert!(
        output.status.success(),
        "TxnWriter {outcome} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn committed_and_aborted_are_told_apart(addr: &str) {
    let topic = unique_name("reader");
    create_topic(addr, &topic, 1).await.unwrap();
    let committed: Vec<String> = (0..5).map(|i| format!("committed-{i}")).collect();
    let aborted: Vec<String> = (0..5).map(|i| format!("aborted-{i}")).collect();
    let txn_id = unique_name("reader-txn");
    java_transaction(addr, &topic, &txn_id, &aborted, false);
    java_transaction(addr, &topic, &txn_id, &committed, true);

    let values = |isolation| {
        let topic = topic.clone();
        let addr = addr.to_owned();
        async move {
            read_topic(&addr, &topic, isolation)
                .await
                .unwrap()
                .into_iter()
                .map(|r| String::from_utf8(r.record.value.unwrap().to_vec()).unwrap())
                .collect::<Vec<_>>()
        }
    };
    let everything = values(Isolation::ReadUncommitted).await;
    assert!(
        aborted.iter().all(|a| everything.contains(a)),
        "the aborted records reached the log (else this test proves nothing): {everything:?}"
    );
    assert_eq!(values(Isolation::ReadCommitted).await, committed);
    let judge: Vec<_> = kcat_read_committed(addr, &topic)
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    assert_eq!(
        judge, committed,
        "kcat (read_committed) agrees with our reader"
    );
}

kafkatx_testkit::on_both_protocols!(read_committed_drops_aborted_transactions => committed_and_aborted_are_told_apart);
