//! [`MarkerLog`]: the marker topic as the gateway reads it. Creates the topic when missing,
//! maps keys to partitions, and answers "did an earlier attempt with this key commit?" once
//! every attempt that claimed before the caller has ended.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkatx_wire::admin::{Created, NewTopic, create_topic};
use kafkatx_wire::reader::{Isolation, ReadError, fetch_batches, list_offset, topic_metadata};
use kafkatx_wire::{ConnectOptions, Connection};
use tokio::time::Instant;

use super::marker::StoredResult;
use super::view::PartitionView;

/// How the marker topic is found or made, and how long a request waits for earlier attempts.
#[derive(Debug, Clone)]
pub struct MarkerSettings {
    /// Topic name.
    pub topic: String,
    /// Partitions when the gateway creates it.
    pub partitions: i32,
    /// How long keys are remembered: the topic's `retention.ms` when created, and the age past
    /// which a stored result no longer counts.
    pub retention: Duration,
    /// How long a request waits for an earlier attempt of its key before answering 409.
    pub wait: Duration,
}

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// An attempt that claimed earlier is still running after the wait.
    InProgress,
    /// The marker partition could not be read.
    Unavailable(String),
}

/// The marker topic and what this instance has read of it.
#[derive(Debug)]
pub struct MarkerLog {
    settings: MarkerSettings,
    bootstrap: Vec<String>,
    options: ConnectOptions,
    /// The topic, once found or created.
    opened: tokio::sync::OnceCell<Opened>,
    /// Connection to each partition's leader, dropped on any error.
    leaders: Mutex<HashMap<i32, Connection>>,
}

/// The marker topic as found.
#[derive(Debug)]
struct Opened {
    partitions: i32,
    /// One view per partition; `None` until first read. A request holds its partition's lock
    /// while it reads, so views advance in order.
    views: Vec<tokio::sync::Mutex<Option<PartitionView>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// FNV-1a: every instance must map a key to the same partition, so no per-process seed.
fn key_hash(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// Why the marker topic could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// No broker answered: the gateway starts anyway (its producers wait for the cluster too)
    /// and keyed requests answer 503 until the topic can be opened.
    Unreachable(String),
    /// The cluster answered and refused (the topic cannot be created, or is unusable): a
    /// setting to fix, so the gateway does not start.
    Refused(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(detail) | Self::Refused(detail) => f.write_str(detail),
        }
    }
}

impl MarkerLog {
    /// The marker topic, opened on first use (see [`MarkerLog::open`]).
    pub fn new(settings: MarkerSettings, bootstrap: Vec<String>, options: ConnectOptions) -> Self {
        Self {
            settings,
            bootstrap,
            options,
            opened: tokio::sync::OnceCell::new(),
            leaders: Mutex::new(HashMap::new()),
        }
    }

    /// Finds the marker topic, creating it when missing (compacted and deleted after the
    /// retention); once found, it stays open.
    pub async fn open(&self) -> Result<(), OpenError> {
        self.opened().await.map(|_| ())
    }

    async fn opened(&self) -> Result<&Opened, OpenError> {
        self.opened
            .get_or_try_init(|| find_or_create(&self.settings, &self.bootstrap, &self.options))
            .await
    }

    /// The marker topic's name.
    pub fn topic(&self) -> &str {
        &self.settings.topic
    }

    /// The partition that orders the attempts of `key`.
    pub async fn partition_for(&self, key: &str) -> Result<i32, String> {
        let opened = self.opened().await.map_err(|e| e.to_string())?;
        // `partitions` is positive, so the remainder fits an i32.
        Ok(i32::try_from(key_hash(key) % opened.partitions.unsigned_abs()).unwrap_or(0))
    }

    /// Waits until every attempt that claimed `partition` before `claim_offset` has ended,
    /// then returns the committed result for `key`, if any.
    pub async fn earlier_result(
        &self,
        partition: i32,
        claim_offset: i64,
        key: &str,
    ) -> Result<Option<StoredResult>, LookupError> {
        let deadline = Instant::now() + self.settings.wait;
        let result = self.lookup(partition, claim_offset, key, deadline).await;
        if matches!(result, Err(LookupError::Unavailable(_))) {
            self.leaders
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&partition);
        }
        result
    }

    async fn lookup(
        &self,
        partition: i32,
        claim_offset: i64,
        key: &str,
        deadline: Instant,
    ) -> Result<Option<StoredResult>, LookupError> {
        let unavailable = |e: ReadError| LookupError::Unavailable(e.to_string());
        let conn = self.leader(partition).await?;
        let topic = &self.settings.topic;
        // The last stable offset passes our claim only once every transaction with a record
        // before it has ended (and its marker is replicated).
        let mut pause = Duration::from_millis(2);
        loop {
            let stable = list_offset(&conn, topic, partition, -1, Isolation::ReadCommitted)
                .await
                .map_err(unavailable)?;
            if stable >= claim_offset {
                break;
            }
            if Instant::now() + pause > deadline {
                return Err(LookupError::InProgress);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        let opened = self
            .opened()
            .await
            .map_err(|e| LookupError::Unavailable(e.to_string()))?;
        let Some(slot) = opened
            .views
            .get(usize::try_from(partition).unwrap_or(usize::MAX))
        else {
            return Err(LookupError::Unavailable(format!(
                "partition {partition} is not in the idempotency topic"
            )));
        };
        let mut slot = slot.lock().await;
        if slot.is_none() {
            let start = list_offset(&conn, topic, partition, -2, Isolation::ReadUncommitted)
                .await
                .map_err(unavailable)?;
            *slot = Some(PartitionView::new(start, self.settings.retention));
        }
        let Some(view) = slot.as_mut() else {
            return Err(LookupError::Unavailable("no view".into()));
        };
        while !view.settled_before(claim_offset) {
            if Instant::now() > deadline {
                return Err(LookupError::InProgress);
            }
            match fetch_batches(&conn, topic, partition, view.next_offset(), 50).await {
                Ok(fetched) => view.apply(fetched.batches),
                // OFFSET_OUT_OF_RANGE: retention removed what the view had not read yet.
                Err(ReadError::Broker { code: 1, .. }) => {
                    let start =
                        list_offset(&conn, topic, partition, -2, Isolation::ReadUncommitted)
                            .await
                            .map_err(unavailable)?;
                    view.skip_to(start);
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        let now = now_ms();
        view.expire(now);
        Ok(view.result(key, now).cloned())
    }

    async fn leader(&self, partition: i32) -> Result<Connection, LookupError> {
        if let Some(conn) = self
            .leaders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&partition)
            .filter(|c| !c.is_closed())
        {
            return Ok(conn.clone());
        }
        let unavailable = |e: String| LookupError::Unavailable(e);
        let seed = connect_any(&self.bootstrap, &self.options)
            .await
            .map_err(unavailable)?;
        let metadata = topic_metadata(&seed, &self.settings.topic)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let leader = metadata
            .topics
            .first()
            .and_then(|t| t.partitions.iter().find(|p| p.partition_index == partition))
            .map(|p| p.leader_id.0)
            .ok_or_else(|| unavailable(format!("partition {partition} has no leader")))?;
        let address = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == leader)
            .map(|b| format!("{}:{}", b.host.as_str(), b.port))
            .ok_or_else(|| unavailable(format!("leader {leader} is not in the metadata")))?;
        let conn = Connection::connect(&address, self.options.clone())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        self.leaders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(partition, conn.clone());
        Ok(conn)
    }
}

/// The marker topic's metadata, creating the topic when it is missing.
async fn find_or_create(
    settings: &MarkerSettings,
    bootstrap: &[String],
    options: &ConnectOptions,
) -> Result<Opened, OpenError> {
    let unreachable =
        |e: String| OpenError::Unreachable(format!("idempotency topic {:?}: {e}", settings.topic));
    let conn = connect_any(bootstrap, options).await.map_err(unreachable)?;
    let metadata = match topic_metadata(&conn, &settings.topic).await {
        Ok(metadata) => metadata,
        Err(ReadError::UnknownTopic(_)) => {
            let topic = NewTopic {
                name: settings.topic.clone(),
                partitions: settings.partitions,
                replication_factor: -1,
                configs: vec![
                    ("cleanup.policy".into(), "compact,delete".into()),
                    (
                        "retention.ms".into(),
                        settings.retention.as_millis().to_string(),
                    ),
                ],
            };
            match create_topic(&conn, &topic, Duration::from_secs(30)).await {
                Ok(Created::Created) => {
                    tracing::info!(topic = %settings.topic, "idempotency topic created");
                }
                Ok(Created::AlreadyExisted) => {}
                Err(e @ ReadError::Broker { .. }) => {
                    return Err(OpenError::Refused(format!(
                        "the idempotency topic {:?} is missing and the cluster refused to create \
                         it ({e}); create it, name another with --idempotency-topic, or turn \
                         keys off with --idempotency-topic ''",
                        settings.topic
                    )));
                }
                Err(e) => return Err(unreachable(e.to_string())),
            }
            topic_metadata(&conn, &settings.topic)
                .await
                .map_err(|e| unreachable(e.to_string()))?
        }
        Err(e @ ReadError::Broker { .. }) => {
            return Err(OpenError::Refused(format!(
                "the cluster refused the idempotency topic {:?} ({e}); name another with \
                 --idempotency-topic, or turn keys off with --idempotency-topic ''",
                settings.topic
            )));
        }
        Err(e) => return Err(unreachable(e.to_string())),
    };
    let partitions = metadata
        .topics
        .first()
        .map_or(0, |t| i32::try_from(t.partitions.len()).unwrap_or(0));
    if partitions == 0 {
        return Err(OpenError::Refused(format!(
            "idempotency topic {:?} has no partitions",
            settings.topic
        )));
    }
    Ok(Opened {
        partitions,
        views: (0..partitions)
            .map(|_| tokio::sync::Mutex::new(None))
            .collect(),
    })
}

async fn connect_any(bootstrap: &[String], options: &ConnectOptions) -> Result<Connection, String> {
    Connection::connect_any(bootstrap.iter().map(String::as_str), options.clone())
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::key_hash;

    #[test]
    fn keys_map_to_partitions_the_same_way_everywhere() {
        // FNV-1a test vectors: a fixed function, not a per-process hasher.
        assert_eq!(key_hash(""), 0x811c_9dc5);
        assert_eq!(key_hash("a"), 0xe40c_292c);
        assert_eq!(key_hash("foobar"), 0xbf9c_f968);
    }
}
