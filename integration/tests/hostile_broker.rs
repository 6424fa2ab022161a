//! A broker that answers garbage, closes a connection in the middle of an answer, stops
//! answering, or answers with the wrong correlation id (played by a fault proxy in front of the
//! real broker): the producer and the gateway give errors, never panic or hang, recover once
//! the broker behaves, and what they report matches what a read_committed reader finds.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{gateway_settings, start_gateway};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafkatx_server::ServerConfig;
use kafkatx_server::backend::kafka::{self, KafkaSettings};
use kafkatx_testkit::fault_proxy::{Fault, FaultProxy};
use kafkatx_testkit::http::post;
use kafkatx_testkit::{create_topic, unique_name};
use kafkatx_txn::{ProducerConfig, ProducerRecord, TransactionalProducer, TxnError};
use kafkatx_wire::protocol::messages::ApiKey;
use kafkatx_wire::reader::{Isolation, read_topic};

/// Short, so that a stalled answer costs seconds; the producer then reconnects.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// No single transaction or request may take longer than this: beyond it, it hung.
const NO_HANG: Duration = Duration::from_secs(60);

const FAULTS: [Fault; 4] = [
    Fault::Garbage,
    Fault::CloseMidFrame,
    Fault::WrongCorrelationId,
    Fault::Stall,
];

/// What a writer was told about one transaction's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Told {
    Committed,
    Absent,
    /// All of the transaction's records or none.
    Unknown,
}

/// Checks every transaction against what a read_committed reader finds: committed ones once,
/// absent ones not at all, unknown ones whole or not at all, nothing duplicated or unexplained.
async fn judge(addr: &str, topic: &str, told: &HashMap<String, (Told, Vec<String>)>) {
    let records = read_topic(addr, topic, Isolation::ReadCommitted)
        .await
        .unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in &records {
        let value = record.record.value.clone().unwrap_or_default();
        *seen
            .entry(String::from_utf8(value.to_vec()).unwrap())
            .or_default() += 1;
    }
    let mut explained = 0;
    for (txn, (outcome, values)) in told {
        let counts: Vec<usize> = values
            .iter()
            .map(|v| seen.get(v).copied().unwrap_or(0))
            .collect();
        assert!(
            counts.iter().all(|&c| c <= 1),
            "{txn} duplicated: {counts:?}"
        );
        let visible = counts.iter().filter(|&&c| c == 1).count();
        match outcome {
            Told::Committed => assert_eq!(visible, values.len(), "{txn} was acknowledged"),
            Told::Absent => assert_eq!(visible, 0, "{txn} was reported not written"),
            Told::Unknown => assert!(
                visible == 0 || visible == values.len(),
                "{txn} is half visible: {counts:?}"
            ),
        }
        explained += visible;
    }
    assert_eq!(explained, records.len(), "records nobody wrote are visible");
}

fn producer_config(bootstrap: &str, transactional_id: &str) -> ProducerConfig {
    ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .transactional_id(transactional_id)
        .set(
            "request.timeout.ms",
            &REQUEST_TIMEOUT.as_millis().to_string(),
        )
        .unwrap()
        .set("delivery.timeout.ms", "20000")
        .unwrap()
        .set("max.block.ms", "20000")
        .unwrap()
        .build()
        .unwrap()
}

async fn started_producer(bootstrap: &str, transactional_id: &str) -> TransactionalProducer {
    let producer = TransactionalProducer::new(producer_config(bootstrap, transactional_id))
        .await
        .unwrap();
    let init = tokio::time::timeout(NO_HANG, producer.init_transactions()).await;
    assert!(matches!(init, Ok(Ok(()))), "init: {init:?}");
    producer
}

/// Begin, two records, commit; an abortable failure is aborted. Returns what the caller may
/// claim, and whether the producer must be replaced.
async fn one_transaction(
    producer: &TransactionalProducer,
    topic: &str,
    values: &[String],
) -> (Told, bool) {
    let attempt = async {
        producer.begin_transaction().await?;
        let mut deliveries = Vec::new();
        for value in values {
            deliveries.push(
                producer
                    .send(ProducerRecord::new(topic, value.clone()))
                    .await?,
            );
        }
        producer.commit_transaction().await?;
        for delivery in deliveries {
            delivery.await?;
        }
        Ok::<(), TxnError>(())
    };
    match tokio::time::timeout(NO_HANG, attempt).await {
        Err(_) => panic!("a transaction hung for {NO_HANG:?}"),
        Ok(Ok(())) => (Told::Committed, false),
        Ok(Err(error)) if error.requires_abort() => {
            match tokio::time::timeout(NO_HANG, producer.abort_transaction()).await {
                Err(_) => panic!("an abort hung for {NO_HANG:?}"),
                Ok(Ok(())) => (Told::Absent, false),
                Ok(Err(abort_error)) => {
                    eprintln!("abort after {error} failed: {abort_error}");
                    (Told::Unknown, true)
                }
            }
        }
        Ok(Err(error)) => {
            eprintln!("transaction failed: {error}");
            (Told::Unknown, true)
        }
    }
}

async fn producer_recovers_from_every_damaged_answer(addr: &str) {
    let topic = unique_name("hostile-engine");
    create_topic(addr, &topic, 2).await.unwrap();
    let proxy = FaultProxy::start(addr).await.unwrap();
    let transactional_id = unique_name("hostile-engine-id");
    // Damaged answers while the producer starts: it retries, or fails clearly and a new
    // one starts once the broker behaves.
    for api in [ApiKey::FindCoordinator, ApiKey::InitProducerId] {
        for fault in FAULTS {
            let before = proxy.injected();
            proxy.inject(fault, Some(api), 1);
            let producer =
                TransactionalProducer::new(producer_config(&proxy.address(), &transactional_id))
                    .await
                    .unwrap();
            let init = tokio::time::timeout(NO_HANG, producer.init_transactions())
                .await
                .unwrap_or_else(|_| panic!("init hung after {fault:?} on {api:?}"));
            eprintln!("{fault:?} on {api:?} during init: {init:?}");
            assert_eq!(
                proxy.injected(),
                before + 1,
                "{fault:?} on {api:?} was not injected"
            );
            let _ = producer.close_timeout(Duration::from_secs(5)).await;
            proxy.clear();
        }
    }
    let mut producer = started_producer(&proxy.address(), &transactional_id).await;
    let mut told = HashMap::new();
    let mut n = 0;
    // Damaged Metadata answers while the producer learns where a topic's partitions are.
    for fault in FAULTS {
        let topic = unique_name("hostile-engine-metadata");
        create_topic(addr, &topic, 1).await.unwrap();
        let before = proxy.injected();
        proxy.inject(fault, Some(ApiKey::Metadata), 1);
        let values = vec![format!("{n}-a"), format!("{n}-b")];
        n += 1;
        let (outcome, replace) = one_transaction(&producer, &topic, &values).await;
        eprintln!("{fault:?} on Metadata: {outcome:?}");
        assert_eq!(
            proxy.injected(),
            before + 1,
            "{fault:?} on Metadata was not injected"
        );
        proxy.clear();
        if replace {
            let _ = producer.close_timeout(Duration::from_secs(5)).await;
            producer = started_producer(&proxy.address(), &transactional_id).await;
        }
        let mut one = HashMap::new();
        one.insert(format!("{fault:?} on Metadata"), (outcome, values));
        judge(addr, &topic, &one).await;
    }
    for api in [ApiKey::Produce, ApiKey::EndTxn] {
        for fault in FAULTS {
            let before = proxy.injected();
            proxy.inject(fault, Some(api), 1);
            let name = format!("{fault:?} on {api:?}");
            let values = vec![format!("{n}-a"), format!("{n}-b")];
            n += 1;
            let (outcome, replace) = one_transaction(&producer, &topic, &values).await;
            assert_eq!(proxy.injected(), before + 1, "{name} was not injected");
            eprintln!("{name}: {outcome:?}");
            told.insert(name.clone(), (outcome, values));
            proxy.clear();
            if replace {
                let _ = producer.close_timeout(Duration::from_secs(5)).await;
                producer = started_producer(&proxy.address(), &transactional_id).await;
            }
            // Once the broker behaves again, the next transaction commits.
            let values = vec![format!("{n}-a"), format!("{n}-b")];
            n += 1;
            let (outcome, _) = one_transaction(&producer, &topic, &values).await;
            assert_eq!(outcome, Told::Committed, "the transaction after {name}");
            told.insert(format!("after {name}"), (outcome, values));
        }
    }
    producer.close().await.unwrap();
    judge(addr, &topic, &told).await;
}

/// What the gateway's answer claims about the request's records.
fn told_by(status: u16, body: &str) -> Told {
    if status == 200 {
        Told::Committed
    } else if body.contains(r#""outcome":"unknown""#) {
        Told::Unknown
    } else {
        assert!(
            body.contains(r#""outcome":"none""#) || body.contains(r#""outcome":"aborted""#),
            "a failure must say what happened: {status} {body}"
        );
        Told::Absent
    }
}

async fn gateway_recovers_from_every_damaged_answer(addr: &str) {
    const POOL: usize = 2;
    let topic = unique_name("hostile-gateway");
    create_topic(addr, &topic, 2).await.unwrap();
    let proxy = FaultProxy::start(addr).await.unwrap();
    let settings = KafkaSettings {
        pool_size: POOL,
        request_timeout: REQUEST_TIMEOUT,
        max_pending_transactions: 64,
        ..gateway_settings(&proxy.address(), &unique_name("hostile-gateway"))
    };
    let backend = Arc::new(kafka::connect(settings).await.unwrap());
    let gateway = start_gateway(Arc::clone(&backend), ServerConfig::default()).await;
    let http = gateway.addr;
    let path = format!("/v1/topics/{topic}/records");
    let mut told = HashMap::new();
    let mut n = 0;
    for api in [ApiKey::Produce, ApiKey::EndTxn] {
        for fault in FAULTS {
            let before = proxy.injected();
            proxy.inject(fault, Some(api), 2);
            // A few requests at once, so both producers meet the damaged answers.
            let mut requests = Vec::new();
            for _ in 0..4 {
                let values = vec![format!("{n}-a"), format!("{n}-b")];
                n += 1;
                let body = format!(
                    r#"{{"records":[{{"value":"{}"}},{{"value":"{}"}}]}}"#,
                    values[0], values[1]
                );
                let path = path.clone();
                requests.push(tokio::spawn(async move {
                    let answer = tokio::time::timeout(NO_HANG, post(http, &path, &body)).await;
                    (answer.expect("a request hung"), values)
                }));
            }
            for request in requests {
                let (answer, values) = request.await.unwrap();
                let (status, body) = answer.status_and_text();
                let name = format!("{fault:?} on {api:?} {}", values[0]);
                eprintln!("{name}: {status} {body}");
                told.insert(name, (told_by(status, &body), values));
            }
            assert!(
                proxy.injected() > before,
                "{fault:?} on {api:?} was not injected"
            );
            proxy.clear();
        }
    }
    // The broker behaves again: every request commits, and no lease leaked.
    for _ in 0..6 {
        let values = vec![format!("{n}-a"), format!("{n}-b")];
        n += 1;
        let body = format!(
            r#"{{"records":[{{"value":"{}"}},{{"value":"{}"}}]}}"#,
            values[0], values[1]
        );
        let (status, answer) = tokio::time::timeout(NO_HANG, post(http, &path, &body))
            .await
            .expect("a request hung")
            .status_and_text();
        assert_eq!(status, 200, "after the faults: {answer}");
        told.insert(format!("after {}", values[0]), (Told::Committed, values));
    }
    let mut ready = 0;
    for _ in 0..100 {
        ready = backend.pool().stats().idle;
        if ready == POOL {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, POOL, "every producer is back in the pool");
    judge(addr, &topic, &told).await;
}

kafkatx_testkit::on_both_protocols!(
    producer_after_damaged_answers => producer_recovers_from_every_damaged_answer,
    gateway_after_damaged_answers => gateway_recovers_from_every_damaged_answer,
);
