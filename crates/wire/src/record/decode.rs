//! Decoding a batch's records: [`RecordBatch`], [`DecodedRecord`], [`decode_batches`].

use bytes::Bytes;

use super::batch::{BATCH_HEADER_LEN, BatchHeader};
use super::control::{ControlType, parse_control_key};
use super::cursor::Cursor;
use super::{Header, MalformedReason, RecordError, TimestampType, raw_batches};
use crate::compression::{Compression, decompress};

/// Decompression bound used by [`decode_batches`] and [`RawBatch::decode`](super::RawBatch::decode):
/// far above any batch a default-configured broker accepts (`message.max.bytes` is 1 MiB
/// compressed), low enough that a decompression bomb cannot exhaust memory.
pub const DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES: usize = 64 << 20;

/// The smallest possible record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;
/// The smallest possible header: key length and value length.
const MIN_HEADER_LEN: usize = 2;

/// A decoded batch: header fields plus records with absolute offsets and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Leader epoch when the batch was appended.
    pub partition_leader_epoch: i32,
    /// Codec the records were stored with.
    pub compression: Compression,
    /// CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// Part of a transaction.
    pub is_transactional: bool,
    /// Holds control records (transaction markers).
    pub is_control: bool,
    /// `last offset - base_offset`; may exceed the record count after compaction.
    pub last_offset_delta: i32,
    /// Batch base timestamp.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Producer id, -1 if not idempotent.
    pub producer_id: i64,
    /// Producer epoch, -1 if not idempotent.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if not idempotent.
    pub base_sequence: i32,
    /// The records, in offset order.
    pub records: Vec<DecodedRecord>,
}

/// A record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Absolute offset in the partition.
    pub offset: i64,
    /// Absolute timestamp (the batch max timestamp under LogAppendTime).
    pub timestamp_ms: i64,
    /// Key; `None` is distinct from empty.
    pub key: Option<Bytes>,
    /// Value; `None` is distinct from empty.
    pub value: Option<Bytes>,
    /// Headers in wire order, duplicates kept.
    pub headers: Vec<Header>,
}

impl RecordBatch {
    /// For a control batch, the marker type from its first record's key; `None` for data
    /// batches and for control batches without a readable key (callers should treat
    /// those as "not an abort marker" and skip them, as Kafka consumers do).
    pub fn control_type(&self) -> Option<ControlType> {
        if !self.is_control {
            return None;
        }
        parse_control_key(self.records.first()?.key.as_deref()?)
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset a consumer continues from after this batch (also for skipped batches).
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
}

/// Decodes every complete batch in a records blob (e.g. a Fetch partition's `records`).
///
/// A truncated last batch ends decoding without error (brokers send them); corruption
/// (bad CRC, bad magic, bad lengths, malformed records, undecodable compression) is an
/// error. Key, value and header bytes of uncompressed batches share `records`' buffer.
pub fn decode_batches(records: &Bytes) -> Result<Vec<RecordBatch>, RecordError> {
    raw_batches(records)
        .map(|raw| raw.and_then(|batch| batch.decode()))
        .collect()
}

/// Decodes the records of a complete, CRC-checked batch.
pub(crate) fn decode_records(
    header: &BatchHeader,
    batch: &Bytes,
    max_decompressed: usize,
) -> Result<RecordBatch, RecordError> {
    let base_offset = header.base_offset;
    let malformed = |reason| RecordError::Malformed {
        base_offset,
        reason,
    };
    let compression = header
        .compression()
        .map_err(|source| RecordError::Compression {
            base_offset,
            source,
        })?;
    let stored = batch
        .get(BATCH_HEADER_LEN..)
        .map(|_| batch.slice(BATCH_HEADER_LEN..))
        .ok_or(malformed(MalformedReason::UnexpectedEnd))?;
    let region = match compression {
        Compression::None => stored,
        codec => decompress(codec, &stored, max_decompressed)
            .map(Bytes::from)
            .map_err(|source| RecordError::Compression {
                base_offset,
                source,
            })?,
    };
    let records = decode_record_region(header, &region).map_err(malformed)?;
    Ok(RecordBatch {
        base_offset,
        partition_leader_epoch: header.partition_leader_epoch,
        compression,
        timestamp_type: header.timestamp_type(),
        is_transactional: header.is_transactional(),
        is_control: header.is_control(),
        last_offset_delta: header.last_offset_delta,
        base_timestamp: header.base_timestamp,
        max_timestamp: header.max_timestamp,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        records,
    })
}

/// Reads exactly `record_count` records and requires the region to end there, like
/// Kafka's `DefaultRecordBatch` iterator.
fn decode_record_region(
    header: &BatchHeader,
    region: &Bytes,
) -> Result<Vec<DecodedRecord>, MalformedReason> {
    let count = usize::try_from(header.record_count)
        .map_err(|_| MalformedReason::NegativeRecordCount(header.record_count))?;
    let mut cursor = Cursor::new(region);
    // A hostile count must not reserve more than the bytes present could hold.
    let mut records = Vec::with_capacity(count.min(cursor.remaining() / MIN_RECORD_LEN));
    for _ in 0..count {
        records.push(decode_record(&mut cursor, header)?);
    }
    if !cursor.is_empty() {
        return Err(MalformedReason::TrailingBytes(cursor.remaining()));
    }
    Ok(records)
}

fn decode_record(
    cursor: &mut Cursor<'_>,
    header: &BatchHeader,
) -> Result<DecodedRecord, MalformedReason> {
    let declared = cursor.length()?;
    let mut body = cursor.split_off(declared)?;
    let _attributes = body.i8()?; // unused in v2
    let timestamp_delta = body.varlong()?;
    let offset_delta = body.varint()?;
    let key = body.nullable_bytes()?;
    let value = body.nullable_bytes()?;
    let header_count = body.length()?;
    let mut headers = Vec::with_capacity(header_count.min(body.remaining() / MIN_HEADER_LEN));
    for _ in 0..header_count {
        let key_len = body.length()?;
        let key = String::from_utf8(body.bytes(key_len)?.to_vec())
            .map_err(|_| MalformedReason::HeaderKeyNotUtf8)?;
        let value = body.nullable_bytes()?;
        headers.push(Header { key, value });
    }
    if !body.is_empty() {
        return Err(MalformedReason::RecordLengthMismatch {
            declared,
            used: declared - body.remaining(),
        });
    }

    let offset = header
        .base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or(MalformedReason::OffsetOverflow)?;
    let timestamp_ms = match header.timestamp_type() {
        TimestampType::CreateTime => header.base_timestamp.wrapping_add(timestamp_delta),
        TimestampType::LogAppendTime => header.max_timestamp,
    };
    Ok(DecodedRecord {
        offset,
        timestamp_ms,
        key,
        value,
        headers,
    })
}
