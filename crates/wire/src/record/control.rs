//! Control batches: the COMMIT / ABORT transaction markers a partition leader writes.
//!
//! A marker batch has the producer's id and epoch, base sequence -1, attributes
//! transactional | control, no compression and one record whose
//! - key is `ControlRecordType` v0: `version i16 = 0, type i16` (0 = ABORT, 1 = COMMIT,
//!   higher values are KRaft metadata types);
//! - value is `EndTxnMarker` v0: `version i16 = 0, coordinator_epoch i32`.

use bytes::Bytes;

use super::ProducerInfo;
use super::batch::{BatchHeader, CONTROL_FLAG, MAGIC_V2, TRANSACTIONAL_FLAG, seal_crc};
use super::varint::put_varint;

const CONTROL_KEY_VERSION: i16 = 0;
const END_TXN_MARKER_VERSION: i16 = 0;
const CONTROL_KEY_LEN: usize = 4;
const END_TXN_MARKER_LEN: usize = 6;
/// Body of the single marker record: attributes, timestamp delta, offset delta, key length,
/// key, value length, value, header count.
const MARKER_RECORD_BODY_LEN: usize = 1 + 1 + 1 + 1 + CONTROL_KEY_LEN + 1 + END_TXN_MARKER_LEN + 1;
/// The marker record's length prefix takes one byte.
const MARKER_BATCH_LEN: usize = super::BATCH_HEADER_LEN + 1 + MARKER_RECORD_BODY_LEN;

/// The type of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// The producer's transaction was aborted: its records before this marker are discarded.
    Abort,
    /// The producer's transaction was committed.
    Commit,
    /// Any other control type (KRaft leader change, snapshot markers, ...): ignored by
    /// consumers.
    Other(i16),
}

impl ControlType {
    /// Maps the wire type code.
    pub fn from_code(code: i16) -> Self {
        match code {
            0 => Self::Abort,
            1 => Self::Commit,
            other => Self::Other(other),
        }
    }

    /// The wire type code.
    pub fn code(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::Other(code) => code,
        }
    }
}

/// Reads a control record key. A version above 0 is read as version 0 (newer versions
/// may only append fields); a negative version or a key shorter than 4 bytes is `None`.
pub(crate) fn parse_control_key(key: &[u8]) -> Option<ControlType> {
    let (version, rest) = key.split_first_chunk::<2>()?;
    let (code, _) = rest.split_first_chunk::<2>()?;
    if i16::from_be_bytes(*version) < 0 {
        return None;
    }
    Some(ControlType::from_code(i16::from_be_bytes(*code)))
}

/// Writes a transaction marker batch as a partition leader does on WriteTxnMarkers, with
/// coordinator epoch 0. `producer.base_sequence` and `producer.transactional` are ignored:
/// markers always carry sequence -1 and the transactional flag.
pub fn build_control_batch(
    kind: ControlType,
    producer: ProducerInfo,
    base_offset: i64,
    timestamp_ms: i64,
) -> Bytes {
    build_control_batch_with_coordinator_epoch(kind, producer, base_offset, timestamp_ms, 0)
}

/// [`build_control_batch`] with an explicit coordinator epoch in the marker value.
pub fn build_control_batch_with_coordinator_epoch(
    kind: ControlType,
    producer: ProducerInfo,
    base_offset: i64,
    timestamp_ms: i64,
    coordinator_epoch: i32,
) -> Bytes {
    let header = BatchHeader {
        base_offset,
        // MARKER_BATCH_LEN is a small constant, so the cast cannot truncate.
        batch_length: (MARKER_BATCH_LEN - super::batch::LOG_OVERHEAD) as i32,
        partition_leader_epoch: -1,
        magic: MAGIC_V2,
        crc: 0,
        attributes: TRANSACTIONAL_FLAG | CONTROL_FLAG,
        last_offset_delta: 0,
        base_timestamp: timestamp_ms,
        max_timestamp: timestamp_ms,
        producer_id: producer.producer_id,
        producer_epoch: producer.producer_epoch,
        base_sequence: -1,
        record_count: 1,
    };
    let mut batch = Vec::with_capacity(MARKER_BATCH_LEN);
    header.write(&mut batch);
    put_varint(&mut batch, MARKER_RECORD_BODY_LEN as i32);
    batch.push(0); // attributes
    put_varint(&mut batch, 0); // timestamp delta (varlong 0 is the same byte)
    put_varint(&mut batch, 0); // offset delta
    put_varint(&mut batch, CONTROL_KEY_LEN as i32);
    batch.extend_from_slice(&CONTROL_KEY_VERSION.to_be_bytes());
    batch.extend_from_slice(&kind.code().to_be_bytes());
    put_varint(&mut batch, END_TXN_MARKER_LEN as i32);
    batch.extend_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
    batch.extend_from_slice(&coordinator_epoch.to_be_bytes());
    put_varint(&mut batch, 0); // no headers
    seal_crc(&mut batch);
    Bytes::from(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{TimestampType, decode_batches};

    const PRODUCER: ProducerInfo = ProducerInfo {
        producer_id: 1000,
        producer_epoch: 5,
        base_sequence: 17,
        transactional: false,
    };

    #[test]
    fn commit_marker_matches_the_reference_vector() {
        let batch =
            build_control_batch_with_coordinator_epoch(ControlType::Commit, PRODUCER, 0, 0, 7);
        assert_eq!(batch.len(), 78);
        let expect_at = |range: std::ops::Range<usize>, bytes: &[u8]| {
            assert_eq!(batch.get(range.clone()).unwrap(), bytes, "bytes {range:?}");
        };
        expect_at(8..12, &66i32.to_be_bytes()); // Length = 61 + 17 - 12
        expect_at(16..17, &[2]); // magic
        expect_at(21..23, &[0x00, 0x30]); // transactional | control
        expect_at(43..51, &1000i64.to_be_bytes());
        expect_at(51..53, &5i16.to_be_bytes());
        expect_at(53..57, &(-1i32).to_be_bytes()); // base sequence ignored
        expect_at(57..61, &1i32.to_be_bytes());
        expect_at(
            61..78,
            &[
                0x20, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x07, 0x00,
            ],
        );
    }

    #[test]
    fn markers_decode_with_their_type_and_offsets() {
        for kind in [
            ControlType::Abort,
            ControlType::Commit,
            ControlType::Other(3),
        ] {
            let bytes = build_control_batch(kind, PRODUCER, 500, 1_700_000_000_000);
            let batches = decode_batches(&bytes).unwrap();
            let [batch] = batches.as_slice() else {
                panic!("one batch expected")
            };
            assert_eq!(batch.control_type(), Some(kind));
            assert!(batch.is_control && batch.is_transactional);
            assert_eq!(batch.timestamp_type, TimestampType::CreateTime);
            assert_eq!((batch.base_offset, batch.next_offset()), (500, 501));
            assert_eq!(batch.records.first().unwrap().offset, 500);
        }
    }

    #[test]
    fn control_key_parsing_tolerates_newer_versions_but_not_garbage() {
        assert_eq!(parse_control_key(&[0, 0, 0, 0]), Some(ControlType::Abort));
        assert_eq!(
            parse_control_key(&[0, 1, 0, 1, 9, 9]),
            Some(ControlType::Commit)
        );
        assert_eq!(parse_control_key(&[0xff, 0xff, 0, 1]), None);
        assert_eq!(parse_control_key(&[0, 0, 0]), None);
    }

    #[test]
    fn data_batches_have_no_control_type() {
        let bytes = build_control_batch(ControlType::Commit, PRODUCER, 0, 0);
        let mut batch = decode_batches(&bytes).unwrap().remove(0);
        batch.is_control = false;
        assert_eq!(batch.control_type(), None);
    }
}
