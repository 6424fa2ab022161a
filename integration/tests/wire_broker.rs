//! The wire crate against a real Kafka 4.1 broker: the handshake and finalized features,
//! Metadata, CreateTopics, Produce (acks=all) then Fetch in every codec, pipelining, and
//! interop in both directions with an independent client (kcat, i.e. librdkafka).

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};

use bytes::Bytes;
use kafkatx_testkit::{
    bootstrap, bootstrap_tv1, create_topic, kcat_read, require_broker, unique_name,
};
use kafkatx_wire::compression::Compression;
use kafkatx_wire::protocol::error::ResponseError;
use kafkatx_wire::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafkatx_wire::protocol::messages::metadata_request::MetadataRequestTopic;
use kafkatx_wire::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkatx_wire::protocol::messages::{
    BrokerId, FetchRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafkatx_wire::protocol::protocol::StrBytes;
use kafkatx_wire::record::{
    BatchBuilder, Header, ProducerInfo, Record, RecordBatch, decode_batches,
};
use kafkatx_wire::{ConnectOptions, Connection};

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

async fn connect(addr: &str) -> Connection {
    Connection::connect(addr, ConnectOptions::default())
        .await
        .expect("connect to the broker")
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// Records with a null key, an empty value, and duplicate header keys.
fn sample_records(tag: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            key: (i % 3 != 0).then(|| Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(if i == 1 {
                String::new()
            } else {
                format!("{tag}-value-{i}-{}", "log line ".repeat(i % 7))
            })),
            headers: vec![
                Header {
                    key: "h".into(),
                    value: Some(Bytes::from(format!("first-{i}"))),
                },
                Header {
                    key: "h".into(),
                    value: Some(Bytes::from(format!("second-{i}"))),
                },
            ],
            timestamp_ms: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

fn batch_of(records: &[Record], compression: Compression) -> Bytes {
    let mut builder = BatchBuilder::new(compression);
    for r in records {
        builder.push(r);
    }
    builder
        .build(ProducerInfo {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        })
        .expect("build batch")
}

/// Produces one batch with acks=all and returns its base offset. A partition created a moment
/// ago may not be led yet on the broker itself (UNKNOWN_TOPIC_OR_PARTITION,
/// NOT_LEADER_OR_FOLLOWER) although metadata already names its leader: those answers are tried
/// again, as any producer would.
async fn produce(conn: &Connection, topic: &str, partition: i32, batch: Bytes) -> i64 {
    const NOT_YET: [i16; 2] = [
        ResponseError::UnknownTopicOrPartition.code(),
        ResponseError::NotLeaderOrFollower.code(),
    ];
    for _ in 0..50 {
        let (code, message, offset) = produce_once(conn, topic, partition, batch.clone()).await;
        if !NOT_YET.contains(&code) {
            assert_eq!(code, 0, "produce to {topic}: {message:?}");
            return offset;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("produce to {topic}: the partition never got a leader");
}

async fn produce_once(
    conn: &Connection,
    topic: &str,
    partition: i32,
    batch: Bytes,
) -> (i16, Option<String>, i64) {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let (_, response) = conn.send_negotiated(&request, None).await.expect("produce");
    let p = &response.responses[0].partition_responses[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
        p.base_offset,
    )
}

/// Fetches everything from `offset` (read_uncommitted) and decodes it with our codec.
async fn fetch(conn: &Connection, topic: &str, partition: i32, offset: i64) -> Vec<RecordBatch> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(16 << 20)
        .with_isolation_level(0)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(8 << 20),
                ]),
        ]);
    let (_, response) = conn.send_negotiated(&request, None).await.expect("fetch");
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch {topic}");
    decode_batches(&p.records.clone().unwrap_or_default()).expect("decode fetched batches")
}

fn assert_same_records(sent: &[Record], got: &RecordBatch, base: i64) {
    assert_eq!(got.records.len(), sent.len());
    for (i, (s, g)) in sent.iter().zip(&got.records).enumerate() {
        assert_eq!(g.offset, base + i as i64);
        assert_eq!(g.key, s.key);
        assert_eq!(g.value, s.value);
        assert_eq!(
            g.headers, s.headers,
            "duplicate header keys survive, in order"
        );
        assert_eq!(g.timestamp_ms, s.timestamp_ms);
    }
}

#[tokio::test]
async fn handshake_reports_versions_and_finalized_transaction_version() {
    if !require_broker(&bootstrap()).await || !require_broker(&bootstrap_tv1()).await {
        return;
    }
    let tv2 = connect(&bootstrap()).await;
    let (min, max) = tv2
        .versions()
        .range(kafkatx_wire::protocol::messages::ApiKey::Produce)
        .unwrap();
    assert!(
        min <= 3 && max >= 12,
        "Kafka 4.1 speaks Produce 3..13, got {min}..{max}"
    );
    assert_eq!(tv2.versions().transaction_version(), 2);
    let tv1 = connect(&bootstrap_tv1()).await;
    assert_eq!(
        tv1.versions().transaction_version(),
        0,
        "formatted with transaction.version=0"
    );
}

#[tokio::test]
async fn create_topic_then_metadata_shows_its_partitions_and_leaders() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("wire-meta");
    create_topic(&addr, &topic, 3).await.unwrap();
    let conn = connect(&addr).await;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(&topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let (_, response) = conn.send_negotiated(&request, None).await.unwrap();
    assert_eq!(response.brokers.len(), 1);
    let t = &response.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 3);
    for p in &t.partitions {
        assert_eq!(p.leader_id, response.brokers[0].node_id);
    }
}

#[tokio::test]
async fn produce_then_fetch_round_trips_in_every_codec() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("wire-codecs");
    create_topic(&addr, &topic, 1).await.unwrap();
    let conn = connect(&addr).await;
    for codec in CODECS {
        let records = sample_records(codec.name(), 25);
        let base = produce(&conn, &topic, 0, batch_of(&records, codec)).await;
        let batches = fetch(&conn, &topic, 0, base).await;
        let first = batches.first().expect("one batch back");
        assert_eq!(first.base_offset, base);
        assert_eq!(
            first.compression, codec,
            "the broker keeps the producer's codec"
        );
        assert_same_records(&records, first, base);
    }
}

#[tokio::test]
async fn hundreds_of_pipelined_produces_on_one_connection() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let topic = unique_name("wire-pipeline");
    create_topic(&addr, &topic, 1).await.unwrap();
    let conn = connect(&addr).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let conn = conn.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                let records = sample_records(&format!("p{i}"), 2);
                produce(&conn, &topic, 0, batch_of(&records, Compression::None)).await
            })
        })
        .collect();
    let mut offsets = Vec::new();
    for t in tasks {
        offsets.push(t.await.unwrap());
    }
    offsets.sort_unstable();
    let expected: Vec<i64> = (0..200).map(|i| i * 2).collect();
    assert_eq!(offsets, expected, "every batch landed once, none lost");
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn kcat_reads_what_we_write_in_every_codec() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let conn = connect(&addr).await;
    for codec in CODECS {
        let topic = unique_name(&format!("wire-to-kcat-{}", codec.name()));
        create_topic(&addr, &topic, 1).await.unwrap();
        let records = sample_records(codec.name(), 10);
        produce(&conn, &topic, 0, batch_of(&records, codec)).await;
        let judged = kcat_read(&addr, &topic, "read_uncommitted").unwrap();
        assert_eq!(
            judged.len(),
            records.len(),
            "kcat saw every record ({})",
            codec.name()
        );
        for (r, j) in records.iter().zip(&judged) {
            let text =
                |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
            assert_eq!(j.key, text(&r.key));
            assert_eq!(j.value, text(&r.value));
            let headers: Vec<_> = r
                .headers
                .iter()
                .map(|h| (h.key.clone(), text(&h.value).unwrap_or_default()))
                .collect();
            assert_eq!(j.headers, headers);
        }
    }
}

#[tokio::test]
async fn we_decode_what_kcat_writes_in_every_codec() {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let conn = connect(&addr).await;
    for codec in CODECS {
        let topic = unique_name(&format!("kcat-to-wire-{}", codec.name()));
        create_topic(&addr, &topic, 1).await.unwrap();
        let lines: Vec<String> = (0..50)
            .map(|i| format!("{}-{i}-{}", codec.name(), "x".repeat(i)))
            .collect();
        let mut kcat = Command::new("kcat")
            .args([
                "-P",
                "-b",
                &addr,
                "-t",
                &topic,
                "-p",
                "0",
                "-z",
                codec.name(),
            ])
            .args(["-H", "a=1", "-H", "a=2", "-K", ":"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("run kcat");
        {
            use std::io::Write;
            let stdin = kcat.stdin.as_mut().unwrap();
            for (i, l) in lines.iter().enumerate() {
                writeln!(stdin, "k{i}:{l}").unwrap();
            }
        }
        assert!(kcat.wait().unwrap().success());
        let batches = fetch(&conn, &topic, 0, 0).await;
        if codec != Compression::None {
            // librdkafka sends a batch uncompressed when compressing did not make it smaller
            // (a batch of one short record, when a loaded machine splits kcat's input): so at
            // least one batch in the codec, and no other codec.
            assert!(
                batches.iter().any(|b| b.compression == codec)
                    && batches
                        .iter()
                        .all(|b| b.compression == codec || b.compression == Compression::None),
                "kcat compressed with {}: {:?}",
                codec.name(),
                batches.iter().map(|b| b.compression).collect::<Vec<_>>()
            );
        }
        let got: Vec<_> = batches.iter().flat_map(|b| b.records.iter()).collect();
        assert_eq!(got.len(), lines.len());
        for (i, (r, l)) in got.iter().zip(&lines).enumerate() {
            assert_eq!(r.value.as_deref(), Some(l.as_bytes()));
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            let keys: Vec<_> = r.headers.iter().map(|h| h.key.as_str()).collect();
            assert_eq!(keys, ["a", "a"]);
        }
    }
}
