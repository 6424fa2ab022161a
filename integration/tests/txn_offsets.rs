//! `send_offsets_to_transaction` against real brokers, under both protocols: offsets sent in
//! a committed transaction become the group's committed offsets, those of an aborted one never
//! do. The judge is the broker's own OffsetFetch with `require_stable` (KIP-447), sent over
//! our wire connection to the group coordinator, plus kcat for the records.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafkatx_testkit::{create_topic, kcat_committed_values, unique_name};
use kafkatx_txn::{
    ConsumerGroupMetadata, OffsetAndMetadata, ProducerConfig, ProducerRecord, TopicPartition,
    TransactionalProducer,
};
use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafkatx_wire::protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, OffsetFetchRequest, TopicName,
};
use kafkatx_wire::protocol::protocol::StrBytes;
use kafkatx_wire::{ConnectOptions, Connection};

/// OffsetFetch v7: the first with `RequireStable`, the last before batched groups.
const OFFSET_FETCH_VERSION: i16 = 7;
/// The answer for a partition whose offset waits in an open transaction.
const UNSTABLE_OFFSET_COMMIT: i16 = ResponseError::UnstableOffsetCommit.code();

async fn producer(addr: &str) -> TransactionalProducer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(addr)
        .transactional_id(unique_name("txn-offsets-id"))
        .transaction_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TransactionalProducer::new(config).await.unwrap()
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// A connection to the coordinator of `group`.
async fn group_coordinator(addr: &str, group: &str) -> Connection {
    let bootstrap = Connection::connect(addr, ConnectOptions::default())
        .await
        .unwrap();
    let request = FindCoordinatorRequest::default()
        .with_key(text(group))
        .with_key_type(0);
    // The offsets topic may still be being created: COORDINATOR_NOT_AVAILABLE for a while.
    for _ in 0..100 {
        let (_, answer) = bootstrap.send_negotiated(&request, Some(3)).await.unwrap();
        if answer.error_code == 0 {
            let address = format!("{}:{}", answer.host.as_str(), answer.port);
            return Connection::connect(&address, ConnectOptions::default())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no coordinator for group {group}");
}

/// What `group` has committed for partitions 0 and 1 of `topic`, as a read_committed consumer
/// starting now would see it: partition -> offset, or the partition's error code.
async fn committed(addr: &str, group: &str, topic: &str) -> BTreeMap<i32, Result<i64, i16>> {
    let coordinator = group_coordinator(addr, group).await;
    let (_, broker_max) = coordinator.versions().range(ApiKey::OffsetFetch).unwrap();
    assert!(broker_max >= OFFSET_FETCH_VERSION, "broker too old");
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(text(topic)))
                .with_partition_indexes(vec![0, 1]),
        ]))
        .with_require_stable(true);
    let answer = coordinator
        .send(&request, OFFSET_FETCH_VERSION)
        .await
        .unwrap();
    assert_eq!(answer.error_code, 0, "OffsetFetch of {group}");
    answer
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            let value = if p.error_code == 0 {
                Ok(p.committed_offset)
            } else {
                Err(p.error_code)
            };
            (p.partition_index, value)
        })
        .collect()
}

/// [`committed`] once no partition answers UNSTABLE_OFFSET_COMMIT. A commit (or abort) returns
/// once the coordinator logged PrepareCommit; the markers that make its offsets stable are
/// written just after, so a read right away may still see them pending. Java's consumer
/// retries that answer the same way (`ConsumerCoordinator`'s OffsetFetch handling).
async fn committed_stable(addr: &str, group: &str, topic: &str) -> BTreeMap<i32, Result<i64, i16>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let offsets = committed(addr, group, topic).await;
        let pending = offsets.values().any(|v| *v == Err(UNSTABLE_OFFSET_COMMIT));
        if !pending || tokio::time::Instant::now() >= deadline {
            return offsets;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(producer: &TransactionalProducer, topic: &str, value: &str) {
    producer
        .send(ProducerRecord::new(topic, Bytes::from(value.to_owned())))
        .await
        .unwrap();
}

async fn offsets_follow_the_transaction(addr: &str) {
    let output = unique_name("txn-offsets-out");
    let input = unique_name("txn-offsets-in");
    create_topic(addr, &output, 1).await.unwrap();
    // The group coordinator refuses offsets of a topic that does not exist.
    create_topic(addr, &input, 2).await.unwrap();
    let group = ConsumerGroupMetadata::new(unique_name("txn-offsets-group"));
    let at = |partition, offset| (TopicPartition::new(&input, partition), offset);
    let p = producer(addr).await;
    p.init_transactions().await.unwrap();

    // Consumed input 0..42 and 0..7, produced one record: commit all of it at once.
    p.begin_transaction().await.unwrap();
    send(&p, &output, "out-1").await;
    let first = vec![
        at(0, OffsetAndMetadata::new(42).with_metadata("first")),
        at(1, OffsetAndMetadata::new(7)),
    ];
    p.send_offsets_to_transaction(first, group.clone())
        .await
        .unwrap();
    p.commit_transaction().await.unwrap();
    let after_commit = committed_stable(addr, &group.group_id, &input).await;
    assert_eq!(after_commit, BTreeMap::from([(0, Ok(42)), (1, Ok(7))]));

    // A second transaction moves partition 0 on, then aborts.
    p.begin_transaction().await.unwrap();
    send(&p, &output, "out-2").await;
    let second = vec![at(0, OffsetAndMetadata::new(100))];
    p.send_offsets_to_transaction(second, group.clone())
        .await
        .unwrap();
    let pending = committed(addr, &group.group_id, &input).await;
    assert_eq!(
        pending.get(&0),
        Some(&Err(UNSTABLE_OFFSET_COMMIT)),
        "the offset waits in the open transaction: {pending:?}"
    );
    p.abort_transaction().await.unwrap();
    let after_abort = committed_stable(addr, &group.group_id, &input).await;
    assert_eq!(
        after_abort, after_commit,
        "an abort leaves the offsets as they were"
    );

    // The producer goes on after the abort.
    p.begin_transaction().await.unwrap();
    send(&p, &output, "out-3").await;
    let third = vec![at(1, OffsetAndMetadata::new(8))];
    p.send_offsets_to_transaction(third, group.clone())
        .await
        .unwrap();
    p.commit_transaction().await.unwrap();
    p.close().await.unwrap();
    assert_eq!(
        committed_stable(addr, &group.group_id, &input).await,
        BTreeMap::from([(0, Ok(42)), (1, Ok(8))])
    );
    assert_eq!(kcat_committed_values(addr, &output), vec!["out-1", "out-3"]);
}

kafkatx_testkit::on_both_protocols!(offsets_commit_and_abort_with_the_transaction => offsets_follow_the_transaction);

async fn offsets_alone(addr: &str) {
    let input = unique_name("txn-offsets-only-in");
    create_topic(addr, &input, 2).await.unwrap();
    let group = ConsumerGroupMetadata::new(unique_name("txn-offsets-only-group"));
    let p = producer(addr).await;
    p.init_transactions().await.unwrap();
    // KAFKA-18401: under KIP-890 a transaction holding only offsets is not empty.
    p.begin_transaction().await.unwrap();
    let offsets = vec![(TopicPartition::new(&input, 1), OffsetAndMetadata::new(3))];
    p.send_offsets_to_transaction(offsets, group.clone())
        .await
        .unwrap();
    p.commit_transaction().await.unwrap();
    p.close().await.unwrap();
    let offsets = committed_stable(addr, &group.group_id, &input).await;
    assert_eq!(offsets.get(&1), Some(&Ok(3)), "{offsets:?}");
    assert_eq!(
        offsets.get(&0),
        Some(&Ok(-1)),
        "nothing committed for partition 0"
    );
}

kafkatx_testkit::on_both_protocols!(a_transaction_of_offsets_alone_commits => offsets_alone);
