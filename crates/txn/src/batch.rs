//! The one place that turns our records into `kafkatx-wire` record batches.

use std::time::Instant;

use bytes::Bytes;
use kafkatx_wire::compression::Compression;
use kafkatx_wire::record::{BatchBuilder, Header, ProducerInfo, Record, rewrite_producer};

use crate::types::{ProducerIdentity, ProducerRecord, RecordToken};

/// An encoded batch and the records it carries.
#[derive(Debug)]
pub(crate) struct BuiltBatch {
    /// The record batch bytes.
    pub bytes: Bytes,
    /// Tokens of its records, in order.
    pub tokens: Vec<RecordToken>,
    /// When its first record was appended.
    pub created_at: Instant,
}

/// Encoding failed; the records must be failed.
#[derive(Debug)]
pub(crate) struct BuildFailure {
    /// Why.
    pub reason: String,
    /// Tokens of the records that cannot be sent.
    pub tokens: Vec<RecordToken>,
}

/// Records of one partition being collected into a batch (no sequence yet).
#[derive(Debug)]
pub(crate) struct BatchDraft {
    builder: BatchBuilder,
    tokens: Vec<RecordToken>,
    created_at: Instant,
}

fn wire_record(record: &ProducerRecord) -> Record {
    Record {
        timestamp_ms: record.timestamp_ms,
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record
            .headers
            .iter()
            .map(|h| Header {
                key: h.key.clone(),
                value: h.value.clone(),
            })
            .collect(),
    }
}

impl BatchDraft {
    /// An empty draft.
    pub(crate) fn new(codec: Compression, created_at: Instant) -> Self {
        Self {
            builder: BatchBuilder::new(codec),
            tokens: Vec::new(),
            created_at,
        }
    }

    /// Whether `record` still fits under `batch_size` (an empty draft takes anything, so
    /// a record larger than the batch size goes out alone).
    pub(crate) fn fits(&self, record: &ProducerRecord, batch_size: usize) -> bool {
        self.tokens.is_empty() || self.size_with(record) <= batch_size
    }

    /// Estimated encoded size once `record` is added (what `fits` compares with the batch
    /// size; `usize::MAX` if the record cannot be encoded).
    pub(crate) fn size_with(&self, record: &ProducerRecord) -> usize {
        self.builder.estimated_size_with(&wire_record(record))
    }

    /// Estimated encoded size of a new batch holding only `record`, header included.
    pub(crate) fn size_alone(record: &ProducerRecord, codec: Compression) -> usize {
        BatchBuilder::new(codec).estimated_size_with(&wire_record(record))
    }

    /// Add a record.
    pub(crate) fn push(&mut self, token: RecordToken, record: &ProducerRecord) {
        self.builder.push(&wire_record(record));
        self.tokens.push(token);
    }

    /// Estimated encoded size.
    pub(crate) fn size_in_bytes(&self) -> usize {
        self.builder.size_in_bytes()
    }

    /// When the first record arrived.
    pub(crate) fn created_at(&self) -> Instant {
        self.created_at
    }

    /// Number of records.
    pub(crate) fn record_count(&self) -> i32 {
        i32::try_from(self.tokens.len()).unwrap_or(i32::MAX)
    }

    /// The tokens, giving up the draft.
    pub(crate) fn into_tokens(self) -> Vec<RecordToken> {
        self.tokens
    }

    /// Encode with identity and base sequence stamped.
    pub(crate) fn build(
        self,
        identity: ProducerIdentity,
        base_sequence: i32,
        transactional: bool,
    ) -> Result<BuiltBatch, BuildFailure> {
        match self
            .builder
            .build(producer_info(identity, base_sequence, transactional))
        {
            Ok(bytes) => Ok(BuiltBatch {
                bytes,
                tokens: self.tokens,
                created_at: self.created_at,
            }),
            Err(error) => Err(BuildFailure {
                reason: error.to_string(),
                tokens: self.tokens,
            }),
        }
    }
}

/// The same encoded batch under a new producer identity and base sequence (CRC recomputed,
/// records untouched): how waiting batches move to a new producer id.
pub(crate) fn restamp(
    bytes: &Bytes,
    identity: ProducerIdentity,
    base_sequence: i32,
    transactional: bool,
) -> Result<Bytes, String> {
    rewrite_producer(bytes, producer_info(identity, base_sequence, transactional))
        .map_err(|error| error.to_string())
}

/// The producer fields a batch is stamped with.
fn producer_info(
    identity: ProducerIdentity,
    base_sequence: i32,
    transactional: bool,
) -> ProducerInfo {
    ProducerInfo {
        producer_id: identity.producer_id,
        producer_epoch: identity.epoch,
        base_sequence,
        transactional,
    }
}
