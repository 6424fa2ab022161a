//! The one administrative request the gateway makes: creating a topic it owns (the marker
//! topic of idempotency keys) when it is missing.

use std::time::Duration;

use crate::Connection;
use crate::protocol::error::ResponseError;
use crate::protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::{CreateTopicsRequest, MetadataRequest, TopicName};
use crate::protocol::protocol::StrBytes;
use crate::reader::ReadError;

/// What is asked of a new topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor; -1 takes the broker's `default.replication.factor`.
    pub replication_factor: i16,
    /// Topic configurations, e.g. `("cleanup.policy", "compact")`.
    pub configs: Vec<(String, String)>,
}

/// What became of a [`NewTopic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// This request created it.
    Created,
    /// It existed already (its settings were left as they are).
    AlreadyExisted,
}

/// Creates `topic` and waits, up to `wait`, until each partition has a leader: CreateTopics
/// answers before every broker knows the new partitions.
pub async fn create_topic(
    conn: &Connection,
    topic: &NewTopic,
    wait: Duration,
) -> Result<Created, ReadError> {
    let creatable = CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_num_partitions(topic.partitions)
        .with_replication_factor(topic.replication_factor)
        .with_configs(
            topic
                .configs
                .iter()
                .map(|(key, value)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(key.clone()))
                        .with_value(Some(StrBytes::from_string(value.clone())))
                })
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![creatable])
        .with_timeout_ms(i32::try_from(wait.as_millis()).unwrap_or(i32::MAX));
    let (_, response) = conn.send_negotiated(&request, None).await?;
    let code = response.topics.first().map_or(-1, |t| t.error_code);
    let created = match code {
        0 => Created::Created,
        c if c == ResponseError::TopicAlreadyExists.code() => Created::AlreadyExisted,
        code => {
            return Err(ReadError::Broker {
                topic: topic.name.clone(),
                code,
            });
        }
    };
    wait_for_leaders(conn, &topic.name, wait).await?;
    Ok(created)
}

async fn wait_for_leaders(conn: &Connection, name: &str, wait: Duration) -> Result<(), ReadError> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name(name))),
        ]))
        .with_allow_auto_topic_creation(false);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (_, response) = conn.send_negotiated(&request, None).await?;
        let ready = response.topics.first().is_some_and(|t| {
            t.error_code == 0
                && !t.partitions.is_empty()
                && t.partitions
                    .iter()
                    .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        });
        if ready {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ReadError::NoLeader {
                partition: -1,
                leader: -1,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}
