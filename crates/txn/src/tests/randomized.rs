//! Many seeds of random faults, latencies and leader moves, with invariants checked after
//! each run. A failing seed is printed; replay it with `KAFKATX_SEED=<seed> cargo test -p
//! kafkatx-txn randomized`.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::*;
use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890, NO_TV_FEATURE};
use super::harness::{Harness, txn_config};
use crate::backoff::SeededRng;
use crate::error::{Operation, TxnError};

const FAULTS: &[(ApiKey, Fault)] = &[
    (ApiKey::Produce, Fault::Error(NOT_LEADER_OR_FOLLOWER)),
    (ApiKey::Produce, Fault::Error(REQUEST_TIMED_OUT)),
    (ApiKey::Produce, Fault::Error(NOT_ENOUGH_REPLICAS)),
    (ApiKey::Produce, Fault::LoseReply),
    (ApiKey::Produce, Fault::Disconnect),
    (
        ApiKey::AddPartitionsToTxn,
        Fault::Error(CONCURRENT_TRANSACTIONS),
    ),
    (ApiKey::AddPartitionsToTxn, Fault::Error(NOT_COORDINATOR)),
    (ApiKey::AddPartitionsToTxn, Fault::Disconnect),
    (ApiKey::EndTxn, Fault::Error(CONCURRENT_TRANSACTIONS)),
    (ApiKey::EndTxn, Fault::Error(NOT_COORDINATOR)),
    (ApiKey::EndTxn, Fault::LoseReply),
    (
        ApiKey::FindCoordinator,
        Fault::Error(COORDINATOR_NOT_AVAILABLE),
    ),
    (ApiKey::Produce, Fault::Error(OUT_OF_ORDER_SEQUENCE_NUMBER)),
    (ApiKey::Produce, Fault::Error(INVALID_PRODUCER_EPOCH)),
    (ApiKey::Produce, Fault::Error(INVALID_TXN_STATE)),
    (
        ApiKey::InitProducerId,
        Fault::Error(CONCURRENT_TRANSACTIONS),
    ),
    (ApiKey::EndTxn, Fault::Error(COORDINATOR_LOAD_IN_PROGRESS)),
];

/// What a transaction's values must look like in the committed view.
#[derive(Debug)]
enum Expect {
    Visible,
    Invisible,
    /// Outcome unknown: all or nothing.
    Either,
}

fn run_seed(seed: u64) {
    let mut rng = SeededRng::new(seed);
    let tv = if seed % 2 == 0 { CLASSIC } else { KIP_890 };
    let mut cluster = FakeCluster::new(3, tv);
    cluster.create_topic("t", 3);
    let mut h = Harness::with_cluster(
        // Long enough that retries never outlive the transaction (a TV1 timeout is fatal).
        txn_config()
            .rng_seed(seed)
            .transaction_timeout(Duration::from_secs(900)),
        cluster,
    )
    .with_chaos(seed);
    h.init_ok();
    let mut expectations: Vec<(Vec<(i32, String)>, Expect)> = Vec::new();
    for txn in 0..15 {
        for _ in 0..rng.below(3) {
            let (api, fault) = FAULTS[usize::try_from(rng.below(FAULTS.len() as u64)).unwrap()];
            h.cluster.inject(api, fault);
        }
        let node = |rng: &mut SeededRng| i32::try_from(rng.below(3)).unwrap();
        // Leadership only ever moves to a live broker.
        let live = |rng: &mut SeededRng, h: &Harness| {
            let candidate = node(rng);
            if h.cluster.is_alive(candidate) {
                candidate
            } else {
                (candidate + 1) % 3
            }
        };
        if rng.below(4) == 0 {
            let partition = node(&mut rng);
            let leader = live(&mut rng, &h);
            h.cluster.move_leader("t", partition, leader);
        }
        if rng.below(6) == 0 {
            let coordinator = live(&mut rng, &h);
            h.cluster.move_coordinator(coordinator);
        }
        if rng.below(8) == 0 {
            // Fail a broker over: leadership and coordinator move to a live one.
            let dead = node(&mut rng);
            for node in h.cluster.nodes() {
                h.cluster.set_alive(node, true);
            }
            h.cluster.set_alive(dead, false);
            h.cluster.fail_over(dead, (dead + 1) % 3);
        }
        h.clear_events();
        h.m.begin(h.now)
            .unwrap_or_else(|e| panic!("begin of txn {txn}: {e}"));
        let mut values = Vec::new();
        for n in 0..=rng.below(6) {
            let partition = i32::try_from(rng.below(3)).unwrap();
            let value = format!("t{txn:02}-{n}");
            // A transaction that already failed refuses records; it will be aborted.
            if let Err(error) = h.try_send(partition, &value) {
                assert!(error.requires_abort(), "send refused: {error:?}");
            }
            values.push((partition, value));
            if rng.below(3) == 0 {
                h.advance(std::time::Duration::from_millis(rng.below(40)));
            }
        }
        let want_commit = rng.below(5) != 0;
        let outcome = if want_commit {
            h.run_op_resuming(Operation::Commit)
        } else {
            Err(TxnError::TransactionAborted)
        };
        let outcome_text = format!("{outcome:?}");
        let expect = match outcome {
            Ok(()) => Expect::Visible,
            Err(TxnError::OutcomeUnknown) => Expect::Either,
            Err(_) => Expect::Invisible,
        };
        if !matches!(expect, Expect::Visible) {
            let aborted = h.run_op_resuming(Operation::Abort);
            assert_eq!(
                aborted,
                Ok(()),
                "abort of txn {txn} after {outcome_text}: {}",
                coordinator_log(&h)
            );
        }
        expectations.push((values, expect));
    }
    check_invariants(&h, &expectations);
}

/// The coordinator-bound requests the cluster saw, for failure messages.
fn coordinator_log(h: &Harness) -> String {
    use crate::types::Request;
    h.cluster
        .received
        .iter()
        .filter_map(|(node, request, version)| match request {
            Request::InitProducerId(r) => {
                Some(format!("n{node} Init v{version} e{}", r.producer_epoch))
            }
            Request::AddPartitionsToTxn(r) => {
                Some(format!("n{node} Add e{}", r.v3_and_below_producer_epoch))
            }
            Request::EndTxn(r) => Some(format!(
                "n{node} End({}) v{version} e{}",
                r.committed, r.producer_epoch
            )),
            Request::Produce(_) => Some(format!("n{node} P")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_invariants(h: &Harness, expectations: &[(Vec<(i32, String)>, Expect)]) {
    let committed = h.committed();
    let mut seen: BTreeMap<&str, i32> = BTreeMap::new();
    for (partition, values) in committed.iter().enumerate() {
        // Per-partition order follows send order (values sort in send order by construction).
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(&sorted, values, "partition {partition} out of order");
        for value in values {
            let previous = seen.insert(value.as_str(), i32::try_from(partition).unwrap());
            assert!(previous.is_none(), "{value} committed twice");
        }
    }
    for (values, expect) in expectations {
        let visible: Vec<bool> = values
            .iter()
            .map(|(partition, value)| seen.get(value.as_str()) == Some(partition))
            .collect();
        match expect {
            Expect::Visible => assert!(
                visible.iter().all(|v| *v),
                "committed txn lost records: {values:?}"
            ),
            Expect::Invisible => assert!(
                visible.iter().all(|v| !*v),
                "aborted txn visible: {values:?}"
            ),
            Expect::Either => assert!(
                visible.iter().all(|v| *v) || visible.iter().all(|v| !*v),
                "unknown-outcome txn partially visible: {values:?}"
            ),
        }
    }
}

#[test]
fn randomized_faults_keep_exactly_once() {
    let seeds: Vec<u64> = match std::env::var("KAFKATX_SEED") {
        Ok(seed) => vec![seed.parse().expect("KAFKATX_SEED is a number")],
        Err(_) => (0..48).collect(),
    };
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run_seed(seed))) {
            eprintln!(
                "randomized scenario failed with seed {seed}; replay: KAFKATX_SEED={seed} cargo test -p kafkatx-txn randomized"
            );
            std::panic::resume_unwind(panic);
        }
    }
}

const IDEMPOTENT_FAULTS: &[Fault] = &[
    Fault::Error(NOT_LEADER_OR_FOLLOWER),
    Fault::Error(REQUEST_TIMED_OUT),
    Fault::Error(NOT_ENOUGH_REPLICAS),
    Fault::Error(OUT_OF_ORDER_SEQUENCE_NUMBER),
    Fault::Error(UNKNOWN_PRODUCER_ID),
    Fault::LoseReply,
    Fault::Disconnect,
];

/// Produce requests for one partition as (node, pid, base sequence, values), for failures.
fn produce_log(h: &Harness, partition: i32) -> String {
    use crate::types::Request;
    let mut out = Vec::new();
    for (node, request, _) in &h.cluster.received {
        let Request::Produce(produce) = request else {
            continue;
        };
        for data in produce
            .topic_data
            .iter()
            .flat_map(|t| t.partition_data.iter())
        {
            if data.index != partition {
                continue;
            }
            let batches =
                kafkatx_wire::record::decode_batches(data.records.as_ref().unwrap()).unwrap();
            for b in batches {
                let values: Vec<String> = b
                    .records
                    .iter()
                    .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
                    .collect();
                out.push(format!(
                    "n{node} pid{} seq{} {values:?}",
                    b.producer_id, b.base_sequence
                ));
            }
        }
    }
    out.join("\n")
}

fn run_idempotent_seed(seed: u64) {
    let mut rng = SeededRng::new(seed);
    let mut cluster = FakeCluster::new(3, NO_TV_FEATURE);
    cluster.create_topic("t", 3);
    let config = crate::config::ProducerConfig::builder()
        .bootstrap_servers("broker-0:9092")
        .batch_size(80)
        .rng_seed(seed);
    let mut h = Harness::with_cluster(config, cluster).with_chaos(seed);
    h.m.init(h.now).unwrap();
    h.settle();
    let mut sent: Vec<(crate::types::RecordToken, i32, String)> = Vec::new();
    for round in 0..10 {
        for _ in 0..rng.below(3) {
            let fault = IDEMPOTENT_FAULTS
                [usize::try_from(rng.below(IDEMPOTENT_FAULTS.len() as u64)).unwrap()];
            h.cluster.inject(ApiKey::Produce, fault);
        }
        if rng.below(4) == 0 {
            let partition = i32::try_from(rng.below(3)).unwrap();
            h.cluster
                .move_leader("t", partition, i32::try_from(rng.below(3)).unwrap());
        }
        for n in 0..=rng.below(8) {
            let partition = i32::try_from(rng.below(3)).unwrap();
            let value = format!("r{round:02}-{n}");
            let record = crate::types::ProducerRecord::new("t", bytes::Bytes::from(value.clone()))
                .with_partition(partition);
            let token = h.m.send(h.now, record).unwrap();
            sent.push((token, partition, value));
            if rng.below(3) == 0 {
                h.advance(Duration::from_millis(rng.below(30)));
            }
        }
    }
    h.m.flush(h.now).unwrap();
    h.settle();
    let (acked, failed) = h.record_outcomes();
    for partition in 0..3 {
        let log: Vec<String> = h
            .cluster
            .all_values("t", partition)
            .into_iter()
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
            .collect();
        let mut sorted = log.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted,
            log,
            "partition {partition}: duplicates or out of order; requests:\n{}",
            produce_log(&h, partition)
        );
        for (token, _, value) in sent.iter().filter(|(_, p, _)| *p == partition) {
            if acked.contains(token) {
                assert!(
                    log.contains(value),
                    "acknowledged {value} missing; trace:\n{}",
                    h.trace.join("\n")
                );
            }
        }
    }
    assert_eq!(
        acked.len() + failed.len(),
        sent.len(),
        "every record answered: {:?}",
        h.events
    );
    // Failures only ever report a delivery problem (an unknown outcome after the broker lost
    // our state, or delivery.timeout.ms), never anything that would stop the producer.
    for event in &h.events {
        if let crate::types::TxnEvent::RecordsDone {
            result: Err(error), ..
        } = event
        {
            assert!(
                matches!(error, TxnError::Delivery { .. }),
                "unexpected failure {error:?}"
            );
        }
    }
}

#[test]
fn randomized_faults_keep_idempotent_delivery_exactly_once() {
    let seeds: Vec<u64> = match std::env::var("KAFKATX_SEED") {
        Ok(seed) => vec![seed.parse().expect("KAFKATX_SEED is a number")],
        Err(_) => (0..48).collect(),
    };
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run_idempotent_seed(seed))) {
            eprintln!(
                "idempotent randomized scenario failed with seed {seed}; replay: KAFKATX_SEED={seed} cargo test -p kafkatx-txn randomized"
            );
            std::panic::resume_unwind(panic);
        }
    }
}
