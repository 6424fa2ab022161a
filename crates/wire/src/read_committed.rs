//! The consumer side of transactions: which fetched records a `read_committed` reader sees.
//!
//! A read_committed Fetch returns data only up to the last stable offset, but that data still
//! holds the batches of aborted transactions, plus the list of aborted transactions that
//! start in the returned range. The reader drops them as Kafka's own consumer does: walking
//! batches in offset order, a producer id becomes "aborted" once a batch reaches the first
//! offset of one of its aborted transactions, its transactional batches are skipped while it
//! is, and its ABORT marker ends that. Control batches are never user data.

use std::collections::{BTreeSet, HashSet};

use crate::record::{ControlType, DecodedRecord, RecordBatch};

/// One entry of a Fetch answer's `aborted_transactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AbortedTxn {
    /// Offset of the aborted transaction's first batch: the producer's transactional batches
    /// are skipped from here until its ABORT marker.
    pub first_offset: i64,
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
}

/// The records a read_committed consumer sees in `batches` (one partition, in offset order).
///
/// `aborted` may come unsorted (Redpanda has sent it so); it is ordered here.
pub fn committed_records(
    batches: impl IntoIterator<Item = RecordBatch>,
    aborted: impl IntoIterator<Item = AbortedTxn>,
) -> Vec<DecodedRecord> {
    let mut upcoming: BTreeSet<AbortedTxn> = aborted.into_iter().collect();
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut out = Vec::new();
    for batch in batches {
        let last_offset = batch.base_offset + i64::from(batch.last_offset_delta);
        while let Some(first) = upcoming.first().copied() {
            if first.first_offset > last_offset {
                break;
            }
            upcoming.pop_first();
            aborting.insert(first.producer_id);
        }
        if batch.is_control {
            if batch.control_type() == Some(ControlType::Abort) {
                aborting.remove(&batch.producer_id);
            }
            continue;
        }
        if batch.is_transactional && aborting.contains(&batch.producer_id) {
            continue;
        }
        out.extend(batch.records);
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::compression::Compression;
    use crate::record::{BatchBuilder, ProducerInfo, Record, build_control_batch, decode_batches};

    fn producer(pid: i64, transactional: bool) -> ProducerInfo {
        ProducerInfo {
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            transactional,
        }
    }

    /// A data batch of `values` at `base` written by `pid`.
    fn data(pid: i64, transactional: bool, base: i64, values: &[&str]) -> RecordBatch {
        let mut builder = BatchBuilder::new(Compression::None);
        for v in values {
            builder.push(&Record {
                value: Some(Bytes::copy_from_slice(v.as_bytes())),
                ..Record::default()
            });
        }
        let bytes = builder.build(producer(pid, transactional)).unwrap();
        let mut batch = decode_batches(&bytes).unwrap().remove(0);
        batch.base_offset = base;
        for (i, r) in batch.records.iter_mut().enumerate() {
            r.offset = base + i as i64;
        }
        batch
    }

    fn marker(kind: ControlType, pid: i64, offset: i64) -> RecordBatch {
        let bytes = build_control_batch(kind, producer(pid, true), offset, 0);
        decode_batches(&bytes).unwrap().remove(0)
    }

    fn values(records: &[DecodedRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect()
    }

    #[test]
    fn aborted_transactions_and_markers_are_dropped_committed_ones_kept() {
        let batches = vec![
            data(1, true, 0, &["c1", "c2"]),
            data(2, true, 2, &["a1"]),
            data(9, false, 3, &["plain"]),
            marker(ControlType::Commit, 1, 4),
            data(2, true, 5, &["a2"]),
            marker(ControlType::Abort, 2, 6),
            // The same producer's next transaction is committed: the abort marker ended the
            // aborted range, so these must be visible.
            data(2, true, 7, &["c3"]),
            marker(ControlType::Commit, 2, 8),
        ];
        let aborted = [AbortedTxn {
            first_offset: 2,
            producer_id: 2,
        }];
        let seen = committed_records(batches, aborted);
        assert_eq!(values(&seen), ["c1", "c2", "plain", "c3"]);
    }

    #[test]
    fn unsorted_aborted_lists_are_sorted_first() {
        let batches = vec![
            data(1, true, 0, &["x"]),
            marker(ControlType::Abort, 1, 1),
            data(2, true, 2, &["y"]),
            marker(ControlType::Abort, 2, 3),
            data(3, true, 4, &["z"]),
            marker(ControlType::Commit, 3, 5),
        ];
        // Out of order, as Redpanda has been seen to send them.
        let aborted = [
            AbortedTxn {
                first_offset: 2,
                producer_id: 2,
            },
            AbortedTxn {
                first_offset: 0,
                producer_id: 1,
            },
        ];
        assert_eq!(values(&committed_records(batches, aborted)), ["z"]);
    }
}
