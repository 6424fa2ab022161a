//! What the gateway's tests against real brokers share (each test binary that needs it declares
//! `mod common;`).

use std::time::Duration;

use kafkatx_server::backend::kafka::KafkaSettings;
use kafkatx_wire::compression::Compression;

/// The Kafka settings of a test gateway before a test changes what it is about (with
/// `KafkaSettings { .., ..gateway_settings(..) }`): one producer, one request per transaction,
/// no compression, topics never auto-created.
pub fn gateway_settings(bootstrap: &str, instance_id: &str) -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: vec![bootstrap.to_owned()],
        pool_size: 1,
        instance_id: instance_id.to_owned(),
        transactional_id_prefix: "kafkatx".to_owned(),
        compression: Compression::None,
        lease_timeout: Duration::from_secs(30),
        transaction_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(10),
        delivery_timeout: Duration::from_secs(20),
        producer_properties: Vec::new(),
        max_pending_transactions: 16,
        max_requests_per_transaction: 1,
        allow_auto_create_topics: false,
    }
}
