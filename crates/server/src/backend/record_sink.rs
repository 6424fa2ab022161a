//! The engine's producer, as adapted by the pool ([`KafkaProducer`]), sending the gateway's
//! records: [`RecordSink`] for it, and the mapping of an [`OutRecord`] to an engine record.
//!
//! Which errors leave a producer reusable is decided once, in the pool's adapter; this file
//! only decides what an error means for the HTTP client (through [`txn_failure`]).

use kafkatx_pool::KafkaProducer;
use kafkatx_txn::{Action, DeliveryFuture, ProducerRecord, RecordHeader, TxnError};

use crate::backend::transaction::{FailureKind, RecordSink, Stage};
use crate::backend::txn_failure;
use crate::backend::{OutRecord, Placed};

impl RecordSink for KafkaProducer {
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<Placed>, TxnError> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            match KafkaProducer::send(self, producer_record(record)).await {
                Ok(delivery) => deliveries.push(delivery),
                Err(error) => return Err(root_cause(deliveries, error).await),
            }
        }
        // Without a flush the last batch would wait for linger.ms before going out.
        if let Err(error) = self.flush().await {
            return Err(root_cause(deliveries, error).await);
        }
        let mut placed = Vec::with_capacity(deliveries.len());
        let mut failure: Option<TxnError> = None;
        for delivery in deliveries {
            match delivery.await {
                Ok(metadata) => placed.push(Placed {
                    topic: metadata.partition.topic,
                    partition: metadata.partition.partition,
                    offset: metadata.offset,
                }),
                Err(error) => failure = Some(more_telling(failure, error)),
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(placed),
        }
    }

    fn failure_kind(error: &TxnError, stage: Stage) -> FailureKind {
        txn_failure::classify(error, stage)
    }
}

/// A record the engine refused on its own (a partition or topic that does not exist, a record
/// too large) is the cause the client can act on; the transaction failing because of it is the
/// consequence every other record then reports.
fn is_refusal(error: &TxnError) -> bool {
    matches!(error.action(), Action::RecordRefused | Action::UnknownTopic)
}

/// The error to report of two: the first refusal, else the first error.
fn more_telling(current: Option<TxnError>, next: TxnError) -> TxnError {
    match current {
        Some(current) if is_refusal(&current) || !is_refusal(&next) => current,
        _ => next,
    }
}

/// `error` ended the request early; an earlier record refused after it was accepted may be
/// why (its delivery already failed, so it is read without waiting).
async fn root_cause(deliveries: Vec<DeliveryFuture>, error: TxnError) -> TxnError {
    let mut cause = None;
    for delivery in deliveries {
        if let Ok(Err(failed)) = tokio::time::timeout(std::time::Duration::ZERO, delivery).await {
            cause = Some(more_telling(cause, failed));
        }
    }
    match cause {
        Some(cause) if is_refusal(&cause) => cause,
        _ => error,
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
        // 0 lets the engine stamp the record when it is queued; the HTTP layer refuses a posted 0.
        timestamp_ms: record.timestamp_ms.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_record_is_reported_rather_than_the_abort_it_caused() {
        let refused = TxnError::InvalidPartition {
            topic: "t".into(),
            partition: 9,
            partitions: Some(3),
        };
        let consequence = TxnError::Abortable {
            code: -1,
            reason: "a record of the transaction was refused".into(),
        };
        assert_eq!(
            more_telling(Some(consequence.clone()), refused.clone()),
            refused
        );
        assert_eq!(
            more_telling(Some(refused.clone()), consequence.clone()),
            refused
        );
        assert_eq!(more_telling(None, consequence.clone()), consequence);
        assert_eq!(
            more_telling(Some(consequence.clone()), TxnError::TransactionAborted),
            consequence
        );
    }

    #[test]
    fn records_keep_their_fields_and_headers_become_non_null() {
        let record = producer_record(OutRecord {
            topic: "t".to_owned(),
            partition: Some(2),
            key: Some("k".into()),
            value: None,
            headers: vec![("h".to_owned(), "v".into())],
            timestamp_ms: None,
        });
        assert_eq!(record.partition, Some(2));
        assert_eq!(record.timestamp_ms, 0, "stamped by the engine");
        assert_eq!(record.value, None);
        assert_eq!(record.headers[0].value.as_deref(), Some(&b"v"[..]));
    }
}
