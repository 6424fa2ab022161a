//! Whether the Kafka cluster is reachable, for `/readyz`, and what topics it has, for
//! `GET /v1/topics`: both ask a bootstrap broker on a fresh connection.

use std::future::Future;
use std::time::Duration;

use kafkatx_wire::protocol::messages::metadata_request::MetadataRequestTopic;
use kafkatx_wire::protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafkatx_wire::protocol::protocol::StrBytes;
use kafkatx_wire::{ConnectOptions, Connection, SaslCredentials, TlsConfig};

use crate::backend::{MetadataError, PartitionInfo, TopicInfo};

/// Kafka's UNKNOWN_TOPIC_OR_PARTITION error code (the protocol's error table).
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Topics Kafka keeps for itself; hidden even from brokers that do not flag them internal.
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// Answers whether the cluster can be reached now, and what topics it has.
pub trait ClusterProbe: Send + Sync + 'static {
    /// `Ok` if a broker answered; `Err` with the reason otherwise.
    fn reachable(&self) -> impl Future<Output = Result<(), String>> + Send;

    /// The cluster's non-internal topics sorted by name: all, or only `topic` (empty if it does
    /// not exist). Probes that cannot read metadata say the cluster is unavailable.
    fn topics(
        &self,
        topic: Option<String>,
    ) -> impl Future<Output = Result<Vec<TopicInfo>, MetadataError>> + Send {
        let _ = topic;
        async {
            Err(MetadataError::Unavailable(
                "this backend cannot read cluster metadata".to_owned(),
            ))
        }
    }
}

/// Probes by opening a connection (TCP + ApiVersions) to the bootstrap brokers in turn.
#[derive(Debug, Clone)]
pub struct BootstrapProbe {
    servers: Vec<String>,
    options: ConnectOptions,
}

impl BootstrapProbe {
    /// A probe of `servers` that gives up on each after `timeout`.
    pub fn new(servers: Vec<String>, timeout: Duration) -> Self {
        let options = ConnectOptions {
            client_id: "kafkatx-readiness".to_owned(),
            connect_timeout: timeout,
            request_timeout: timeout,
            ..ConnectOptions::default()
        };
        Self { servers, options }
    }

    /// Authenticates like the producers do, so that a SASL-only cluster counts as reachable
    /// (and one that refuses the credentials does not).
    pub fn with_sasl(mut self, sasl: Option<SaslCredentials>) -> Self {
        self.options.sasl = sasl;
        self
    }

    /// Speaks TLS like the producers do (SSL / SASL_SSL): a TLS-only listener is reachable
    /// only through TLS, and a certificate the producers would refuse makes it not ready.
    pub fn with_tls(mut self, tls: Option<TlsConfig>) -> Self {
        self.options.tls = tls;
        self
    }
}

impl ClusterProbe for BootstrapProbe {
    async fn reachable(&self) -> Result<(), String> {
        let mut failures = Vec::new();
        for server in &self.servers {
            match Connection::connect(server, self.options.clone()).await {
                Ok(_connection) => return Ok(()),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        if failures.is_empty() {
            Err("no bootstrap servers configured".to_owned())
        } else {
            Err(failures.join("; "))
        }
    }

    async fn topics(&self, topic: Option<String>) -> Result<Vec<TopicInfo>, MetadataError> {
        let response = self.metadata(topic.as_deref()).await?;
        Ok(visible_topics(response))
    }
}

impl BootstrapProbe {
    async fn metadata(&self, topic: Option<&str>) -> Result<MetadataResponse, MetadataError> {
        let topics = topic.map(|name| {
            vec![
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name.to_owned())))),
            ]
        });
        // Asking about a topic must never create it, whatever the broker's
        // auto.create.topics.enable says.
        let request = MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(false);
        let mut failures = Vec::new();
        for server in &self.servers {
            let answer = match Connection::connect(server, self.options.clone()).await {
                Ok(connection) => connection.send_negotiated(&request, None).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok((_version, response)) => return Ok(response),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        Err(MetadataError::Unavailable(if failures.is_empty() {
            "no bootstrap servers configured".to_owned()
        } else {
            failures.join("; ")
        }))
    }
}

/// The visible topics of a Metadata answer, sorted by name, partitions by index.
pub fn visible_topics(response: MetadataResponse) -> Vec<TopicInfo> {
    let mut topics: Vec<TopicInfo> = response
        .topics
        .into_iter()
        .filter(|t| t.error_code != UNKNOWN_TOPIC_OR_PARTITION && !t.is_internal)
        .filter_map(|t| {
            let name = t.name?.0.to_string();
            if INTERNAL_TOPICS.contains(&name.as_str()) {
                return None;
            }
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.into_iter().map(|b| b.0).collect(),
                    in_sync_replicas: p.isr_nodes.into_iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            Some(TopicInfo { name, partitions })
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_named_in_the_reason() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let probe = BootstrapProbe::new(vec![addr.clone()], Duration::from_millis(500));
        let reason = probe.reachable().await.unwrap_err();
        assert!(reason.contains(&addr), "{reason}");
    }

    #[test]
    fn internal_and_unknown_topics_are_hidden_and_the_rest_sorted() {
        use kafkatx_wire::protocol::messages::BrokerId;
        use kafkatx_wire::protocol::messages::metadata_response::{
            MetadataResponsePartition, MetadataResponseTopic,
        };
        let topic = |name: &str, error_code: i16, is_internal: bool, partitions: &[i32]| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.to_owned()))))
                .with_error_code(error_code)
                .with_is_internal(is_internal)
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(*p)
                                .with_leader_id(BrokerId(1))
                                .with_replica_nodes(vec![BrokerId(1)])
                                .with_isr_nodes(vec![BrokerId(1)])
                        })
                        .collect(),
                )
        };
        let response = MetadataResponse::default().with_topics(vec![
            topic("b", 0, false, &[1, 0]),
            topic("__consumer_offsets", 0, true, &[0]),
            topic("__transaction_state", 0, false, &[0]),
            topic("missing", UNKNOWN_TOPIC_OR_PARTITION, false, &[]),
            topic("a", 0, false, &[0]),
        ]);
        let topics = visible_topics(response);
        let names: Vec<_> = topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let partitions: Vec<_> = topics[1].partitions.iter().map(|p| p.partition).collect();
        assert_eq!(partitions, [0, 1]);
        assert_eq!(topics[1].partitions[0].in_sync_replicas, [1]);
    }

    #[tokio::test]
    async fn no_servers_is_unreachable() {
        let probe = BootstrapProbe::new(Vec::new(), Duration::from_millis(500));
        assert!(probe.reachable().await.is_err());
    }
}
