//! What the machine knows about the cluster: brokers, partition counts and leaders.
//!
//! Refreshed on demand (a leader moved, a topic is new, a broker vanished) and periodically
//! (`metadata.max.age.ms`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafkatx_wire::protocol::messages::metadata_request::MetadataRequestTopic;
use kafkatx_wire::protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafkatx_wire::protocol::protocol::StrBytes;

use crate::types::TopicPartition;

/// A broker's id and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Node id.
    pub node_id: i32,
    /// `host:port`.
    pub address: String,
}

/// What metadata says about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicInfo {
    /// Known, with the leader of each partition (`None` while leaderless).
    Known {
        /// Leader node per partition index.
        leaders: Vec<Option<i32>>,
    },
    /// The broker answered an error for the topic (e.g. it does not exist yet).
    Error(i16),
}

/// Cluster metadata plus the refresh bookkeeping.
#[derive(Debug)]
pub struct ClusterMetadata {
    brokers: BTreeMap<i32, Broker>,
    topics: HashMap<String, TopicInfo>,
    wanted: BTreeSet<String>,
    refresh_requested: bool,
    last_refresh: Option<Instant>,
    retry_at: Option<Instant>,
    max_age: Duration,
}

impl ClusterMetadata {
    /// Empty metadata that wants a first refresh.
    pub fn new(max_age: Duration) -> Self {
        Self {
            brokers: BTreeMap::new(),
            topics: HashMap::new(),
            wanted: BTreeSet::new(),
            refresh_requested: true,
            last_refresh: None,
            retry_at: None,
            max_age,
        }
    }

    /// Ask for a refresh soon.
    pub fn request_refresh(&mut self) {
        self.refresh_requested = true;
    }

    /// Start tracking `topic`; a refresh is requested if it is new.
    pub fn want_topic(&mut self, topic: &str) {
        if self.wanted.insert(topic.to_owned()) {
            self.refresh_requested = true;
        }
    }

    /// Whether a refresh should be sent at `now` (the caller checks nothing is in flight).
    pub fn refresh_due(&self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        self.refresh_requested || self.last_refresh.is_none_or(|at| now >= at + self.max_age)
    }

    /// When the next refresh becomes due, for the machine's timer.
    pub fn next_refresh_at(&self) -> Option<Instant> {
        if self.refresh_requested {
            // A past instant means "now": the caller's timer fires at once.
            return self.retry_at.or(self.last_refresh);
        }
        self.last_refresh.map(|at| at + self.max_age)
    }

    /// The request for the tracked topics.
    pub fn build_request(&self) -> MetadataRequest {
        let topics = self
            .wanted
            .iter()
            .map(|name| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
            })
            .collect();
        MetadataRequest::default().with_topics(Some(topics))
    }

    /// A refresh failed; try again after `delay`.
    pub fn refresh_failed(&mut self, now: Instant, delay: Duration) {
        self.refresh_requested = true;
        self.retry_at = Some(now + delay);
    }

    /// Apply an answer. When topics still have errors or leaderless partitions, the next
    /// refresh waits `retry_delay`.
    pub fn apply(&mut self, now: Instant, response: &MetadataResponse, retry_delay: Duration) {
        for broker in &response.brokers {
            let port = broker.port;
            self.brokers.insert(
                broker.node_id.0,
                Broker {
                    node_id: broker.node_id.0,
                    address: format!("{}:{port}", broker.host.as_str()),
                },
            );
        }
        let alive: BTreeSet<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
        self.brokers.retain(|id, _| alive.contains(id));
        let mut incomplete = false;
        for topic in &response.topics {
            let Some(name) = topic.name.as_ref() else {
                continue;
            };
            let info = if topic.error_code != 0 {
                incomplete = true;
                TopicInfo::Error(topic.error_code)
            } else {
                let count = topic
                    .partitions
                    .iter()
                    .map(|p| p.partition_index.saturating_add(1))
                    .max()
                    .unwrap_or(0);
                let mut leaders = vec![None; usize::try_from(count).unwrap_or(0)];
                for partition in &topic.partitions {
                    let leader = partition.leader_id.0;
                    let usable = leader >= 0 && alive.contains(&leader);
                    incomplete |= !usable;
                    if let Some(slot) = usize::try_from(partition.partition_index)
                        .ok()
                        .and_then(|index| leaders.get_mut(index))
                    {
                        *slot = usable.then_some(leader);
                    }
                }
                TopicInfo::Known { leaders }
            };
            self.topics.insert(name.0.as_str().to_owned(), info);
        }
        self.last_refresh = Some(now);
        // Whoever still waits for a missing topic or leader asks again; the delay keeps that
        // from becoming a busy loop.
        self.refresh_requested = false;
        self.retry_at = incomplete.then_some(now + retry_delay);
    }

    /// Number of partitions of `topic`, when known.
    pub fn partition_count(&self, topic: &str) -> Option<u32> {
        match self.topics.get(topic)? {
            TopicInfo::Known { leaders } => u32::try_from(leaders.len()).ok().filter(|n| *n > 0),
            TopicInfo::Error(_) => None,
        }
    }

    /// The error the cluster reported for `topic`, if any.
    pub fn topic_error(&self, topic: &str) -> Option<i16> {
        match self.topics.get(topic)? {
            TopicInfo::Error(code) => Some(*code),
            TopicInfo::Known { .. } => None,
        }
    }

    /// The leader of `tp`, with its address.
    pub fn leader(&self, tp: &TopicPartition) -> Option<&Broker> {
        let TopicInfo::Known { leaders } = self.topics.get(&tp.topic)? else {
            return None;
        };
        let index = usize::try_from(tp.partition).ok()?;
        let node = (*leaders.get(index)?)?;
        self.brokers.get(&node)
    }

    /// A broker by id.
    pub fn broker(&self, node_id: i32) -> Option<&Broker> {
        self.brokers.get(&node_id)
    }
}
