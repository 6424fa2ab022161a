//! A bounded pool of transactional Kafka producers leased to concurrent callers.
//!
//! # The lease model
//!
//! [`Pool::new`] creates `size` producers with stable transactional ids
//! `{prefix}-{instance}-{slot}` and initialises them concurrently. [`Pool::lease`] hands one
//! producer, with a transaction begun, to exactly one caller; nobody else can reach it until the
//! [`Lease`] ends with [`Lease::commit`] or [`Lease::abort`], or is dropped (which aborts).
//! [`Pool::run`] wraps that around a closure.
//!
//! When a transaction ends the producer's [`Health`] decides its fate: `Ready` goes back to the
//! pool; `NeedsAbort` and `OutcomeUnknown` are aborted once and go back if that made them ready;
//! anything else is closed and its slot re-initialised in the background with the same
//! transactional id, so the pool never drains.
//!
//! ```
//! use kafkatx_pool::{Health, Pool, PoolConfig, ProducerFactory, TxnProducer};
//!
//! # #[derive(Debug)] struct Producer;
//! # impl TxnProducer for Producer {
//! #     type Error = std::io::Error;
//! #     async fn begin(&self) -> Result<(), Self::Error> { Ok(()) }
//! #     async fn commit(&self) -> Result<(), Self::Error> { Ok(()) }
//! #     async fn abort(&self) -> Result<(), Self::Error> { Ok(()) }
//! #     async fn close(&self) {}
//! #     fn health(&self) -> Health { Health::Ready }
//! # }
//! # struct Factory;
//! # impl ProducerFactory for Factory {
//! #     type Producer = Producer;
//! #     async fn create(&self, _id: &str) -> Result<Producer, std::io::Error> { Ok(Producer) }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PoolConfig { size: 4, instance_id: "web-1".into(), ..PoolConfig::default() };
//! let pool = Pool::new(config, Factory).await?;
//!
//! let lease = pool.lease().await?;          // a transaction is open on `lease`
//! assert_eq!(lease.transactional_id(), format!("kafkatx-web-1-{}", lease.slot()));
//! // ... send records through `lease.producer()` ...
//! lease.commit().await?;                    // or `abort()`, or drop it to abort
//!
//! pool.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! The pool is generic over [`ProducerFactory`] / [`TxnProducer`]; [`KafkaProducerFactory`] and
//! [`KafkaProducer`] adapt the real engine (`kafkatx_txn::TransactionalProducer`). Send records
//! with [`KafkaProducer::send`] so that a failed send counts when the lease ends.
//!
//! # Guarantees
//!
//! - A producer is held by at most one lease at a time.
//! - Waiting callers are served first-come first-served and cost no CPU while they wait;
//!   `lease.timeout.ms` bounds the wait and `max.waiters` bounds the queue.
//! - Dropping a `lease()` or `commit()` future never loses a producer.
//! - The producer idle the longest is leased first, so its previous transaction's markers have had
//!   the most time to be written (fewer CONCURRENT_TRANSACTIONS on the next one).
//! - A slot that fails fatally again and again soon after re-initialising (typically because another
//!   process uses the same instance id and fences it) backs off and logs an error each time.
//!
//! # Running several instances
//!
//! Give every running instance of a service its own `instance.id`, and keep it across restarts.
//! The default is the host name, which suits one instance per host or a Kubernetes StatefulSet.
//! A restarted instance then fences the producers of its previous incarnation and the broker aborts
//! their open transactions, while instances with different ids never fence each other. With
//! randomly named hosts (e.g. Deployment pods) a restart gets new ids: the old ids' open
//! transactions are only aborted when `transaction.timeout.ms` expires.

#![warn(missing_docs)]

mod backoff;
mod config;
mod error;
mod instance;
mod kafka;
mod lease;
mod member;
mod pool;
mod producer;
mod return_path;
mod shared;
mod slot;
mod stats;
#[cfg(feature = "test-util")]
pub mod testing;
mod waiter;

pub use backoff::Backoff;
pub use config::PoolConfig;
pub use error::{ConfigError, PoolError, RunError, StartError};
pub use instance::{default_instance_id, sanitize_instance_id};
pub use kafka::{KafkaProducer, KafkaProducerFactory, health_after};
pub use lease::Lease;
pub use pool::{CloseReport, Pool};
pub use producer::{Health, ProducerError, ProducerFactory, TxnProducer};
pub use stats::PoolStats;
