//! The tokio driver and the public handles, over a transport backed by the fake cluster.

use std::sync::{Arc, Mutex};

use kafkatx_wire::BrokerVersions;

use super::fake_cluster::{FakeCluster, Reply};
use super::harness::txn_config;
use crate::classify::TransportFailure;
use crate::config::ProducerConfig;
use crate::consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::error::{Operation, TxnError, UsageError};
use crate::handle::{Producer, TransactionalProducer};
use crate::transport::{BoxFuture, BrokerLink, LinkError, Transport};
use crate::types::{
    Destination, ProducerRecord, Request, RequestId, Response, TopicPartition, Transmit,
};

#[derive(Debug, Clone)]
struct FakeTransport {
    cluster: Arc<Mutex<FakeCluster>>,
}

/// A cluster whose brokers refuse our credentials on every connection.
#[derive(Debug, Clone)]
struct RefusingTransport;

impl Transport for RefusingTransport {
    fn connect(
        &self,
        _address: &str,
    ) -> BoxFuture<'static, Result<Arc<dyn BrokerLink>, LinkError>> {
        Box::pin(async {
            Err(LinkError {
                failure: TransportFailure::AuthenticationFailed,
                message: "SASL authentication failed (code 58): Invalid username or password"
                    .into(),
            })
        })
    }
}

#[derive(Debug)]
struct FakeLink {
    node_id: i32,
    address: String,
    cluster: Arc<Mutex<FakeCluster>>,
}

fn node_of(address: &str) -> Option<i32> {
    address
        .strip_prefix("broker-")?
        .strip_suffix(":9092")?
        .parse()
        .ok()
}

impl Transport for FakeTransport {
    fn connect(&self, address: &str) -> BoxFuture<'static, Result<Arc<dyn BrokerLink>, LinkError>> {
        let cluster = Arc::clone(&self.cluster);
        let address = address.to_owned();
        Box::pin(async move {
            let refused = || LinkError {
                failure: TransportFailure::NotSent,
                message: "refused".into(),
            };
            let node_id = node_of(&address).ok_or_else(refused)?;
            if !cluster.lock().unwrap().nodes().contains(&node_id) {
                return Err(refused());
            }
            Ok(Arc::new(FakeLink {
                node_id,
                address,
                cluster,
            }) as Arc<dyn BrokerLink>)
        })
    }
}

impl BrokerLink for FakeLink {
    fn versions(&self) -> BrokerVersions {
        self.cluster.lock().unwrap().versions()
    }

    fn send(
        &self,
        request: Request,
        version: i16,
    ) -> BoxFuture<'static, Result<Response, LinkError>> {
        let transmit = Transmit {
            id: RequestId(0),
            destination: Destination::Broker {
                node_id: self.node_id,
                address: self.address.clone(),
            },
            request,
            version,
        };
        let reply = self
            .cluster
            .lock()
            .unwrap()
            .handle(tokio::time::Instant::now().into_std(), &transmit);
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            match reply {
                Reply::Response(response) => Ok(response),
                Reply::Failure(failure) => Err(LinkError {
                    failure,
                    message: "fake failure".into(),
                }),
            }
        })
    }

    fn is_closed(&self) -> bool {
        false
    }
}

fn cluster(tv: i16) -> Arc<Mutex<FakeCluster>> {
    let mut cluster = FakeCluster::new(2, tv);
    cluster.create_topic("t", 3);
    Arc::new(Mutex::new(cluster))
}

fn committed(cluster: &Arc<Mutex<FakeCluster>>) -> Vec<Vec<String>> {
    cluster
        .lock()
        .unwrap()
        .committed_values("t")
        .into_iter()
        .map(|values| {
            values
                .into_iter()
                .map(|v| String::from_utf8(v.to_vec()).unwrap())
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn transactional_producer_commits_and_aborts_through_the_driver() {
    for tv in [1, 2] {
        let cluster = cluster(tv);
        let transport = Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        });
        let producer =
            TransactionalProducer::with_transport(txn_config().build().unwrap(), Some(transport))
                .unwrap();
        producer.init_transactions().await.unwrap();
        producer.begin_transaction().await.unwrap();
        let a = producer
            .send(ProducerRecord::new("t", "a").with_partition(1))
            .await
            .unwrap();
        let b = producer
            .send(ProducerRecord::new("t", "b").with_partition(1))
            .await
            .unwrap();
        producer.commit_transaction().await.unwrap();
        assert_eq!(a.await.unwrap().offset, 0);
        assert_eq!(b.await.unwrap().offset, 1);
        producer.begin_transaction().await.unwrap();
        let c = producer
            .send(ProducerRecord::new("t", "c").with_partition(1))
            .await
            .unwrap();
        producer.abort_transaction().await.unwrap();
        assert!(
            c.await.is_err(),
            "tv{tv}: unsent record of an aborted transaction fails"
        );
        assert_eq!(committed(&cluster)[1], vec!["a", "b"], "tv{tv}");
        assert!(
            producer
                .commit_transaction()
                .await
                .unwrap_err()
                .to_string()
                .contains("not allowed")
        );
        assert_eq!(producer.metrics().commits, 1);
        producer.close().await.unwrap();
        assert!(producer.begin_transaction().await.is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn offsets_are_sent_to_the_transaction_through_the_handle() {
    for tv in [1, 2] {
        let cluster = cluster(tv);
        cluster.lock().unwrap().move_group_coordinator(1);
        let transport = Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        });
        let producer =
            TransactionalProducer::with_transport(txn_config().build().unwrap(), Some(transport))
                .unwrap();
        producer.init_transactions().await.unwrap();
        let offsets = |offset| vec![(TopicPartition::new("in", 0), OffsetAndMetadata::new(offset))];
        let group = ConsumerGroupMetadata::new("g");
        let outside = producer
            .send_offsets_to_transaction(offsets(1), group.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(
                outside,
                TxnError::Usage(UsageError {
                    op: Operation::SendOffsets,
                    ..
                })
            ),
            "{outside:?}"
        );

        producer.begin_transaction().await.unwrap();
        producer
            .send(ProducerRecord::new("t", "a").with_partition(0))
            .await
            .unwrap();
        producer
            .send_offsets_to_transaction(offsets(5), group.clone())
            .await
            .unwrap();
        producer.commit_transaction().await.unwrap();
        assert_eq!(
            cluster.lock().unwrap().committed_offset("g", "in", 0),
            Some(5),
            "tv{tv}"
        );

        producer.begin_transaction().await.unwrap();
        producer
            .send_offsets_to_transaction(offsets(9), group.clone())
            .await
            .unwrap();
        producer.abort_transaction().await.unwrap();
        assert_eq!(
            cluster.lock().unwrap().committed_offset("g", "in", 0),
            Some(5),
            "tv{tv}: an abort discards the offsets"
        );
        producer.close().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn second_instance_fences_the_first_through_the_driver() {
    let cluster = cluster(2);
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(&cluster),
    });
    let first = TransactionalProducer::with_transport(
        txn_config().build().unwrap(),
        Some(transport.clone()),
    )
    .unwrap();
    first.init_transactions().await.unwrap();
    first.begin_transaction().await.unwrap();
    let _pending = first
        .send(ProducerRecord::new("t", "zombie").with_partition(0))
        .await
        .unwrap();
    first.flush().await.unwrap();
    let second =
        TransactionalProducer::with_transport(txn_config().build().unwrap(), Some(transport))
            .unwrap();
    second.init_transactions().await.unwrap();
    let error = first.commit_transaction().await.unwrap_err();
    assert!(error.is_fatal(), "{error:?}");
    second.begin_transaction().await.unwrap();
    second
        .send(ProducerRecord::new("t", "owner").with_partition(0))
        .await
        .unwrap();
    second.commit_transaction().await.unwrap();
    assert_eq!(committed(&cluster)[0], vec!["owner"]);
}

#[tokio::test(start_paused = true)]
async fn idempotent_producer_sends_and_flushes() {
    let cluster = cluster(0);
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(&cluster),
    });
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-1:9092")
        .build()
        .unwrap();
    let producer = Producer::with_transport(config, Some(transport))
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for n in 0..20 {
        deliveries.push(
            producer
                .send(ProducerRecord::new("t", format!("v{n}")))
                .await
                .unwrap(),
        );
    }
    producer.flush().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let total: usize = committed(&cluster).iter().map(Vec::len).sum();
    assert_eq!(total, 20);
    assert_eq!(producer.metrics().records_sent, 20);
    assert!(
        TransactionalProducer::with_transport(
            ProducerConfig::builder()
                .bootstrap_servers("x:1")
                .build()
                .unwrap(),
            None
        )
        .is_err()
    );
}

#[test]
fn creating_a_producer_outside_a_runtime_is_an_error_not_a_panic() {
    let result = TransactionalProducer::new(txn_config().build().unwrap());
    assert!(matches!(result, Err(crate::error::TxnError::Fatal { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_missing_partition_fails_its_delivery_or_its_send_and_nothing_else() {
    for tv in [1, 2] {
        let cluster = cluster(tv);
        let transport = Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        });
        let producer =
            TransactionalProducer::with_transport(txn_config().build().unwrap(), Some(transport))
                .unwrap();
        producer.init_transactions().await.unwrap();
        producer.begin_transaction().await.unwrap();
        let expected = TxnError::InvalidPartition {
            topic: "t".into(),
            partition: 5,
            partitions: Some(3),
        };
        // The topic's metadata is not known yet: the send is accepted, the delivery fails.
        let waiting = producer
            .send(ProducerRecord::new("t", "bogus").with_partition(5))
            .await
            .unwrap();
        let valid = producer
            .send(ProducerRecord::new("t", "ok").with_partition(2))
            .await
            .unwrap();
        assert_eq!(waiting.await.unwrap_err(), expected, "tv{tv}");
        // Now it is known: the send itself is refused.
        let refused = producer
            .send(ProducerRecord::new("t", "bogus").with_partition(5))
            .await
            .unwrap_err();
        assert_eq!(refused, expected, "tv{tv}");
        producer.commit_transaction().await.unwrap();
        assert_eq!(valid.await.unwrap().offset, 0, "tv{tv}");
        assert_eq!(committed(&cluster)[2], vec!["ok"], "tv{tv}");
        producer.close().await.unwrap();
    }
}

/// Refused credentials end `init_transactions` at once with a fatal error that says so, instead
/// of retrying the same credentials until `max.block.ms` (Java: AuthenticationException).
#[tokio::test(start_paused = true)]
async fn refused_credentials_fail_initialisation_at_once() {
    let started = tokio::time::Instant::now();
    let producer = TransactionalProducer::with_transport(
        txn_config().build().unwrap(),
        Some(Arc::new(RefusingTransport)),
    )
    .unwrap();
    let error = producer.init_transactions().await.unwrap_err();
    assert!(error.is_fatal(), "{error:?}");
    assert!(error.to_string().contains("credentials"), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "no retries: {:?}",
        started.elapsed()
    );
    let idempotent = Producer::with_transport(
        ProducerConfig::builder()
            .bootstrap_servers("broker-0:9092")
            .build()
            .unwrap(),
        Some(Arc::new(RefusingTransport)),
    )
    .await;
    assert!(
        matches!(&idempotent, Err(e) if e.is_fatal()),
        "{idempotent:?}"
    );
}
