//! The 61-byte record batch v2 header: layout, attributes, CRC and in-place producer rewrite.
//!
//! Layout (big-endian): baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 |
//! magic i8 | crc u32 | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 |
//! maxTimestamp i64 | producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32.
//!
//! # CRC
//! The CRC-32C covers everything from the attributes to the end of the batch. The base
//! offset and partition leader epoch sit before it so a broker can assign them without
//! recomputing the checksum; the producer fields sit after it, so rewriting them (epoch
//! bump, sequence reassignment) requires a new CRC.

use bytes::Bytes;

use super::cursor::Cursor;
use super::{MalformedReason, ProducerInfo, RecordError, TimestampType};
use crate::compression::{Compression, CompressionError};

/// Size of the v2 batch header, up to and including the record count.
pub const BATCH_HEADER_LEN: usize = 61;
/// baseOffset + batchLength: the part of the header not counted in batchLength.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// The smallest legal batchLength (a header with no records).
pub(crate) const MIN_BATCH_LENGTH: usize = BATCH_HEADER_LEN - LOG_OVERHEAD;
pub(crate) const BATCH_LENGTH_OFFSET: usize = 8;
pub(crate) const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

/// Record batch v2.
pub const MAGIC_V2: i8 = 2;

const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
pub(crate) const TRANSACTIONAL_FLAG: i16 = 0x10;
pub(crate) const CONTROL_FLAG: i16 = 0x20;
const DELETE_HORIZON_FLAG: i16 = 0x40;

/// Producer id, epoch and sequence used by batches that are not idempotent.
pub(crate) const NO_PRODUCER_ID: i64 = -1;

/// The fixed-size header of a record batch, as stored on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (0 when produced; assigned by the leader).
    pub base_offset: i64,
    /// Bytes after this field: header remainder plus the (compressed) records.
    pub batch_length: i32,
    /// Leader epoch at append time (-1 when produced; not covered by the CRC).
    pub partition_leader_epoch: i32,
    /// Format version; always [`MAGIC_V2`] for a parsed header.
    pub magic: i8,
    /// CRC-32C of the bytes from the attributes to the end of the batch.
    pub crc: u32,
    /// Raw attribute bits; see the accessor methods.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset` (also the last sequence delta).
    pub last_offset_delta: i32,
    /// Timestamp of the first record (CreateTime) or of the append.
    pub base_timestamp: i64,
    /// Largest record timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, -1 if not idempotent.
    pub producer_id: i64,
    /// Producer epoch, -1 if not idempotent.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 if not idempotent.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the 61 header bytes at the cursor. Does not check magic or CRC.
    pub(crate) fn parse(cursor: &mut Cursor<'_>) -> Result<Self, MalformedReason> {
        Ok(Self {
            base_offset: cursor.i64()?,
            batch_length: cursor.i32()?,
            partition_leader_epoch: cursor.i32()?,
            magic: cursor.i8()?,
            crc: cursor.u32()?,
            attributes: cursor.i16()?,
            last_offset_delta: cursor.i32()?,
            base_timestamp: cursor.i64()?,
            max_timestamp: cursor.i64()?,
            producer_id: cursor.i64()?,
            producer_epoch: cursor.i16()?,
            base_sequence: cursor.i32()?,
            record_count: cursor.i32()?,
        })
    }

    /// Appends the 61 header bytes, CRC as stored in `self.crc`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&self.batch_length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.extend_from_slice(&self.magic.to_be_bytes());
        out.extend_from_slice(&self.crc.to_be_bytes());
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.record_count.to_be_bytes());
    }

    /// The codec of the records region.
    pub fn compression(&self) -> Result<Compression, CompressionError> {
        Compression::from_attributes(self.attributes)
    }

    /// Whether record timestamps are CreateTime or the broker's LogAppendTime.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_FLAG == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }

    /// The batch belongs to a transaction (data or marker).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// The batch holds control records (transaction markers), not user data.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Compaction stored a delete horizon in `base_timestamp`.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_FLAG != 0
    }

    /// Offset of the last record (for empty compacted batches, the last offset they covered).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset a consumer continues from after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
}

/// CRC-32C of a complete batch's checksummed region.
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default())
}

/// Recomputes and stores the CRC of a complete batch built in `batch`.
pub(crate) fn seal_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    if let Some(slot) = batch.get_mut(CRC_OFFSET..ATTRIBUTES_OFFSET) {
        slot.copy_from_slice(&crc.to_be_bytes());
    }
}

/// Returns a copy of `batch` with new producer id, epoch, base sequence and
/// transactional flag, and a recomputed CRC; the records region is left as is, so a
/// compressed batch is not recompressed.
///
/// This is the epoch-bump / sequence-rewrite step of an idempotent producer. The input
/// CRC is verified first so a corrupted batch is never re-sealed as valid.
pub fn rewrite_producer(batch: &[u8], producer: ProducerInfo) -> Result<Bytes, RecordError> {
    let owned = Bytes::copy_from_slice(batch);
    let mut cursor = Cursor::new(&owned);
    let header = BatchHeader::parse(&mut cursor).map_err(|reason| RecordError::Malformed {
        base_offset: 0,
        reason,
    })?;
    let base_offset = header.base_offset;
    if header.magic != MAGIC_V2 {
        return Err(RecordError::UnsupportedMagic {
            base_offset,
            magic: header.magic,
        });
    }
    let declared_len = usize::try_from(header.batch_length)
        .ok()
        .and_then(|length| length.checked_add(LOG_OVERHEAD));
    if declared_len != Some(batch.len()) {
        return Err(RecordError::InvalidBatchLength {
            base_offset,
            length: header.batch_length,
        });
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(RecordError::CrcMismatch {
            base_offset,
            stored: header.crc,
            computed,
        });
    }

    let rewritten = BatchHeader {
        producer_id: producer.producer_id,
        producer_epoch: producer.producer_epoch,
        base_sequence: producer.base_sequence,
        attributes: with_flag(
            header.attributes,
            TRANSACTIONAL_FLAG,
            producer.transactional,
        ),
        ..header
    };
    let mut out = Vec::with_capacity(batch.len());
    rewritten.write(&mut out);
    out.extend_from_slice(batch.get(BATCH_HEADER_LEN..).unwrap_or_default());
    seal_crc(&mut out);
    Ok(Bytes::from(out))
}

pub(crate) fn with_flag(attributes: i16, flag: i16, on: bool) -> i16 {
    if on {
        attributes | flag
    } else {
        attributes & !flag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> BatchHeader {
        BatchHeader {
            base_offset: 0x0102_0304_0506_0708,
            batch_length: 49,
            partition_leader_epoch: -1,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0x0013,
            last_offset_delta: -1,
            base_timestamp: 10,
            max_timestamp: 20,
            producer_id: 99,
            producer_epoch: 3,
            base_sequence: 42,
            record_count: 0,
        }
    }

    #[test]
    fn header_write_then_parse_round_trips() {
        let header = sample_header();
        let mut out = Vec::new();
        header.write(&mut out);
        assert_eq!(out.len(), BATCH_HEADER_LEN);
        assert_eq!(out.get(MAGIC_OFFSET), Some(&2));
        let bytes = Bytes::from(out);
        assert_eq!(BatchHeader::parse(&mut Cursor::new(&bytes)), Ok(header));
    }

    #[test]
    fn attribute_accessors_decode_each_bit() {
        let header = BatchHeader {
            attributes: 0x007c,
            ..sample_header()
        };
        assert_eq!(header.compression(), Ok(Compression::Zstd));
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert!(header.is_transactional());
        assert!(header.is_control());
        assert!(header.has_delete_horizon());

        let plain = BatchHeader {
            attributes: 0,
            ..sample_header()
        };
        assert_eq!(plain.timestamp_type(), TimestampType::CreateTime);
        assert!(!plain.is_transactional() && !plain.is_control() && !plain.has_delete_horizon());
    }

    #[test]
    fn empty_batch_next_offset_is_its_base_offset() {
        let header = BatchHeader {
            base_offset: 100,
            last_offset_delta: -1,
            ..sample_header()
        };
        assert_eq!(header.next_offset(), 100);
    }

    fn sealed_sample() -> Vec<u8> {
        let mut batch = Vec::new();
        sample_header().write(&mut batch);
        seal_crc(&mut batch);
        batch
    }

    #[test]
    fn rewrite_producer_changes_only_producer_fields_and_crc() {
        let original = sealed_sample();
        let producer = ProducerInfo {
            producer_id: 7,
            producer_epoch: 8,
            base_sequence: 9,
            transactional: false,
        };
        let rewritten = rewrite_producer(&original, producer).unwrap();
        let header = BatchHeader::parse(&mut Cursor::new(&rewritten)).unwrap();
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 8, 9)
        );
        assert_eq!(
            header.attributes, 0x0003,
            "transactional bit cleared, codec kept"
        );
        assert_eq!(header.crc, compute_crc(&rewritten));
        assert_eq!(header.base_timestamp, sample_header().base_timestamp);
    }

    #[test]
    fn rewrite_producer_refuses_corrupt_input() {
        let mut corrupt = sealed_sample();
        if let Some(byte) = corrupt.last_mut() {
            *byte ^= 0xff;
        }
        assert!(matches!(
            rewrite_producer(&corrupt, ProducerInfo::NONE),
            Err(RecordError::CrcMismatch { .. })
        ));
        let mut truncated = sealed_sample();
        truncated.pop();
        assert!(matches!(
            rewrite_producer(&truncated, ProducerInfo::NONE),
            Err(RecordError::Malformed { .. })
        ));
    }
}
