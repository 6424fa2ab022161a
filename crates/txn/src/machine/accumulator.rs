//! Records waiting to be sent, per partition, and the batches already sent.
//!
//! A partition's life: records go into the `open` draft; a draft is sealed when full, when
//! `linger.ms` passed, or on flush/commit; sealed drafts get their sequence at drain time and
//! become `sent` batches whose bytes never change again (a retry resends the same bytes).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::batch::{BatchDraft, BuildFailure, BuiltBatch};
use crate::config::Compression;
use crate::machine::sequence::SequenceState;
use crate::types::{ProducerIdentity, ProducerRecord, RecordToken, RequestId, TopicPartition};

/// A record whose partition is not known yet (topic metadata missing).
#[derive(Debug)]
pub(super) struct Unrouted {
    /// Token of the record.
    pub token: RecordToken,
    /// The record.
    pub record: ProducerRecord,
    /// When it was appended (for the delivery timeout).
    pub appended_at: Instant,
}

/// Where a sent batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SentStatus {
    /// A Produce request carrying it is in flight.
    InFlight(RequestId),
    /// It must be resent (same bytes) once `not_before` passed.
    AwaitingRetry {
        /// Earliest resend time.
        not_before: Instant,
    },
}

/// A batch with its sequence assigned and bytes built.
#[derive(Debug, Clone)]
pub(super) struct SentBatch {
    /// Tokens of its records, in order.
    pub tokens: Vec<RecordToken>,
    /// Encoded record batch (identity and sequence stamped).
    pub bytes: Bytes,
    /// First sequence.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
    /// When its first record was appended (delivery timeout).
    pub created_at: Instant,
    /// Current status.
    pub status: SentStatus,
    /// How many times it was sent.
    pub attempts: u32,
    /// The producer identity stamped in `bytes`.
    pub identity: ProducerIdentity,
    /// An attempt's answer was lost, so the batch may be in the log already.
    pub maybe_persisted: bool,
}

/// Everything about one partition's outgoing data.
#[derive(Debug, Default)]
pub(super) struct PartitionQueue {
    /// Draft accepting records.
    pub open: Option<BatchDraft>,
    /// Closed drafts waiting for a sequence.
    pub sealed: VecDeque<BatchDraft>,
    /// Batches sent at least once and not yet finished, in sequence order.
    pub sent: VecDeque<SentBatch>,
    /// Sequence bookkeeping.
    pub sequence: SequenceState,
    /// More than one request may be in flight: the current leader already acknowledged a
    /// batch of the current identity (franz-go's `okOnSink` gate in `sink.go`).
    pub pipeline_ok: bool,
    /// Leader the last request went to; a change closes the pipeline again.
    pub last_leader: Option<i32>,
    /// The broker rejected this partition's sequences: its waiting batches move to the next
    /// producer id from sequence 0. (Other partitions resend under their old identity,
    /// which the broker still deduplicates, so a batch that may have landed is never
    /// re-stamped into a duplicate.)
    pub needs_restamp: bool,
}

impl PartitionQueue {
    /// Nothing to send and nothing in flight.
    pub(super) fn is_idle(&self) -> bool {
        self.open.is_none() && self.sealed.is_empty() && self.sent.is_empty()
    }

    /// Number of requests in flight for this partition.
    pub(super) fn in_flight(&self) -> usize {
        self.sent
            .iter()
            .filter(|b| matches!(b.status, SentStatus::InFlight(_)))
            .count()
    }

    /// Move every sent batch (none may be in flight) to `identity`, with sequences from 0
    /// in their original order, so they can be resent under a new producer id. Batches that
    /// may already be in the log are removed instead (re-stamped they could be written
    /// twice); their tokens are returned so the caller reports the unknown outcome.
    pub(super) fn restamp(
        &mut self,
        identity: ProducerIdentity,
        transactional: bool,
    ) -> Result<Vec<Vec<RecordToken>>, String> {
        self.sequence.reset();
        self.pipeline_ok = false;
        self.needs_restamp = false;
        let (uncertain, kept): (Vec<SentBatch>, Vec<SentBatch>) =
            self.sent.drain(..).partition(|b| b.maybe_persisted);
        self.sent = kept.into();
        let sequence = &mut self.sequence;
        for batch in &mut self.sent {
            let base = sequence.assign(identity, batch.record_count);
            batch.bytes = crate::batch::restamp(&batch.bytes, identity, base, transactional)?;
            batch.base_sequence = base;
            batch.identity = identity;
        }
        Ok(uncertain.into_iter().map(|b| b.tokens).collect())
    }

    /// Some sent batch waits for a resend.
    pub(super) fn has_waiting_retry(&self) -> bool {
        self.sent
            .iter()
            .any(|b| matches!(b.status, SentStatus::AwaitingRetry { .. }))
    }

    /// The first batch waiting for a resend, once it is due and nothing else of this
    /// partition is in flight: (base sequence, bytes).
    pub(super) fn next_retry(&self, now: Instant) -> Option<(i32, Bytes)> {
        if self.in_flight() > 0 {
            return None;
        }
        let first = self
            .sent
            .iter()
            .find(|b| matches!(b.status, SentStatus::AwaitingRetry { .. }))?;
        match first.status {
            SentStatus::AwaitingRetry { not_before } if now >= not_before => {
                Some((first.base_sequence, first.bytes.clone()))
            }
            _ => None,
        }
    }

    /// Stamp the next sealed draft with `identity` and the next sequence and move it to
    /// `sent`, unless the pipeline is full or batches of an older identity are still out.
    pub(super) fn next_new_batch(
        &mut self,
        identity: ProducerIdentity,
        transactional: bool,
        max_in_flight: usize,
        now: Instant,
    ) -> Result<Option<(i32, Bytes)>, BuildFailure> {
        let stale = self.sequence.identity.is_some_and(|i| i != identity) && !self.sent.is_empty();
        let limit = if self.pipeline_ok { max_in_flight } else { 1 };
        if stale || self.in_flight() >= limit {
            return Ok(None);
        }
        let Some(draft) = self.sealed.pop_front() else {
            return Ok(None);
        };
        let base = self.sequence.assign(identity, draft.record_count());
        let BuiltBatch {
            bytes,
            tokens,
            created_at,
        } = draft.build(identity, base, transactional)?;
        let record_count = i32::try_from(tokens.len()).unwrap_or(i32::MAX);
        self.sent.push_back(SentBatch {
            tokens,
            bytes: bytes.clone(),
            base_sequence: base,
            record_count,
            created_at,
            // Becomes InFlight as soon as the caller puts it in a request.
            status: SentStatus::AwaitingRetry { not_before: now },
            attempts: 0,
            identity,
            maybe_persisted: false,
        });
        Ok(Some((base, bytes)))
    }

    /// Approximate encoded size of the batch this partition would send next.
    pub(super) fn next_batch_len(&self) -> Option<usize> {
        if let Some(retry) = self
            .sent
            .iter()
            .find(|b| matches!(b.status, SentStatus::AwaitingRetry { .. }))
        {
            return Some(retry.bytes.len());
        }
        self.sealed.front().map(BatchDraft::size_in_bytes)
    }

    /// Position of a sent batch by base sequence.
    pub(super) fn sent_index(&self, base_sequence: i32) -> Option<usize> {
        self.sent
            .iter()
            .position(|b| b.base_sequence == base_sequence)
    }
}

/// All partitions' queues.
#[derive(Debug)]
pub(super) struct Accumulator {
    /// Per-partition state.
    pub partitions: BTreeMap<TopicPartition, PartitionQueue>,
    /// Records waiting for their topic's metadata.
    pub unrouted: VecDeque<Unrouted>,
    batch_size: usize,
    linger: Duration,
    compression: Compression,
}

impl Accumulator {
    /// An empty accumulator.
    pub(super) fn new(batch_size: usize, linger: Duration, compression: Compression) -> Self {
        Self {
            partitions: BTreeMap::new(),
            unrouted: VecDeque::new(),
            batch_size,
            linger,
            compression,
        }
    }

    /// Add a record to its partition's open draft, sealing the draft first when the record
    /// would overflow `batch.size`. Returns the bytes it added by the estimate that decides
    /// when a batch is full, a new batch's header included (Java's `appendedBytes`), so the
    /// sticky partitioner moves on when about a batch's worth went to a partition.
    pub(super) fn append(
        &mut self,
        now: Instant,
        tp: TopicPartition,
        token: RecordToken,
        record: &ProducerRecord,
    ) -> usize {
        let queue = self.partitions.entry(tp).or_default();
        if let Some(open) = queue.open.take() {
            if open.fits(record, self.batch_size) {
                queue.open = Some(open);
            } else {
                queue.sealed.push_back(open);
            }
        }
        let size_before = queue.open.as_ref().map_or(0, BatchDraft::size_in_bytes);
        let draft = queue
            .open
            .get_or_insert_with(|| BatchDraft::new(self.compression, now));
        draft.push(token, record);
        let size_after = draft.size_in_bytes();
        if size_after >= self.batch_size {
            if let Some(full) = queue.open.take() {
                queue.sealed.push_back(full);
            }
        }
        size_after.saturating_sub(size_before)
    }

    /// The bytes `record` would add to `tp` if appended now: what [`append`](Self::append)
    /// would return.
    pub(super) fn bytes_if_appended(&self, tp: &TopicPartition, record: &ProducerRecord) -> usize {
        let open = self
            .partitions
            .get(tp)
            .and_then(|queue| queue.open.as_ref());
        match open {
            Some(draft) if draft.fits(record, self.batch_size) => draft
                .size_with(record)
                .saturating_sub(draft.size_in_bytes()),
            _ => BatchDraft::size_alone(record, self.compression),
        }
    }

    /// Seal drafts whose linger passed, or all of them when `flush`.
    pub(super) fn seal_ready(&mut self, now: Instant, flush: bool) {
        for queue in self.partitions.values_mut() {
            let ready = queue
                .open
                .as_ref()
                .is_some_and(|draft| flush || now >= draft.created_at() + self.linger);
            if ready {
                if let Some(draft) = queue.open.take() {
                    queue.sealed.push_back(draft);
                }
            }
        }
    }

    /// Earliest time an open draft's linger expires.
    pub(super) fn next_linger_deadline(&self) -> Option<Instant> {
        self.partitions
            .values()
            .filter_map(|q| q.open.as_ref().map(|d| d.created_at() + self.linger))
            .min()
    }

    /// Earliest creation time of any unsent data (for the delivery timeout).
    pub(super) fn oldest_unsent(&self) -> Option<Instant> {
        let drafts = self
            .partitions
            .values()
            .flat_map(|q| q.open.iter().chain(q.sealed.iter()))
            .map(BatchDraft::created_at);
        drafts
            .chain(self.unrouted.iter().map(|u| u.appended_at))
            .min()
    }

    /// Nothing buffered and nothing in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.unrouted.is_empty() && self.partitions.values().all(PartitionQueue::is_idle)
    }

    /// Some produce request is in flight or waiting for a retry.
    pub(super) fn has_sent(&self) -> bool {
        self.partitions.values().any(|q| !q.sent.is_empty())
    }

    /// Remove every record not yet sent, returning their tokens grouped per batch.
    pub(super) fn take_unsent(&mut self) -> Vec<Vec<RecordToken>> {
        let mut groups: Vec<Vec<RecordToken>> = Vec::new();
        for queue in self.partitions.values_mut() {
            groups.extend(queue.open.take().map(BatchDraft::into_tokens));
            groups.extend(queue.sealed.drain(..).map(BatchDraft::into_tokens));
        }
        if !self.unrouted.is_empty() {
            groups.push(self.unrouted.drain(..).map(|u| u.token).collect());
        }
        groups
    }

    /// Remove unsent drafts and unrouted records older than `deadline_age`.
    pub(super) fn take_expired(
        &mut self,
        now: Instant,
        max_age: Duration,
    ) -> Vec<Vec<RecordToken>> {
        let expired = |created: Instant| now.saturating_duration_since(created) >= max_age;
        let mut groups = Vec::new();
        for queue in self.partitions.values_mut() {
            if queue.open.as_ref().is_some_and(|d| expired(d.created_at())) {
                groups.extend(queue.open.take().map(BatchDraft::into_tokens));
            }
            while queue
                .sealed
                .front()
                .is_some_and(|d| expired(d.created_at()))
            {
                groups.extend(queue.sealed.pop_front().map(BatchDraft::into_tokens));
            }
        }
        let mut kept = VecDeque::new();
        let mut stale = Vec::new();
        for unrouted in self.unrouted.drain(..) {
            if expired(unrouted.appended_at) {
                stale.push(unrouted.token)
            } else {
                kept.push_back(unrouted)
            }
        }
        self.unrouted = kept;
        if !stale.is_empty() {
            groups.push(stale);
        }
        groups
    }

    /// A new producer id or epoch: sequences restart at 0. Partitions that still have
    /// batches of the old identity keep its state until those finish (new batches wait for
    /// them, then `SequenceState::assign` restarts at 0).
    pub(super) fn reset_sequences(&mut self) {
        for queue in self.partitions.values_mut() {
            if queue.sent.is_empty() {
                queue.sequence.reset();
            }
            queue.pipeline_ok = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH_SIZE: usize = 1024;
    const LINGER: Duration = Duration::from_millis(5);

    fn accumulator() -> Accumulator {
        Accumulator::new(BATCH_SIZE, LINGER, Compression::None)
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    fn record(bytes: usize) -> ProducerRecord {
        ProducerRecord::new("t", Bytes::from(vec![b'x'; bytes])).with_partition(0)
    }

    fn identity(epoch: i16) -> ProducerIdentity {
        ProducerIdentity {
            producer_id: 7,
            epoch,
        }
    }

    fn queue(acc: &mut Accumulator) -> &mut PartitionQueue {
        acc.partitions.entry(tp()).or_default()
    }

    #[test]
    fn a_draft_is_sealed_when_the_next_record_would_overflow_or_its_linger_passed() {
        let t0 = Instant::now();
        let mut acc = accumulator();
        acc.append(t0, tp(), RecordToken(1), &record(600));
        assert_eq!(acc.next_linger_deadline(), Some(t0 + LINGER));
        // A second 600-byte record does not fit in 1 KiB: the first draft is sealed.
        acc.append(t0, tp(), RecordToken(2), &record(600));
        assert_eq!(queue(&mut acc).sealed.len(), 1);
        acc.seal_ready(t0 + LINGER - Duration::from_millis(1), false);
        assert!(queue(&mut acc).open.is_some(), "linger not over yet");
        acc.seal_ready(t0 + LINGER, false);
        assert_eq!(queue(&mut acc).sealed.len(), 2);
        assert_eq!(acc.next_linger_deadline(), None);
        assert_eq!(acc.oldest_unsent(), Some(t0));
    }

    #[test]
    fn sealed_batches_get_consecutive_sequences_one_in_flight_until_the_pipeline_opens() {
        let t0 = Instant::now();
        let mut acc = accumulator();
        for token in 1..=3 {
            acc.append(t0, tp(), RecordToken(token), &record(10));
            acc.seal_ready(t0, true);
        }
        let first = queue(&mut acc)
            .next_new_batch(identity(0), true, 5, t0)
            .unwrap()
            .map(|(base, _)| base);
        assert_eq!(first, Some(0));
        queue(&mut acc).sent[0].status = SentStatus::InFlight(RequestId(1));
        // Until the leader acknowledged a batch of this identity, one request at a time.
        assert!(
            queue(&mut acc)
                .next_new_batch(identity(0), true, 5, t0)
                .unwrap()
                .is_none()
        );
        queue(&mut acc).pipeline_ok = true;
        let second = queue(&mut acc)
            .next_new_batch(identity(0), true, 5, t0)
            .unwrap();
        assert_eq!(second.map(|(base, _)| base), Some(1));
        // A new epoch waits until the old identity's batches are done.
        assert!(
            queue(&mut acc)
                .next_new_batch(identity(1), true, 5, t0)
                .unwrap()
                .is_none()
        );
        assert!(!acc.is_empty() && acc.has_sent());
    }

    #[test]
    fn expired_drafts_and_unrouted_records_are_taken_out_the_rest_stays() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        let mut acc = accumulator();
        acc.append(t0, tp(), RecordToken(1), &record(10));
        acc.seal_ready(t0, true);
        acc.append(later, tp(), RecordToken(2), &record(10));
        acc.unrouted.push_back(Unrouted {
            token: RecordToken(3),
            record: record(10),
            appended_at: t0,
        });
        let expired = acc.take_expired(later, Duration::from_secs(5));
        assert_eq!(expired, vec![vec![RecordToken(1)], vec![RecordToken(3)]]);
        assert_eq!(acc.take_unsent(), vec![vec![RecordToken(2)]]);
        assert!(acc.is_empty());
    }
}
