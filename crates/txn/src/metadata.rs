//! What the machine knows about the cluster: brokers, partition counts and leaders.
//!
//! Refreshed on demand (a leader moved, a topic is new, a broker vanished) and periodically
//! (`metadata.max.age.ms`), one Metadata request at a time; failed refreshes back off.
//! [`ClusterMetadata`] owns that whole cycle: the machine asks whether one is due, says when it
//! sent one, and hands over its answer or failure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafkatx_wire::protocol::messages::metadata_request::MetadataRequestTopic;
use kafkatx_wire::protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafkatx_wire::protocol::protocol::StrBytes;

use crate::types::{RequestId, TopicPartition};

/// Kafka's UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// How many answers in a row must call a topic unknown before its records fail, when the
/// brokers may not create it: the first answer, and the one after the refresh it forces (a
/// topic created a moment ago may not have reached the answering broker's cache yet).
const UNKNOWN_ANSWERS_BEFORE_ABSENT: u32 = 2;

/// A broker's id and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broker {
    /// Node id.
    pub node_id: i32,
    /// `host:port`.
    pub address: String,
}

/// What metadata says about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicInfo {
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
pub(crate) struct ClusterMetadata {
    brokers: BTreeMap<i32, Broker>,
    topics: HashMap<String, TopicInfo>,
    wanted: BTreeSet<String>,
    refresh_requested: bool,
    last_refresh: Option<Instant>,
    retry_at: Option<Instant>,
    max_age: Duration,
    /// Sent as `allow_auto_topic_creation` (`allow.auto.create.topics`).
    allow_auto_create: bool,
    /// Answers in a row that called a topic UNKNOWN_TOPIC_OR_PARTITION.
    unknown_answers: HashMap<String, u32>,
    /// The refresh on the wire, if any.
    in_flight: Option<RequestId>,
    /// Refreshes that failed in a row: the backoff of the next.
    failures: u32,
}

impl ClusterMetadata {
    /// Empty metadata that wants a first refresh.
    pub(crate) fn new(max_age: Duration) -> Self {
        Self {
            brokers: BTreeMap::new(),
            topics: HashMap::new(),
            wanted: BTreeSet::new(),
            refresh_requested: true,
            last_refresh: None,
            retry_at: None,
            max_age,
            allow_auto_create: true,
            unknown_answers: HashMap::new(),
            in_flight: None,
            failures: 0,
        }
    }

    /// Whether metadata requests let the brokers create the topics they ask for
    /// (`allow.auto.create.topics`, KIP-487; Java's producer default is true).
    pub(crate) fn set_allow_auto_create(&mut self, allow: bool) {
        self.allow_auto_create = allow;
    }

    /// True when the brokers may not create topics and `topic` was reported unknown by
    /// enough answers in a row that its records should fail rather than wait.
    pub(crate) fn topic_absent(&self, topic: &str) -> bool {
        !self.allow_auto_create
            && self
                .unknown_answers
                .get(topic)
                .is_some_and(|n| *n >= UNKNOWN_ANSWERS_BEFORE_ABSENT)
    }

    /// Ask for a refresh soon.
    pub(crate) fn request_refresh(&mut self) {
        self.refresh_requested = true;
    }

    /// Start tracking `topic`; a refresh is requested if it is new.
    pub(crate) fn want_topic(&mut self, topic: &str) {
        if self.wanted.insert(topic.to_owned()) {
            self.refresh_requested = true;
        }
    }

    /// Whether a refresh should be sent at `now`: none is in flight, and one was asked for or
    /// the metadata is older than `metadata.max.age.ms`, and no backoff waits.
    pub(crate) fn refresh_due(&self, now: Instant) -> bool {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        self.refresh_requested || self.last_refresh.is_none_or(|at| now >= at + self.max_age)
    }

    /// When the next refresh becomes due, for the machine's timer (none while one is in
    /// flight: its answer or failure wakes the machine).
    pub(crate) fn next_refresh_at(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.refresh_requested {
            // A past instant means "now": the caller's timer fires at once.
            return self.retry_at.or(self.last_refresh);
        }
        self.last_refresh.map(|at| at + self.max_age)
    }

    /// The request for the tracked topics.
    pub(crate) fn build_request(&self) -> MetadataRequest {
        let topics = self
            .wanted
            .iter()
            .map(|name| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
            })
            .collect();
        // Without it the broker's default (true) creates any topic a producer names: a typo in
        // a request path would create a topic.
        MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(self.allow_auto_create)
    }

    /// Request `id` carries the refresh [`Self::build_request`] built.
    pub(crate) fn refresh_sent(&mut self, id: RequestId) {
        self.in_flight = Some(id);
    }

    /// Whether `id` is the refresh in flight (anything else is stale).
    pub(crate) fn is_refresh(&self, id: RequestId) -> bool {
        self.in_flight == Some(id)
    }

    /// The refresh failed; try again after `delay` of the count of failures in a row.
    pub(crate) fn refresh_failed(&mut self, now: Instant, delay: impl FnOnce(u32) -> Duration) {
        self.in_flight = None;
        self.failures = self.failures.saturating_add(1);
        self.refresh_requested = true;
        self.retry_at = Some(now + delay(self.failures));
    }

    /// Apply an answer. When topics still have errors or leaderless partitions, the next
    /// refresh waits `retry_delay`.
    pub(crate) fn apply(
        &mut self,
        now: Instant,
        response: &MetadataResponse,
        retry_delay: Duration,
    ) {
        self.in_flight = None;
        self.failures = 0;
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
            let name_text = name.0.as_str();
            if topic.error_code == UNKNOWN_TOPIC_OR_PARTITION {
                let answers = self
                    .unknown_answers
                    .entry(name_text.to_owned())
                    .or_insert(0);
                *answers = answers.saturating_add(1);
            } else {
                self.unknown_answers.remove(name_text);
            }
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
    pub(crate) fn partition_count(&self, topic: &str) -> Option<u32> {
        match self.topics.get(topic)? {
            TopicInfo::Known { leaders } => u32::try_from(leaders.len()).ok().filter(|n| *n > 0),
            TopicInfo::Error(_) => None,
        }
    }

    /// Stops tracking the topics [`Self::topic_absent`] reports, once their records failed: a
    /// later record of one asks metadata again (the topic may have been created since), and a
    /// stream of requests naming topics that do not exist does not grow every metadata request.
    pub(crate) fn forget_absent_topics(&mut self) {
        if self.allow_auto_create {
            return;
        }
        let absent: Vec<String> = self
            .unknown_answers
            .iter()
            .filter(|(_, n)| **n >= UNKNOWN_ANSWERS_BEFORE_ABSENT)
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in absent {
            self.unknown_answers.remove(&topic);
            self.topics.remove(&topic);
            self.wanted.remove(&topic);
        }
    }

    /// The error the cluster reported for `topic`, if any.
    pub(crate) fn topic_error(&self, topic: &str) -> Option<i16> {
        match self.topics.get(topic)? {
            TopicInfo::Error(code) => Some(*code),
            TopicInfo::Known { .. } => None,
        }
    }

    /// KIP-951: a Produce answer named `tp`'s new leader (and, for a broker we may not know,
    /// its address). Adopted at once, so the batch goes there without a Metadata round trip
    /// first; false when the hint cannot be used (no leader, unknown broker, unknown topic).
    pub(crate) fn apply_leader_hint(
        &mut self,
        tp: &TopicPartition,
        leader: i32,
        endpoint: Option<Broker>,
    ) -> bool {
        if leader < 0 {
            return false;
        }
        if let Some(broker) = endpoint.filter(|b| b.node_id == leader) {
            self.brokers.insert(leader, broker);
        }
        if !self.brokers.contains_key(&leader) {
            return false;
        }
        let Some(TopicInfo::Known { leaders }) = self.topics.get_mut(&tp.topic) else {
            return false;
        };
        let Some(slot) = usize::try_from(tp.partition)
            .ok()
            .and_then(|index| leaders.get_mut(index))
        else {
            return false;
        };
        *slot = Some(leader);
        true
    }

    /// The leader of `tp`, with its address.
    pub(crate) fn leader(&self, tp: &TopicPartition) -> Option<&Broker> {
        let TopicInfo::Known { leaders } = self.topics.get(&tp.topic)? else {
            return None;
        };
        let index = usize::try_from(tp.partition).ok()?;
        let node = (*leaders.get(index)?)?;
        self.brokers.get(&node)
    }
}

#[cfg(test)]
mod tests {
    use kafkatx_wire::protocol::messages::metadata_response::MetadataResponseTopic;

    use super::*;

    fn unknown(topic: &str) -> MetadataResponse {
        MetadataResponse::default().with_topics(vec![
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.to_owned()))))
                .with_error_code(UNKNOWN_TOPIC_OR_PARTITION),
        ])
    }

    #[test]
    fn one_refresh_at_a_time_and_failures_in_a_row_back_off() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let mut metadata = ClusterMetadata::new(Duration::from_secs(300));
        assert!(metadata.refresh_due(now), "a first refresh is wanted");
        metadata.refresh_sent(RequestId(1));
        assert!(!metadata.refresh_due(now), "one in flight at a time");
        assert_eq!(
            metadata.next_refresh_at(),
            None,
            "its answer wakes the machine"
        );
        assert!(metadata.is_refresh(RequestId(1)));
        assert!(!metadata.is_refresh(RequestId(2)));

        let mut seen = Vec::new();
        metadata.refresh_failed(now, |n| {
            seen.push(n);
            ms(50)
        });
        assert!(!metadata.is_refresh(RequestId(1)));
        assert!(!metadata.refresh_due(now + ms(49)));
        assert!(metadata.refresh_due(now + ms(50)));
        metadata.refresh_sent(RequestId(2));
        metadata.refresh_failed(now, |n| {
            seen.push(n);
            ms(50)
        });
        metadata.refresh_sent(RequestId(3));
        metadata.apply(now + ms(60), &unknown("nope"), ms(10));
        assert!(!metadata.is_refresh(RequestId(3)), "answered");
        metadata.refresh_sent(RequestId(4));
        metadata.refresh_failed(now, |n| {
            seen.push(n);
            ms(50)
        });
        assert_eq!(seen, [1, 2, 1], "an answer resets the count");
    }

    #[test]
    fn a_topic_is_absent_after_two_unknown_answers_only_without_auto_creation() {
        let now = Instant::now();
        let mut metadata = ClusterMetadata::new(Duration::from_secs(300));
        metadata.want_topic("nope");
        assert!(metadata.build_request().allow_auto_topic_creation);
        metadata.set_allow_auto_create(false);
        assert!(!metadata.build_request().allow_auto_topic_creation);

        metadata.apply(now, &unknown("nope"), Duration::from_millis(100));
        assert!(
            !metadata.topic_absent("nope"),
            "one answer may be a stale cache"
        );
        metadata.apply(now, &unknown("nope"), Duration::from_millis(100));
        assert!(metadata.topic_absent("nope"));
        assert!(!metadata.topic_absent("other"));

        // The brokers may create it: then it is only waited for.
        metadata.set_allow_auto_create(true);
        assert!(!metadata.topic_absent("nope"));
        metadata.set_allow_auto_create(false);

        // Once its records failed it is forgotten: the next record asks again.
        metadata.forget_absent_topics();
        assert!(!metadata.topic_absent("nope"));
        assert!(metadata.build_request().topics.unwrap().is_empty());
        assert_eq!(metadata.topic_error("nope"), None);
    }
}
