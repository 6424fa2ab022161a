//! What one marker partition says about idempotency keys, built by reading it in offset order:
//! sans I/O, so every case is unit-tested.
//!
//! The partition is read *uncommitted* and transactions are resolved by their markers here,
//! not by a read_committed fetch: a request's own claim is an open transaction, so the last
//! stable offset cannot pass it while the request runs, yet the results of transactions that
//! claimed earlier may lie after it. Every data batch is held under its producer id until that
//! producer's COMMIT (its results count) or ABORT (they never existed) marker.

use std::collections::HashMap;
use std::time::Duration;

use kafkatx_wire::record::{ControlType, RecordBatch};

use super::marker::{Marker, StoredResult};

/// A transaction of the partition whose marker has not been read yet.
#[derive(Debug)]
struct OpenTxn {
    first_offset: i64,
    results: Vec<(String, StoredResult)>,
}

/// The committed results of one marker partition, up to [`PartitionView::next_offset`].
#[derive(Debug)]
pub struct PartitionView {
    next: i64,
    open: HashMap<i64, OpenTxn>,
    results: HashMap<String, StoredResult>,
    retention: Duration,
}

impl PartitionView {
    /// A view that starts reading at `offset` (the log start) and forgets results older than
    /// `retention`, as the topic itself does.
    pub fn new(offset: i64, retention: Duration) -> Self {
        Self {
            next: offset,
            open: HashMap::new(),
            results: HashMap::new(),
            retention,
        }
    }

    /// The first offset not read yet.
    pub fn next_offset(&self) -> i64 {
        self.next
    }

    /// The log lost its beginning (retention) past where the view is: what was open there can
    /// no longer be resolved, and is dropped with it.
    pub fn skip_to(&mut self, log_start: i64) {
        if log_start > self.next {
            self.next = log_start;
            self.open.retain(|_, txn| txn.first_offset >= log_start);
        }
    }

    /// Reads fetched batches (in offset order; parts already read are skipped).
    pub fn apply(&mut self, batches: Vec<RecordBatch>) {
        for batch in batches {
            let last = batch.base_offset + i64::from(batch.last_offset_delta);
            if last < self.next {
                continue;
            }
            if batch.is_control {
                if batch.base_offset >= self.next {
                    self.end_transaction(batch.producer_id, batch.control_type());
                }
            } else if batch.is_transactional {
                let next = self.next;
                let txn = self.open.entry(batch.producer_id).or_insert(OpenTxn {
                    first_offset: batch.base_offset.max(next),
                    results: Vec::new(),
                });
                for record in batch.records.into_iter().filter(|r| r.offset >= next) {
                    let (Some(key), Some(value)) = (record.key, record.value) else {
                        continue;
                    };
                    let Ok(key) = String::from_utf8(key.to_vec()) else {
                        continue;
                    };
                    let stored = Marker::decode(&value)
                        .and_then(|m| StoredResult::from_marker(m, record.timestamp_ms));
                    if let Some(stored) = stored {
                        txn.results.push((key, stored));
                    }
                }
            }
            self.next = last + 1;
        }
    }

    fn end_transaction(&mut self, producer_id: i64, kind: Option<ControlType>) {
        let Some(txn) = self.open.remove(&producer_id) else {
            return;
        };
        if kind == Some(ControlType::Commit) {
            self.results.extend(txn.results);
        }
    }

    /// Whether every transaction that started before `offset` is resolved: read up to it, and
    /// none of them still waiting for its marker.
    pub fn settled_before(&self, offset: i64) -> bool {
        self.next >= offset && self.open.values().all(|txn| txn.first_offset >= offset)
    }

    /// The committed result for `key`, unless older than the retention at `now_ms`.
    pub fn result(&self, key: &str, now_ms: i64) -> Option<&StoredResult> {
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        self.results
            .get(key)
            .filter(|stored| now_ms.saturating_sub(stored.timestamp_ms) <= retention_ms)
    }

    /// Forgets results older than the retention (the topic deletes them too).
    pub fn expire(&mut self, now_ms: i64) {
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        self.results
            .retain(|_, stored| now_ms.saturating_sub(stored.timestamp_ms) <= retention_ms);
    }

    /// How many keys the view remembers.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.results.len()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use kafkatx_wire::compression::Compression;
    use kafkatx_wire::record::{
        DecodedRecord, ProducerInfo, TimestampType, build_control_batch, decode_batches,
    };

    use super::*;
    use crate::backend::{Committed, Placed};

    const DAY: Duration = Duration::from_secs(86_400);

    fn committed(offset: i64) -> Committed {
        Committed {
            transactional_id: "kafkatx-a-0".into(),
            placed: vec![Placed {
                topic: "t".into(),
                partition: 0,
                offset,
            }],
        }
    }

    fn data(producer_id: i64, base_offset: i64, markers: &[(&str, Marker)]) -> RecordBatch {
        RecordBatch {
            base_offset,
            partition_leader_epoch: 0,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            is_transactional: true,
            is_control: false,
            last_offset_delta: i32::try_from(markers.len()).unwrap() - 1,
            base_timestamp: 1_000,
            max_timestamp: 1_000,
            producer_id,
            producer_epoch: 0,
            base_sequence: 0,
            records: markers
                .iter()
                .zip(base_offset..)
                .map(|((key, marker), offset)| DecodedRecord {
                    offset,
                    timestamp_ms: 1_000,
                    key: Some(Bytes::from(key.to_string())),
                    value: Some(marker.encode()),
                    headers: Vec::new(),
                })
                .collect(),
        }
    }

    fn end(kind: ControlType, producer_id: i64, offset: i64) -> RecordBatch {
        let producer = ProducerInfo {
            producer_id,
            producer_epoch: 0,
            base_sequence: -1,
            transactional: true,
        };
        let bytes = build_control_batch(kind, producer, offset, 1_000);
        decode_batches(&bytes).unwrap().remove(0)
    }

    fn claim() -> Marker {
        Marker::Claim {
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn a_result_counts_once_its_transaction_commits_and_never_if_it_aborts() {
        let mut view = PartitionView::new(0, DAY);
        view.apply(vec![
            data(
                7,
                0,
                &[("k", claim()), ("k", Marker::result("f", &committed(5)))],
            ),
            data(
                8,
                2,
                &[("j", claim()), ("j", Marker::result("f", &committed(6)))],
            ),
        ]);
        assert!(view.result("k", 1_000).is_none(), "not committed yet");
        assert!(!view.settled_before(4));
        view.apply(vec![
            end(ControlType::Commit, 7, 4),
            end(ControlType::Abort, 8, 5),
        ]);
        assert!(view.settled_before(6));
        assert_eq!(view.result("k", 1_000).unwrap().committed, committed(5));
        assert!(view.result("j", 1_000).is_none(), "aborted");
        assert_eq!(view.next_offset(), 6);
    }

    #[test]
    fn an_earlier_claim_whose_result_lies_after_ours_is_still_found() {
        // 0: A claims; 1: B (us) claims; 2: A's result; 3: A commits.
        let mut view = PartitionView::new(0, DAY);
        view.apply(vec![
            data(1, 0, &[("k", claim())]),
            data(2, 1, &[("k", claim())]),
        ]);
        assert!(!view.settled_before(1), "A is still open");
        view.apply(vec![
            data(1, 2, &[("k", Marker::result("f", &committed(9)))]),
            end(ControlType::Commit, 1, 3),
        ]);
        assert!(view.settled_before(1), "only our own claim is open");
        assert_eq!(view.result("k", 1_000).unwrap().committed, committed(9));
    }

    #[test]
    fn batches_already_read_are_skipped_and_old_results_expire() {
        let mut view = PartitionView::new(0, Duration::from_secs(1));
        let batch = data(
            3,
            0,
            &[("k", claim()), ("k", Marker::result("f", &committed(1)))],
        );
        view.apply(vec![batch.clone(), end(ControlType::Commit, 3, 2)]);
        view.apply(vec![batch, end(ControlType::Commit, 3, 2)]);
        assert_eq!(view.len(), 1);
        assert!(view.result("k", 1_500).is_some());
        assert!(view.result("k", 5_000).is_none(), "past the retention");
        view.expire(5_000);
        assert_eq!(view.len(), 0);
    }

    #[test]
    fn a_log_start_past_the_view_drops_what_it_cannot_resolve() {
        let mut view = PartitionView::new(0, DAY);
        view.apply(vec![data(4, 0, &[("k", claim())])]);
        view.skip_to(10);
        assert_eq!(view.next_offset(), 10);
        assert!(view.settled_before(10));
    }

    #[test]
    fn records_that_are_not_markers_are_ignored() {
        let mut view = PartitionView::new(0, DAY);
        let mut batch = data(5, 0, &[("k", claim())]);
        batch.records[0].value = Some(Bytes::from_static(b"garbage"));
        view.apply(vec![batch, end(ControlType::Commit, 5, 1)]);
        assert_eq!(view.len(), 0);
        assert_eq!(view.next_offset(), 2);
    }
}
