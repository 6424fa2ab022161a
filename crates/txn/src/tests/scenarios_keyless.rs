//! Keyless records under the default sticky partitioner and under `RoundRobinPartitioner`:
//! how many partitions a transaction touches, and how sticks line up with batches.

use std::collections::BTreeSet;

use bytes::Bytes;
use kafkatx_wire::compression::Compression;
use kafkatx_wire::record::{BatchBuilder, Record, decode_batches};

use super::fake_cluster::{CLASSIC, KIP_890};
use super::harness::{Harness, txn_config};
use crate::config::PartitionerClass;
use crate::error::Operation;
use crate::types::{ProducerRecord, Request};

/// What the requests from `from` on did to topic "t": every AddPartitionsToTxn entry, and the
/// partitions and record counts of every batch produced.
#[derive(Debug, Default)]
struct Touched {
    added: Vec<i32>,
    produced: BTreeSet<i32>,
    batch_sizes: Vec<usize>,
}

fn touched_since(h: &Harness, from: usize) -> Touched {
    let mut touched = Touched::default();
    for (_, request, _) in h.cluster.received.iter().skip(from) {
        match request {
            Request::AddPartitionsToTxn(add) => touched.added.extend(
                add.v3_and_below_topics
                    .iter()
                    .chain(add.transactions.iter().flat_map(|t| t.topics.iter()))
                    .filter(|topic| topic.name.0.as_str() == "t")
                    .flat_map(|topic| topic.partitions.iter().copied()),
            ),
            Request::Produce(produce) => {
                let partitions = produce
                    .topic_data
                    .iter()
                    .filter(|topic| topic.name.0.as_str() == "t")
                    .flat_map(|topic| topic.partition_data.iter());
                for data in partitions {
                    touched.produced.insert(data.index);
                    let batches = decode_batches(data.records.as_ref().unwrap()).unwrap();
                    touched
                        .batch_sizes
                        .extend(batches.iter().map(|b| b.records.len()));
                }
            }
            _ => {}
        }
    }
    touched
}

/// begin, send `values` without key or partition, commit, settle.
fn keyless_transaction(h: &mut Harness, values: &[String]) {
    h.clear_events();
    h.m.begin(h.now).unwrap();
    for value in values {
        let record = ProducerRecord::new("t", Bytes::from(value.clone()));
        h.m.send(h.now, record).unwrap();
    }
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Ok(())),
        "{:?}",
        h.events
    );
}

#[test]
fn a_transaction_of_two_keyless_records_touches_one_partition_unless_round_robin() {
    for tv in [CLASSIC, KIP_890] {
        for (class, partitions_per_txn) in [
            (PartitionerClass::BuiltIn, 1),
            (PartitionerClass::RoundRobin, 2),
        ] {
            let context = format!("tv{tv} {class:?}");
            let mut h = Harness::single_broker(txn_config().partitioner(class), tv);
            h.init_ok();
            // The first transaction waits for the topic's metadata, the others do not.
            for txn in 0..3 {
                let from = h.cluster.received.len();
                keyless_transaction(&mut h, &[format!("{txn}-a"), format!("{txn}-b")]);
                let touched = touched_since(&h, from);
                assert_eq!(touched.produced.len(), partitions_per_txn, "{context}");
                if tv == CLASSIC {
                    assert_eq!(touched.added.len(), partitions_per_txn, "{context}");
                    let added: BTreeSet<i32> = touched.added.iter().copied().collect();
                    assert_eq!(added, touched.produced, "{context}");
                } else {
                    assert!(touched.added.is_empty(), "{context}: {:?}", touched.added);
                }
            }
            let committed: usize = h.committed().iter().map(Vec::len).sum();
            assert_eq!(committed, 6, "{context}");
        }
    }
}

#[test]
fn keyless_records_fill_one_batch_per_partition_then_move_on() {
    const BATCH_SIZE: usize = 1_000;
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config().batch_size(BATCH_SIZE), tv);
        h.init_ok();
        // 100-byte values numbered by their first three digits.
        let values: Vec<String> = (0..40)
            .map(|n| format!("{n:03}{}", "x".repeat(97)))
            .collect();
        // How many such records one batch holds, by the wire layer's own size estimate.
        let mut builder = BatchBuilder::new(Compression::None);
        let record = Record {
            timestamp_ms: 0,
            key: None,
            value: Some(Bytes::from(values[0].clone())),
            headers: Vec::new(),
        };
        while builder.estimated_size_with(&record) <= BATCH_SIZE {
            builder.push(&record);
        }
        let per_batch = usize::try_from(builder.record_count()).unwrap();
        assert!(
            per_batch > 1 && values.len() % per_batch == 0,
            "{per_batch}"
        );

        let from = h.cluster.received.len();
        keyless_transaction(&mut h, &values);
        let touched = touched_since(&h, from);
        assert_eq!(
            touched.batch_sizes,
            vec![per_batch; values.len() / per_batch],
            "tv{tv}: every stick fills exactly one batch"
        );
        let mut partition_of = vec![None; values.len()];
        for (partition, committed) in h.committed().iter().enumerate() {
            for value in committed {
                let index: usize = value[..3].parse().unwrap();
                partition_of[index] = Some(partition);
            }
        }
        for (index, pair) in partition_of.windows(2).enumerate() {
            let same_batch = (index + 1) % per_batch != 0;
            assert_eq!(
                pair[0] == pair[1],
                same_batch,
                "tv{tv}: records {index} and {} on {pair:?}",
                index + 1
            );
        }
    }
}
