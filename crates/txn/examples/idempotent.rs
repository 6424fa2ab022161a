//! An idempotent producer: no transactions, but each record is written exactly once per
//! partition even when a request is retried. `Producer::new` also gets the producer id.
//!
//! ```sh
//! cargo run -p kafkatx-txn --example idempotent -- 127.0.0.1:9092 TOPIC [RECORDS]
//! ```

use std::time::Duration;

use kafkatx_txn::{Action, Producer, ProducerConfig, ProducerRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let topic = args.next().unwrap_or_else(|| "kafkatx-example".to_owned());
    let records: u32 = args.next().map_or(Ok(10), |n| n.parse())?;

    let config = ProducerConfig::builder()
        .bootstrap_servers(&bootstrap)
        .set("compression.type", "lz4")?
        .set("delivery.timeout.ms", "30000")?
        .build()?;
    let producer = Producer::new(config).await?;

    let mut deliveries = Vec::new();
    for i in 0..records {
        let record = ProducerRecord::new(topic.as_str(), format!("record {i}"))
            .with_key(format!("key-{}", i % 4));
        loop {
            match producer.send(record.clone()).await {
                Ok(delivery) => {
                    deliveries.push((i, delivery));
                    break;
                }
                // `buffer.memory` stayed full: nothing was queued, try again a little later.
                Err(error) if error.action() == Action::RetryLater => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
    // Sends what linger.ms still holds back and waits for every answer.
    producer.flush().await?;
    for (i, delivery) in deliveries {
        match delivery.await {
            Ok(metadata) => println!(
                "record {i} at {} offset {}",
                metadata.partition, metadata.offset
            ),
            // Delivery failed for good (for example delivery.timeout.ms passed): sending it
            // again is up to the application.
            Err(error) => eprintln!("record {i} not delivered ({:?}): {error}", error.action()),
        }
    }
    producer.close().await?;
    Ok(())
}
