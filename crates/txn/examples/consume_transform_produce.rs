//! Consume, transform, produce, exactly once: each chunk of input records becomes
//! transformed output records plus the input position after them, committed in one
//! transaction with `send_offsets_to_transaction`. The position becomes the consumer
//! group's committed offset only if the transaction commits, so a restart resumes exactly
//! after the last committed chunk.
//!
//! This crate only produces; reading the input through `kafkatx-wire`'s read-to-end reader
//! stands in for a consumer here. A real application polls a consumer of the group and passes
//! its generation and member id (`ConsumerGroupMetadata::with_member`), so the group
//! coordinator fences a zombie member's transaction (KIP-447).
//!
//! ```sh
//! cargo run -p kafkatx-txn --example consume_transform_produce -- \
//!     127.0.0.1:9092 INPUT_TOPIC OUTPUT_TOPIC GROUP
//! ```

use std::collections::BTreeMap;

use kafkatx_txn::{
    Action, ConsumerGroupMetadata, Ended, OffsetAndMetadata, ProducerConfig, ProducerRecord,
    TopicPartition, TransactionalProducer, TxnError,
};
use kafkatx_wire::reader::{Isolation, read_topic};
use kafkatx_wire::record::DecodedRecord;

/// Input records per transaction.
const CHUNK: usize = 100;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let input = args.next().unwrap_or_else(|| "kafkatx-example".to_owned());
    let output = args
        .next()
        .unwrap_or_else(|| "kafkatx-example-upper".to_owned());
    let group = ConsumerGroupMetadata::new(args.next().unwrap_or_else(|| "uppercaser".to_owned()));

    let config = ProducerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .transactional_id(format!("{}-{input}", group.group_id))
        .build()?;
    let producer = TransactionalProducer::new(config).await?;
    producer.init_transactions().await?;

    let mut by_partition: BTreeMap<i32, Vec<DecodedRecord>> = BTreeMap::new();
    for consumed in read_topic(&bootstrap, &input, Isolation::ReadCommitted).await? {
        by_partition
            .entry(consumed.partition)
            .or_default()
            .push(consumed.record);
    }
    for (partition, records) in by_partition {
        let position = TopicPartition::new(input.as_str(), partition);
        for chunk in records.chunks(CHUNK) {
            // The cluster can abort a transaction (its coordinator timed it out, a batch was
            // refused for a stale epoch): nothing of it became visible, so it simply runs
            // again.
            for attempt in 1..=3 {
                match transform(&producer, &output, &position, chunk, &group).await? {
                    Ended::Committed => break,
                    Ended::Aborted { cause } => {
                        eprintln!("{position}: attempt {attempt} aborted: {cause:?}");
                        if cause.is_some_and(|c| c.action() == Action::AbortThenFixRecords) {
                            return Err("the output records were refused".into());
                        }
                    }
                }
            }
        }
    }
    producer.close().await?;
    Ok(())
}

/// One transaction: `chunk` uppercased into `output`, and the input position after it.
async fn transform(
    producer: &TransactionalProducer,
    output: &str,
    position: &TopicPartition,
    chunk: &[DecodedRecord],
    group: &ConsumerGroupMetadata,
) -> Result<Ended, TxnError> {
    producer.begin_transaction().await?;
    match fill(producer, output, position, chunk, group).await {
        // A failed transaction is aborted by `end_transaction`, which says so.
        Err(error) if !error.requires_abort() => return Err(error),
        _ => {}
    }
    let mut ended = producer.end_transaction(true).await;
    for _ in 0..5 {
        match &ended {
            // Timed out: calling again resumes the commit under way.
            Err(error) if error.action() == Action::Retry => {
                ended = producer.end_transaction(true).await;
            }
            _ => break,
        }
    }
    ended
}

async fn fill(
    producer: &TransactionalProducer,
    output: &str,
    position: &TopicPartition,
    chunk: &[DecodedRecord],
    group: &ConsumerGroupMetadata,
) -> Result<(), TxnError> {
    for record in chunk {
        let upper = record
            .value
            .as_deref()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let mut transformed = ProducerRecord::new(output, upper);
        transformed.key = record.key.clone();
        // The delivery is confirmed by the commit; its future is not needed.
        drop(producer.send(transformed).await?);
    }
    let Some(last) = chunk.last() else {
        return Ok(());
    };
    // The committed offset is the next one to consume.
    let next = OffsetAndMetadata::new(last.offset + 1);
    producer
        .send_offsets_to_transaction(vec![(position.clone(), next)], group.clone())
        .await
}
