//! A minimal "read a topic to its end" client, for tools and checks: `kafkatx consume`, the
//! load checker, and tests that judge what a producer wrote. Not a consumer-group client: it
//! reads every partition from its log start to the end offset it sees when it starts (the
//! last stable offset under read_committed), and stops.
//!
//! Under read_committed it first gives transactions that are ending a moment
//! ([`SETTLE_WITHIN`]) to end: a commit returns once the coordinator logged PrepareCommit, and
//! the markers that move the last stable offset past it are written just after. A reader that
//! judges a producer right after its commit would otherwise stop short of that transaction.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::WireError;
use crate::protocol::error::ResponseError;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use crate::protocol::messages::fetch_response::PartitionData;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse, TopicName,
};
use crate::protocol::protocol::StrBytes;
use crate::read_committed::{AbortedTxn, committed_records};
use crate::record::{DecodedRecord, RecordBatch, decode_batches};
use crate::{ConnectOptions, Connection};

/// How long a read_committed read of a topic waits, in all, for its partitions' open
/// transactions to end (each last stable offset to reach its high watermark) before reading up
/// to the last stable offsets as they are then. Transactions whose commit or abort was answered end within milliseconds; one still
/// open after this is really open, and is not read.
pub const SETTLE_WITHIN: Duration = Duration::from_secs(3);

/// Which records a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything written, including open and aborted transactions.
    ReadUncommitted,
    /// Only committed transactions and non-transactional records, up to the last stable offset.
    ReadCommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// Why reading a topic failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Connecting to a broker or exchanging a request with it failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The broker answered a request about the topic with an error code.
    #[error("topic {topic}: error code {code} from the broker")]
    Broker {
        /// The topic the request was about.
        topic: String,
        /// Kafka's error code; -1 when the answer held no entry for the topic or partition.
        code: i16,
    },
    /// The metadata does not list the topic (it is never created by reading it).
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    /// A partition's leader is not among the brokers in the metadata, so it cannot be read;
    /// also returned when a newly created topic has no leaders elected in time.
    #[error("partition {partition} has no leader (broker {leader} is not in the metadata)")]
    NoLeader {
        /// The partition without a reachable leader; -1 when a new topic's leaders timed out.
        partition: i32,
        /// The leader's broker id in the metadata; -1 when none is elected.
        leader: i32,
    },
    /// The records fetched from a partition could not be decoded.
    #[error("could not decode the records of partition {partition}: {message}")]
    Records {
        /// The partition fetched.
        partition: i32,
        /// The decoder's error.
        message: String,
    },
}

/// One record with the partition it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRecord {
    /// The partition the record was read from.
    pub partition: i32,
    /// The record; its offset is within that partition.
    pub record: DecodedRecord,
}

/// Reads all of `topic` as it is now, partition by partition, in offset order per partition.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
) -> Result<Vec<TopicRecord>, ReadError> {
    read_topic_with(bootstrap, topic, isolation, &ConnectOptions::default()).await
}

/// [`read_topic`] with these connection options (SASL, TLS, timeouts) on every connection.
pub async fn read_topic_with(
    bootstrap: &str,
    topic: &str,
    isolation: Isolation,
    options: &ConnectOptions,
) -> Result<Vec<TopicRecord>, ReadError> {
    // One settling deadline for the whole topic: a transaction still open delays the read once.
    let settle_until = tokio::time::Instant::now() + SETTLE_WITHIN;
    let mut out = Vec::new();
    for (index, conn) in partition_leaders(bootstrap, topic, options).await? {
        let records = read_partition(&conn, topic, index, isolation, settle_until).await?;
        out.extend(records.into_iter().map(|record| TopicRecord {
            partition: index,
            record,
        }));
    }
    Ok(out)
}

/// Waits, up to [`SETTLE_WITHIN`] in all, until no transaction is open on any partition of
/// `topic` (what [`read_topic`] does under read_committed before reading), without reading.
/// For judges that read with another client next (kcat, Kafka's Java consumer).
pub async fn wait_settled(
    bootstrap: &str,
    topic: &str,
    options: &ConnectOptions,
) -> Result<(), ReadError> {
    let settle_until = tokio::time::Instant::now() + SETTLE_WITHIN;
    for (index, conn) in partition_leaders(bootstrap, topic, options).await? {
        settled_end(&conn, topic, index, settle_until).await?;
    }
    Ok(())
}

/// Each partition of `topic` with a connection to its leader (one per broker).
async fn partition_leaders(
    bootstrap: &str,
    topic: &str,
    options: &ConnectOptions,
) -> Result<Vec<(i32, Connection)>, ReadError> {
    let any = Connection::connect_any(bootstrap.split(','), options.clone()).await?;
    let metadata = topic_metadata(&any, topic).await?;
    let brokers: HashMap<i32, String> = metadata
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
        .collect();
    let mut connections: HashMap<i32, Connection> = HashMap::new();
    let mut out = Vec::new();
    let partitions = metadata
        .topics
        .first()
        .map(|t| t.partitions.clone())
        .unwrap_or_default();
    for partition in partitions {
        let index = partition.partition_index;
        let leader = partition.leader_id.0;
        let addr = brokers.get(&leader).ok_or(ReadError::NoLeader {
            partition: index,
            leader,
        })?;
        let conn = match connections.get(&leader) {
            Some(c) if !c.is_closed() => c.clone(),
            _ => {
                let c = Connection::connect(addr, options.clone()).await?;
                connections.insert(leader, c.clone());
                c
            }
        };
        out.push((index, conn));
    }
    Ok(out)
}

/// The metadata of one topic, never creating it: [`ReadError::UnknownTopic`] when it is missing.
pub async fn topic_metadata(conn: &Connection, topic: &str) -> Result<MetadataResponse, ReadError> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let (_, response) = conn.send_negotiated(&request, None).await?;
    let unknown = ResponseError::UnknownTopicOrPartition.code();
    match response.topics.first().map(|t| t.error_code) {
        Some(0) => Ok(response),
        Some(code) if code == unknown => Err(ReadError::UnknownTopic(topic.to_owned())),
        None => Err(ReadError::UnknownTopic(topic.to_owned())),
        Some(code) => Err(ReadError::Broker {
            topic: topic.to_owned(),
            code,
        }),
    }
}

/// Reads one partition from its start to the end offset seen now.
async fn read_partition(
    conn: &Connection,
    topic: &str,
    partition: i32,
    isolation: Isolation,
    settle_until: tokio::time::Instant,
) -> Result<Vec<DecodedRecord>, ReadError> {
    // -2 = earliest, -1 = latest (the last stable offset under read_committed).
    let start = list_offset(conn, topic, partition, -2, isolation).await?;
    let end = match isolation {
        Isolation::ReadUncommitted => list_offset(conn, topic, partition, -1, isolation).await?,
        Isolation::ReadCommitted => settled_end(conn, topic, partition, settle_until).await?,
    };
    let mut position = start;
    let mut out = Vec::new();
    while position < end {
        let Some(data) =
            fetch_partition(conn, topic, partition, position, isolation, 100, 32 << 20).await?
        else {
            break;
        };
        let batches = decode_partition(partition, &data)?;
        let Some(last) = batches.last() else {
            break; // nothing complete fits yet; the end offset was reached by control records
        };
        // Advance past every batch, control and aborted ones included, or we would fetch
        // them again forever.
        position = last.base_offset + i64::from(last.last_offset_delta) + 1;
        let visible = match isolation {
            Isolation::ReadUncommitted => batches
                .into_iter()
                .filter(|b| !b.is_control)
                .flat_map(|b| b.records)
                .collect(),
            Isolation::ReadCommitted => {
                let aborted = data
                    .aborted_transactions
                    .iter()
                    .flatten()
                    .map(|a| AbortedTxn {
                        first_offset: a.first_offset,
                        producer_id: a.producer_id.0,
                    });
                committed_records(batches, aborted)
            }
        };
        out.extend(visible.into_iter().filter(|r| r.offset < end));
    }
    Ok(out)
}

/// The last stable offset of a partition once it reached the high watermark, or as it is at
/// `deadline`.
async fn settled_end(
    conn: &Connection,
    topic: &str,
    partition: i32,
    deadline: tokio::time::Instant,
) -> Result<i64, ReadError> {
    loop {
        let stable = list_offset(conn, topic, partition, -1, Isolation::ReadCommitted).await?;
        let high = list_offset(conn, topic, partition, -1, Isolation::ReadUncommitted).await?;
        if stable >= high || tokio::time::Instant::now() >= deadline {
            return Ok(stable);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One offset of a partition: `timestamp` -2 is the log start, -1 the end (the high watermark,
/// or the last stable offset under read_committed).
pub async fn list_offset(
    conn: &Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
    isolation: Isolation,
) -> Result<i64, ReadError> {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation.level())
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp),
                ]),
        ]);
    let (_, response) = conn.send_negotiated(&request, None).await?;
    let answer = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| ReadError::Broker {
            topic: topic.to_owned(),
            code: -1,
        })?;
    if answer.error_code != 0 {
        return Err(ReadError::Broker {
            topic: topic.to_owned(),
            code: answer.error_code,
        });
    }
    Ok(answer.offset)
}

/// What one Fetch of a partition returned.
#[derive(Debug, Clone)]
pub struct FetchedBatches {
    /// Whole batches from the fetch offset on, control batches included, in offset order.
    pub batches: Vec<RecordBatch>,
    /// The partition's high watermark when the broker answered.
    pub high_watermark: i64,
    /// The partition's last stable offset when the broker answered.
    pub last_stable_offset: i64,
}

/// Fetches the batches of one partition from `offset` on, read_uncommitted: every data and
/// control batch, so that the caller can tell committed from aborted transactions itself.
/// Waits up to `max_wait_ms` on the broker when nothing is there yet.
pub async fn fetch_batches(
    conn: &Connection,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
) -> Result<FetchedBatches, ReadError> {
    let data = fetch_partition(
        conn,
        topic,
        partition,
        offset,
        Isolation::ReadUncommitted,
        max_wait_ms,
        8 << 20,
    )
    .await?
    .ok_or_else(|| ReadError::Broker {
        topic: topic.to_owned(),
        code: -1,
    })?;
    let batches = decode_partition(partition, &data)?;
    Ok(FetchedBatches {
        batches,
        high_watermark: data.high_watermark,
        last_stable_offset: data.last_stable_offset,
    })
}

/// One Fetch of one partition from `offset` (at most `max_bytes`, half of it for the
/// partition): its data, `None` when the answer holds none for it, or its error.
async fn fetch_partition(
    conn: &Connection,
    topic: &str,
    partition: i32,
    offset: i64,
    isolation: Isolation,
    max_wait_ms: i32,
    max_bytes: i32,
) -> Result<Option<PartitionData>, ReadError> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_isolation_level(isolation.level())
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(max_bytes / 2),
                ]),
        ]);
    let (_, response) = conn.send_negotiated(&request, None).await?;
    let Some(data) = response
        .responses
        .into_iter()
        .next()
        .and_then(|t| t.partitions.into_iter().next())
    else {
        return Ok(None);
    };
    if data.error_code != 0 {
        return Err(ReadError::Broker {
            topic: topic.to_owned(),
            code: data.error_code,
        });
    }
    Ok(Some(data))
}

/// The whole batches of a fetched partition, control batches included.
fn decode_partition(partition: i32, data: &PartitionData) -> Result<Vec<RecordBatch>, ReadError> {
    let blob = data.records.clone().unwrap_or_default();
    decode_batches(&blob).map_err(|e| ReadError::Records {
        partition,
        message: e.to_string(),
    })
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}
