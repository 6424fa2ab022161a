//! The engine's producer, as adapted by the pool ([`KafkaProducer`]), sending the gateway's
//! records: [`RecordSink`] for it, and the mapping of an [`OutRecord`] to an engine record.
//!
//! Which errors leave a producer reusable is decided once, in the pool's adapter; this file
//! only decides what an error means for the HTTP client (through [`txn_failure`]).

use kafkatx_pool::KafkaProducer;
use kafkatx_txn::{ProducerRecord, RecordHeader, TxnError};

use crate::backend::{OutRecord, Placed};
use crate::pool_backend::{FailureKind, RecordSink, Stage};
use crate::txn_failure;

impl RecordSink for KafkaProducer {
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<Placed>, TxnError> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            deliveries.push(KafkaProducer::send(self, producer_record(record)).await?);
        }
        // Without a flush the last batch would wait for linger.ms before going out.
        self.flush().await?;
        let mut placed = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let metadata = delivery.await?;
            placed.push(Placed {
                topic: metadata.partition.topic,
                partition: metadata.partition.partition,
                offset: metadata.offset,
            });
        }
        Ok(placed)
    }

    fn failure_kind(error: &TxnError, stage: Stage) -> FailureKind {
        txn_failure::classify(error, stage)
    }
}

fn producer_record(record: OutRecord) -> ProducerRecord {
    ProducerRecord {
        topic: record.topic,
        partition: record.partition,
        key: record.key,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|(key, value)| RecordHeader {
                key,
                value: Some(value),
            })
            .collect(),
        // 0 lets the engine stamp the record when it is queued.
        timestamp_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_fields_and_headers_become_non_null() {
        let record = producer_record(OutRecord {
            topic: "t".to_owned(),
            partition: Some(2),
            key: Some("k".into()),
            value: None,
            headers: vec![("h".to_owned(), "v".into())],
        });
        assert_eq!(record.partition, Some(2));
        assert_eq!(record.value, None);
        assert_eq!(record.headers[0].value.as_deref(), Some(&b"v"[..]));
    }
}
