//! A small admin client over our own wire connections, for tests on a multi-node cluster:
//! partition leaders and ISRs, replicated topics, a transactional id's coordinator.

use std::time::{Duration, Instant};

use kafkatx_wire::protocol::messages::create_topics_request::CreatableTopic;
use kafkatx_wire::protocol::messages::{CreateTopicsRequest, FindCoordinatorRequest, TopicName};
use kafkatx_wire::protocol::protocol::StrBytes;
use kafkatx_wire::{ConnectOptions, Connection};

/// FindCoordinator's key type of a transactional id (0 is a consumer group).
const TRANSACTION_KEY: i8 = 1;

/// A connection to the first broker of `bootstrap` that answers, with short timeouts: a node of
/// the cluster may be down.
pub async fn connect_any(bootstrap: &str) -> Result<Connection, String> {
    let options = ConnectOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    };
    Connection::connect_any(bootstrap.split(','), options)
        .await
        .map_err(|e| e.to_string())
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// One partition as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id (-1: none).
    pub leader: i32,
    /// The in-sync replicas' node ids.
    pub isr: Vec<i32>,
}

/// The partitions of `topic`, in index order.
pub async fn partitions_of(bootstrap: &str, topic: &str) -> Result<Vec<PartitionState>, String> {
    let connection = connect_any(bootstrap).await?;
    let answer = kafkatx_wire::reader::topic_metadata(&connection, topic)
        .await
        .map_err(|e| e.to_string())?;
    let found = answer.topics.first().ok_or("no topic in the answer")?;
    let mut partitions: Vec<PartitionState> = found
        .partitions
        .iter()
        .map(|p| PartitionState {
            partition: p.partition_index,
            leader: p.leader_id.0,
            isr: p.isr_nodes.iter().map(|n| n.0).collect(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Ok(partitions)
}

/// Waits, up to `within`, until every partition of `topic` has a leader and all `nodes` in its
/// ISR, so that one more node can die without the partition falling below
/// min.insync.replicas.
pub async fn wait_fully_replicated(
    bootstrap: &str,
    topic: &str,
    nodes: usize,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let state = partitions_of(bootstrap, topic).await;
        if let Ok(partitions) = &state {
            let whole = |p: &PartitionState| p.leader >= 0 && p.isr.len() == nodes;
            if !partitions.is_empty() && partitions.iter().all(whole) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{topic} is not fully replicated: {state:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates `name` with `partitions` partitions on every one of `nodes` nodes (replication
/// factor `nodes`) and waits, up to `within`, until it is fully replicated.
pub async fn create_replicated_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    nodes: usize,
    within: Duration,
) -> Result<(), String> {
    let connection = connect_any(bootstrap).await?;
    let replication = i16::try_from(nodes).map_err(|_| format!("{nodes} replicas"))?;
    let topic = CreatableTopic::default()
        .with_name(TopicName(text(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(replication);
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(30_000);
    let (_, answer) = connection
        .send_negotiated(&request, None)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(failed) = answer.topics.iter().find(|t| t.error_code != 0) {
        return Err(format!(
            "CreateTopics {name}: error code {}",
            failed.error_code
        ));
    }
    wait_fully_replicated(bootstrap, name, nodes, within).await
}

/// The node coordinating `transactional_id`.
pub async fn transaction_coordinator(
    bootstrap: &str,
    transactional_id: &str,
) -> Result<i32, String> {
    let request = FindCoordinatorRequest::default()
        .with_key(text(transactional_id))
        .with_key_type(TRANSACTION_KEY);
    let connection = connect_any(bootstrap).await?;
    // v3 is the last version answering with one coordinator rather than a list.
    let (_, answer) = connection
        .send_negotiated(&request, Some(3))
        .await
        .map_err(|e| e.to_string())?;
    if answer.error_code != 0 {
        return Err(format!("FindCoordinator: error code {}", answer.error_code));
    }
    Ok(answer.node_id.0)
}
