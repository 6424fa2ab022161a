//! A transactional producer: a few transactions of three records each, every one ended with
//! `end_transaction`, which commits, resumes a commit that timed out, and aborts a
//! transaction that failed. What to do about an error is read from its `Action`.
//!
//! ```sh
//! cargo run -p kafkatx-txn --example transactional -- 127.0.0.1:9092 TOPIC [TRANSACTIONS]
//! ```

use kafkatx_txn::{Action, Ended, ProducerConfig, ProducerRecord, TransactionalProducer, TxnError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "kafkatx-example".to_owned());
    let transactions: u32 = args.next().map_or(Ok(3), |n| n.parse())?;

    let config = ProducerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .transactional_id("kafkatx-example-transactional")
        .set("linger.ms", "5")?
        .build()?;
    let producer = TransactionalProducer::new(config).await?;
    // Fences an older instance with the same transactional.id and aborts what it left open.
    producer.init_transactions().await?;

    for n in 0..transactions {
        producer.begin_transaction().await?;
        let mut deliveries = Vec::new();
        for i in 0..3 {
            let value = format!("transaction {n}, record {i}");
            let record = ProducerRecord::new(topic.as_str(), value).with_key(format!("key-{i}"));
            match producer.send(record).await {
                Ok(delivery) => deliveries.push(delivery),
                // Only this record was refused; the transaction can still commit the others.
                Err(error)
                    if matches!(
                        error.action(),
                        Action::RecordRefused | Action::UnknownTopic | Action::RetryLater
                    ) =>
                {
                    eprintln!("record {i} refused: {error}");
                }
                // The transaction failed: `end_transaction` below aborts it.
                Err(error) if error.requires_abort() => break,
                Err(error) => return Err(error.into()),
            }
        }
        match end(&producer).await? {
            Ended::Committed => {
                for delivery in deliveries {
                    let metadata = delivery.await?;
                    println!(
                        "committed at {} offset {}",
                        metadata.partition, metadata.offset
                    );
                }
            }
            Ended::Aborted { cause } => println!("transaction {n} aborted: {cause:?}"),
        }
    }
    producer.close().await?;
    Ok(())
}

/// Commits; a call that timed out is made again, which resumes the commit under way.
async fn end(producer: &TransactionalProducer) -> Result<Ended, TxnError> {
    let mut ended = producer.end_transaction(true).await;
    for _ in 0..5 {
        match &ended {
            Err(error) if error.action() == Action::Retry => {
                ended = producer.end_transaction(true).await;
            }
            _ => break,
        }
    }
    ended
}
