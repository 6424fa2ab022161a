//! `GET /v1/topics` and `GET /v1/topics/{topic}`: what the cluster's metadata says.

use std::sync::Arc;
use std::time::Duration;

use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::backend::{Backend, MetadataError, PartitionInfo, TopicInfo, TxnFailure};
use crate::http::body::validate_topic;
use crate::http::error::ApiError;
use crate::http::response::{self, Body};
use crate::http::routes::decode_segment;
use crate::http::state::AppState;

/// A metadata read must answer even when the backend hangs.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
struct TopicList {
    topics: Vec<TopicSummary>,
}

#[derive(Debug, Serialize)]
struct TopicSummary {
    name: String,
    partitions: usize,
}

#[derive(Debug, Serialize)]
struct TopicDetail {
    name: String,
    partitions: Vec<PartitionDetail>,
}

#[derive(Debug, Serialize)]
struct PartitionDetail {
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    in_sync_replicas: Vec<i32>,
}

impl From<PartitionInfo> for PartitionDetail {
    fn from(p: PartitionInfo) -> Self {
        Self {
            partition: p.partition,
            leader: p.leader,
            replicas: p.replicas,
            in_sync_replicas: p.in_sync_replicas,
        }
    }
}

async fn read<B: Backend>(
    state: &Arc<AppState<B>>,
    topic: Option<String>,
) -> Result<Vec<TopicInfo>, ApiError> {
    let answer = tokio::time::timeout(METADATA_TIMEOUT, state.backend.topics(topic))
        .await
        .map_err(|_| MetadataError::Unavailable("no broker answered in time".to_owned()));
    match answer.and_then(|inner| inner) {
        Ok(topics) => Ok(topics),
        // Same answer as a transaction without a broker: 503, retry later, nothing changed.
        Err(MetadataError::Unavailable(reason)) => Err(TxnFailure::Unavailable(reason).into()),
    }
}

/// Every visible topic with its partition count.
pub async fn list<B: Backend>(state: &Arc<AppState<B>>) -> Result<Response<Body>, ApiError> {
    let topics = read(state, None).await?;
    let list = TopicList {
        topics: topics
            .into_iter()
            .map(|t| TopicSummary {
                partitions: t.partitions.len(),
                name: t.name,
            })
            .collect(),
    };
    Ok(response::json(StatusCode::OK, &list))
}

/// One topic's partitions; 404 `unknown_topic` if the cluster does not have it.
pub async fn describe<B: Backend>(
    state: &Arc<AppState<B>>,
    raw_topic: &str,
) -> Result<Response<Body>, ApiError> {
    let name = decode_segment(raw_topic)?;
    validate_topic(&name)?;
    let topics = read(state, Some(name.clone())).await?;
    let Some(topic) = topics.into_iter().find(|t| t.name == name) else {
        return Err(ApiError::UnknownTopic(name));
    };
    let detail = TopicDetail {
        name: topic.name,
        partitions: topic.partitions.into_iter().map(Into::into).collect(),
    };
    Ok(response::json(StatusCode::OK, &detail))
}
