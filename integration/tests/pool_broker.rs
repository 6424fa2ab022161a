//! The producer pool on the real engine against real brokers (KIP-890 and classic protocol):
//! concurrent transactions judged by an independent read_committed reader, a slot fenced from
//! outside, and a restart fencing the previous incarnation's producers.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bytes::Bytes;
use kafkatx_pool::{KafkaProducer, KafkaProducerFactory, Pool, PoolConfig, PoolError, RunError};
use kafkatx_testkit::{create_topic, kcat_committed_values, unique_name};
use kafkatx_txn::{ProducerConfig, ProducerRecord, TransactionalProducer, TxnError};

fn producer_config(addr: &str) -> ProducerConfig {
    ProducerConfig::builder()
        .bootstrap_servers(addr)
        .transaction_timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn pool_config(size: usize, prefix: &str, instance: &str) -> PoolConfig {
    PoolConfig {
        size,
        transactional_id_prefix: prefix.to_owned(),
        instance_id: instance.to_owned(),
        lease_timeout: Duration::from_secs(30),
        close_timeout: Duration::from_secs(5),
        ..PoolConfig::default()
    }
}

async fn start(addr: &str, config: PoolConfig) -> Pool<KafkaProducerFactory> {
    let pool = Pool::new(config, KafkaProducerFactory::new(producer_config(addr)))
        .await
        .unwrap();
    assert_eq!(pool.stats().ready, pool.config().size);
    pool
}

async fn send(producer: &KafkaProducer, topic: &str, value: String) -> Result<(), TxnError> {
    producer
        .send(ProducerRecord::new(topic, Bytes::from(value)))
        .await
        .map(drop)
}

async fn concurrent_transactions(addr: &str) {
    let topic = unique_name("pool-concurrent");
    create_topic(addr, &topic, 3).await.unwrap();
    let pool = start(addr, pool_config(4, &unique_name("pool-concurrent"), "it")).await;

    let mut tasks = Vec::new();
    for task in 0..12 {
        let (pool, topic) = (pool.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            for txn in 0..5 {
                let values = vec![format!("t{task:02}-{txn}-a"), format!("t{task:02}-{txn}-b")];
                let abort = (task + txn) % 4 == 0;
                let outcome = pool
                    .run(async |producer: &KafkaProducer| {
                        for value in &values {
                            send(producer, &topic, value.clone()).await?;
                        }
                        if abort {
                            Err(TxnError::TransactionAborted)
                        } else {
                            Ok(())
                        }
                    })
                    .await;
                match outcome {
                    Ok(()) => committed.extend(values),
                    Err(RunError::Work(TxnError::TransactionAborted)) if abort => {}
                    Err(other) => panic!("transaction failed: {other}"),
                }
            }
            committed
        }));
    }
    let mut expected = Vec::new();
    for task in tasks {
        expected.extend(task.await.unwrap());
    }
    let stats = pool.stats();
    assert_eq!((stats.commits, stats.aborts), (45, 15));
    assert_eq!((stats.replacements, stats.idle), (0, 4));
    pool.close().await;
    expected.sort();
    assert_eq!(kcat_committed_values(addr, &topic), expected);
}

kafkatx_testkit::on_both_protocols!(concurrent_transactions_through_the_pool => concurrent_transactions);

async fn fenced_from_outside(addr: &str) {
    let topic = unique_name("pool-fenced");
    create_topic(addr, &topic, 1).await.unwrap();
    let pool = start(addr, pool_config(2, &unique_name("pool-fenced"), "it")).await;

    let lease = pool.lease().await.unwrap();
    let tid = lease.transactional_id().to_owned();
    send(lease.producer(), &topic, "fenced".to_owned())
        .await
        .unwrap();
    lease.producer().flush().await.unwrap();

    // Someone else initialises the slot's transactional id.
    let outsider_config = producer_config(addr)
        .with_transactional_id(tid.clone())
        .unwrap();
    let outsider = TransactionalProducer::new(outsider_config).await.unwrap();
    outsider.init_transactions().await.unwrap();

    assert!(matches!(lease.commit().await, Err(PoolError::Commit(_))));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while pool.stats().idle < 2 {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", pool.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = pool.stats();
    assert_eq!((stats.replacements, stats.fenced), (1, 1), "{stats:?}");

    // Both slots serve again, the replaced one under the same transactional id.
    let a = pool.lease().await.unwrap();
    let b = pool.lease().await.unwrap();
    assert!(a.transactional_id() == tid || b.transactional_id() == tid);
    send(a.producer(), &topic, "after-a".to_owned())
        .await
        .unwrap();
    send(b.producer(), &topic, "after-b".to_owned())
        .await
        .unwrap();
    a.commit().await.unwrap();
    b.commit().await.unwrap();
    // The replacement fenced the outsider in turn: its transaction cannot commit.
    outsider.begin_transaction().await.unwrap();
    let sent = outsider
        .send(ProducerRecord::new(&topic, Bytes::from_static(b"outsider")))
        .await;
    let committed = match sent {
        Ok(_delivery) => outsider.commit_transaction().await,
        Err(error) => Err(error),
    };
    assert!(committed.is_err(), "the outsider was not fenced");
    let _closed = outsider.close().await;
    pool.close().await;

    assert_eq!(
        kcat_committed_values(addr, &topic),
        vec!["after-a", "after-b"]
    );
}

kafkatx_testkit::on_both_protocols!(a_slot_fenced_from_outside_is_replaced => fenced_from_outside);

async fn restart_fences_the_previous_incarnation(addr: &str) {
    let topic = unique_name("pool-restart");
    create_topic(addr, &topic, 1).await.unwrap();
    let prefix = unique_name("pool-restart");
    let old = start(addr, pool_config(1, &prefix, "host-a")).await;
    let zombie = old.lease().await.unwrap();
    send(zombie.producer(), &topic, "zombie".to_owned())
        .await
        .unwrap();
    zombie.producer().flush().await.unwrap();

    // Same prefix and instance id: the new process takes over (and aborts) the zombie's transaction.
    let restarted = start(addr, pool_config(1, &prefix, "host-a")).await;
    // A different instance id is a different process that fences nobody.
    let neighbour = start(addr, pool_config(1, &prefix, "host-b")).await;

    let closing = tokio::spawn({
        let old = old.clone();
        async move { old.close().await }
    });
    assert!(zombie.commit().await.is_err());
    closing.await.unwrap();

    for pool in [&restarted, &neighbour] {
        let lease = pool.lease().await.unwrap();
        let value = format!("from-{}", lease.transactional_id());
        send(lease.producer(), &topic, value).await.unwrap();
        lease.commit().await.unwrap();
        pool.close().await;
    }
    assert_eq!(
        kcat_committed_values(addr, &topic),
        vec![
            format!("from-{prefix}-host-a-0"),
            format!("from-{prefix}-host-b-0")
        ]
    );
}

kafkatx_testkit::on_both_protocols!(a_restart_fences_the_previous_incarnation => restart_fences_the_previous_incarnation);
