//! The tokio driver and the public handles, over a transport backed by the fake cluster.

use std::sync::{Arc, Mutex};

use kafkatx_wire::BrokerVersions;

use kafkatx_wire::protocol::messages::ApiKey;

use super::codes::{CONCURRENT_TRANSACTIONS, TRANSACTION_ABORTABLE};
use super::fake_cluster::{CLASSIC, FakeCluster, Fault, KIP_890, NO_TV_FEATURE, Reply};
use super::harness::txn_config;
use crate::classify::TransportFailure;
use crate::config::ProducerConfig;
use crate::consumer_group::{ConsumerGroupMetadata, OffsetAndMetadata};
use crate::error::{Action, Operation, TxnError, UsageError};
use crate::handle::{Ended, Producer, TransactionalProducer};
use crate::state::TxnState;
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
    for tv in [CLASSIC, KIP_890] {
        let cluster = cluster(tv);
        let transport = Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        });
        let producer =
            TransactionalProducer::with_transport(txn_config().build().unwrap(), transport)
                .await
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
    for tv in [CLASSIC, KIP_890] {
        let cluster = cluster(tv);
        cluster.lock().unwrap().move_group_coordinator(1);
        let transport = Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        });
        let producer =
            TransactionalProducer::with_transport(txn_config().build().unwrap(), transport)
                .await
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
    let cluster = cluster(KIP_890);
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(&cluster),
    });
    let first =
        TransactionalProducer::with_transport(txn_config().build().unwrap(), transport.clone())
            .await
            .unwrap();
    first.init_transactions().await.unwrap();
    first.begin_transaction().await.unwrap();
    let _pending = first
        .send(ProducerRecord::new("t", "zombie").with_partition(0))
        .await
        .unwrap();
    first.flush().await.unwrap();
    let second = TransactionalProducer::with_transport(txn_config().build().unwrap(), transport)
        .await
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
    let cluster = cluster(NO_TV_FEATURE);
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(&cluster),
    });
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-1:9092")
        .build()
        .unwrap();
    let producer = Producer::with_transport(config, transport).await.unwrap();
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
        TransactionalProducer::new(
            ProducerConfig::builder()
                .bootstrap_servers("x:1")
                .build()
                .unwrap(),
        )
        .await
        .is_err()
    );
}

#[test]
fn creating_a_producer_outside_a_runtime_is_an_error_not_a_panic() {
    // Polled once, outside any runtime: `new` looks for the runtime before its first await.
    let mut creating = std::pin::pin!(TransactionalProducer::new(txn_config().build().unwrap()));
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let result = creating.as_mut().poll(&mut context);
    assert!(matches!(
        result,
        std::task::Poll::Ready(Err(TxnError::NoRuntime))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_missing_partition_fails_its_transaction_or_only_its_send() {
    for tv in [CLASSIC, KIP_890] {
        let cluster = cluster(tv);
        let transport = Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        });
        let producer =
            TransactionalProducer::with_transport(txn_config().build().unwrap(), transport)
                .await
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
        // Its transaction cannot commit without it.
        assert!(valid.await.unwrap_err().requires_abort(), "tv{tv}");
        assert!(
            producer
                .commit_transaction()
                .await
                .unwrap_err()
                .requires_abort()
        );
        producer.abort_transaction().await.unwrap();
        // Now the partition count is known: the send itself is refused, and only that record.
        producer.begin_transaction().await.unwrap();
        let refused = producer
            .send(ProducerRecord::new("t", "bogus").with_partition(5))
            .await
            .unwrap_err();
        assert_eq!(refused, expected, "tv{tv}");
        let valid = producer
            .send(ProducerRecord::new("t", "ok").with_partition(2))
            .await
            .unwrap();
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
        Arc::new(RefusingTransport),
    )
    .await
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
        Arc::new(RefusingTransport),
    )
    .await;
    assert!(
        matches!(&idempotent, Err(e) if e.is_fatal()),
        "{idempotent:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_send_waits_for_buffer_room_and_fails_only_after_max_block() {
    let cluster = cluster(NO_TV_FEATURE);
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(&cluster),
    });
    let config = ProducerConfig::builder()
        .bootstrap_servers("broker-1:9092")
        .batch_size(400)
        .set("buffer.memory", "1000")
        .unwrap()
        .max_block(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let producer = Producer::with_transport(config, transport).await.unwrap();
    let record = |n: usize| ProducerRecord::new("t", vec![b'0' + (n % 10) as u8; 300]);
    // Ten 300-byte records through a 1000-byte buffer: the later sends wait for room, in
    // order, and all of them are delivered.
    let mut deliveries = Vec::new();
    for n in 0..10 {
        deliveries.push(producer.send(record(n)).await.unwrap());
    }
    producer.flush().await.unwrap();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let total: usize = committed(&cluster).iter().map(Vec::len).sum();
    assert_eq!(total, 10);

    // With every broker gone nothing frees the buffer: the send that finds no room fails
    // after max.block.ms with the reason, the records already queued are untouched.
    let nodes = cluster.lock().unwrap().nodes();
    for node in nodes {
        cluster.lock().unwrap().set_alive(node, false);
    }
    let _first = producer.send(record(0)).await.unwrap();
    let _second = producer.send(record(1)).await.unwrap();
    let started = tokio::time::Instant::now();
    let refused = producer.send(record(2)).await;
    assert!(
        matches!(
            refused,
            Err(TxnError::BufferExhausted {
                buffer_memory: 1000
            })
        ),
        "{refused:?}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
}

/// A transactional producer over `cluster`, initialised.
async fn initialised(
    cluster: &Arc<Mutex<FakeCluster>>,
    config: crate::config::ProducerConfigBuilder,
) -> TransactionalProducer {
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(cluster),
    });
    let producer = TransactionalProducer::with_transport(config.build().unwrap(), transport)
        .await
        .unwrap();
    producer.init_transactions().await.unwrap();
    producer
}

#[tokio::test(start_paused = true)]
async fn end_transaction_commits_or_aborts_as_asked() {
    for tv in [CLASSIC, KIP_890] {
        let cluster = cluster(tv);
        let producer = initialised(&cluster, txn_config()).await;
        producer.begin_transaction().await.unwrap();
        let kept = producer
            .send(ProducerRecord::new("t", "kept").with_partition(0))
            .await
            .unwrap();
        assert_eq!(producer.end_transaction(true).await, Ok(Ended::Committed));
        assert_eq!(kept.await.unwrap().offset, 0);
        assert_eq!(producer.state(), TxnState::Ready, "tv{tv}");

        producer.begin_transaction().await.unwrap();
        producer
            .send(ProducerRecord::new("t", "dropped").with_partition(0))
            .await
            .unwrap();
        assert_eq!(
            producer.end_transaction(false).await,
            Ok(Ended::Aborted { cause: None })
        );
        assert_eq!(committed(&cluster)[0], vec!["kept"], "tv{tv}");
        assert_eq!(producer.state(), TxnState::Ready, "tv{tv}");
        // Nothing open: like abort_transaction, a usage error.
        let nothing = producer.end_transaction(true).await.unwrap_err();
        assert_eq!(nothing.action(), Action::FixUsage, "{nothing}");
    }
}

#[tokio::test(start_paused = true)]
async fn end_transaction_aborts_a_transaction_that_failed_and_says_why() {
    for tv in [CLASSIC, KIP_890] {
        let cluster = cluster(tv);
        let producer = initialised(&cluster, txn_config()).await;
        producer.begin_transaction().await.unwrap();
        cluster
            .lock()
            .unwrap()
            .inject(ApiKey::Produce, Fault::Error(TRANSACTION_ABORTABLE));
        let refused = producer
            .send(ProducerRecord::new("t", "refused").with_partition(0))
            .await
            .unwrap();
        let ended = producer.end_transaction(true).await.unwrap();
        let Ended::Aborted { cause: Some(cause) } = ended else {
            panic!("tv{tv}: {ended:?}");
        };
        assert_eq!(cause.action(), Action::AbortThenRetry, "tv{tv}: {cause}");
        assert!(refused.await.is_err());
        assert!(committed(&cluster)[0].is_empty(), "tv{tv}");
        assert_eq!(producer.state(), TxnState::Ready, "tv{tv}");

        // A transaction that failed before the call is aborted the same way.
        producer.begin_transaction().await.unwrap();
        cluster
            .lock()
            .unwrap()
            .inject(ApiKey::Produce, Fault::Error(TRANSACTION_ABORTABLE));
        let _refused = producer
            .send(ProducerRecord::new("t", "refused").with_partition(0))
            .await
            .unwrap();
        let flushed = producer.flush().await;
        assert!(flushed.is_ok() || producer.state() == TxnState::AbortableError);
        while producer.state() != TxnState::AbortableError {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(matches!(
            producer.end_transaction(true).await,
            Ok(Ended::Aborted { cause: Some(_) })
        ));
        producer.begin_transaction().await.unwrap();
        producer
            .send(ProducerRecord::new("t", "after").with_partition(0))
            .await
            .unwrap();
        assert_eq!(producer.end_transaction(true).await, Ok(Ended::Committed));
        assert_eq!(committed(&cluster)[0], vec!["after"], "tv{tv}");
    }
}

#[tokio::test(start_paused = true)]
async fn end_transaction_resumes_a_commit_that_timed_out_even_when_asked_to_abort() {
    for tv in [CLASSIC, KIP_890] {
        let cluster = cluster(tv);
        let config = txn_config().max_block(std::time::Duration::from_millis(50));
        let producer = initialised(&cluster, config).await;
        producer.begin_transaction().await.unwrap();
        producer
            .send(ProducerRecord::new("t", "x").with_partition(0))
            .await
            .unwrap();
        // EndTxn is refused a few times, so the commit outlives max.block.ms.
        for _ in 0..4 {
            cluster
                .lock()
                .unwrap()
                .inject(ApiKey::EndTxn, Fault::Error(CONCURRENT_TRANSACTIONS));
        }
        let timed_out = producer.end_transaction(true).await.unwrap_err();
        assert_eq!(
            timed_out,
            TxnError::Timeout {
                op: Operation::Commit
            },
            "tv{tv}"
        );
        assert_eq!(timed_out.action(), Action::Retry);
        // abort_transaction refuses while the commit is under way ...
        let refused = producer.abort_transaction().await.unwrap_err();
        assert_eq!(refused.action(), Action::FixUsage, "tv{tv}: {refused}");
        assert!(
            refused.to_string().contains("still in progress"),
            "tv{tv}: {refused}"
        );
        // ... end_transaction resumes it (as often as it takes) and says how it ended.
        let mut ended = producer.end_transaction(false).await;
        for _ in 0..10 {
            if ended
                != Err(TxnError::Timeout {
                    op: Operation::Commit,
                })
            {
                break;
            }
            ended = producer.end_transaction(false).await;
        }
        assert_eq!(ended, Ok(Ended::Committed), "tv{tv}");
        assert_eq!(committed(&cluster)[0], vec!["x"], "tv{tv}");
        assert_eq!(producer.state(), TxnState::Ready, "tv{tv}");
        producer.begin_transaction().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn state_follows_the_machine_through_a_life_cycle() {
    let cluster = cluster(KIP_890);
    let transport = Arc::new(FakeTransport {
        cluster: Arc::clone(&cluster),
    });
    let first = TransactionalProducer::with_transport(txn_config().build().unwrap(), transport)
        .await
        .unwrap();
    assert_eq!(first.state(), TxnState::Uninitialized);
    first.init_transactions().await.unwrap();
    assert_eq!(first.state(), TxnState::Ready);
    first.begin_transaction().await.unwrap();
    assert_eq!(first.state(), TxnState::InTransaction);
    first
        .send(ProducerRecord::new("t", "a").with_partition(0))
        .await
        .unwrap();
    first.commit_transaction().await.unwrap();
    assert_eq!(first.state(), TxnState::Ready);

    // A record refused at send changes nothing.
    first.begin_transaction().await.unwrap();
    let missing = first
        .send(ProducerRecord::new("t", "a").with_partition(7))
        .await
        .unwrap_err();
    assert_eq!(missing.action(), Action::RecordRefused);
    assert_eq!(first.state(), TxnState::InTransaction);
    first
        .send(ProducerRecord::new("t", "zombie").with_partition(0))
        .await
        .unwrap();
    first.flush().await.unwrap();

    // Fenced by a second instance: fatal, and the state says so without another call.
    let second = initialised(&cluster, txn_config()).await;
    let fenced = first.commit_transaction().await.unwrap_err();
    assert_eq!(fenced.action(), Action::Fenced, "{fenced}");
    assert_eq!(first.state(), TxnState::FatalError);
    assert_eq!(second.state(), TxnState::Ready);

    let idempotent = Producer::with_transport(
        ProducerConfig::builder()
            .bootstrap_servers("broker-1:9092")
            .build()
            .unwrap(),
        Arc::new(FakeTransport {
            cluster: Arc::clone(&cluster),
        }),
    )
    .await
    .unwrap();
    assert_eq!(idempotent.state(), TxnState::Ready);
}
