//! Record batch v2 (magic 2): building produce batches and decoding fetched ones.
//!
//! - [`BatchBuilder`] encodes records for one partition as they are appended and seals
//!   them into wire bytes with producer id/epoch/sequence, compression and CRC-32C.
//! - [`decode_batches`] turns a Fetch partition's `records` blob into [`RecordBatch`]es;
//!   [`raw_batches`] walks the same blob header-first, so read_committed filtering can
//!   skip aborted batches without decompressing them.
//! - [`build_control_batch`] writes COMMIT/ABORT markers the way a partition leader does
//!   (for fake brokers in tests).
//!
//! Header keys may repeat and keep their order; keys and values distinguish null from
//! empty. A truncated trailing batch (brokers cut responses at `max_bytes`) ends decoding
//! quietly; anything else malformed is a [`RecordError`].
//!
//! # References
//! - Kafka protocol guide, "Record Batch": <https://kafka.apache.org/documentation/#recordbatch>
//! - KIP-98 (transactions, control batches)

mod batch;
mod control;
mod cursor;
mod decode;
mod encode;
mod error;
mod raw;
mod varint;

use bytes::Bytes;

pub use batch::{BATCH_HEADER_LEN, BatchHeader, MAGIC_V2, rewrite_producer};
pub use control::{ControlType, build_control_batch, build_control_batch_with_coordinator_epoch};
pub use decode::{
    DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, DecodedRecord, RecordBatch, decode_batches,
};
pub use encode::BatchBuilder;
pub use error::{MalformedReason, RecordError};
pub use raw::{RawBatch, RawBatches, raw_batches};

/// A record header. Keys may repeat within a record; order is preserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// Header name (UTF-8 on the wire).
    pub key: String,
    /// Header value; `None` is distinct from an empty value.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// A record as a producer appends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Record key; `None` is distinct from an empty key.
    pub key: Option<Bytes>,
    /// Record value; `None` is a tombstone on compacted topics.
    pub value: Option<Bytes>,
    /// Headers in order, duplicates allowed.
    pub headers: Vec<Header>,
    /// CreateTime in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Producer identity stamped into a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerInfo {
    /// Producer id from InitProducerId, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the batch's first record, or -1.
    pub base_sequence: i32,
    /// Sets the transactional attribute bit (records belong to an open transaction).
    pub transactional: bool,
}

impl ProducerInfo {
    /// A plain (non-idempotent, non-transactional) producer.
    pub const NONE: Self = Self {
        producer_id: batch::NO_PRODUCER_ID,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
}

/// Meaning of record timestamps in a batch (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer; what [`BatchBuilder`] writes.
    #[default]
    CreateTime,
    /// Overwritten by the broker; every record carries the batch's max timestamp.
    LogAppendTime,
}
