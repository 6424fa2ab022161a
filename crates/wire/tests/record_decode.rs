//! Decoding edge cases of record batch v2: truncation, corruption, hostile lengths,
//! null/empty fields and duplicate headers.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use kafkatx_wire::compression::{Compression, CompressionError};
use kafkatx_wire::record::{
    BATCH_HEADER_LEN, BatchBuilder, ControlType, Header, MalformedReason, ProducerInfo, Record,
    RecordError, TimestampType, build_control_batch, decode_batches, raw_batches, rewrite_producer,
};

const TXN_PRODUCER: ProducerInfo = ProducerInfo {
    producer_id: 77,
    producer_epoch: 1,
    base_sequence: 0,
    transactional: true,
};

fn record(value: &str, timestamp_ms: i64) -> Record {
    Record {
        key: Some(Bytes::copy_from_slice(value.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Vec::new(),
        timestamp_ms,
    }
}

fn batch_of(compression: Compression, values: &[&str]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(compression);
    for (index, value) in values.iter().enumerate() {
        builder.push(&record(value, 1_000 + index as i64));
    }
    builder.build(TXN_PRODUCER).unwrap().to_vec()
}

/// Sets the base offset the way a broker does on append (outside the CRC).
fn with_base_offset(mut batch: Vec<u8>, base_offset: i64) -> Vec<u8> {
    batch
        .get_mut(0..8)
        .unwrap()
        .copy_from_slice(&base_offset.to_be_bytes());
    batch
}

fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(batch.get(21..).unwrap());
    batch
        .get_mut(17..21)
        .unwrap()
        .copy_from_slice(&crc.to_be_bytes());
}

/// An uncompressed batch around a hand-written records region.
fn hand_built(record_count: i32, region: &[u8]) -> Vec<u8> {
    let mut batch = batch_of(Compression::None, &[]);
    batch.truncate(BATCH_HEADER_LEN);
    batch.extend_from_slice(region);
    let length = (batch.len() - 12) as i32;
    batch
        .get_mut(8..12)
        .unwrap()
        .copy_from_slice(&length.to_be_bytes());
    batch
        .get_mut(57..61)
        .unwrap()
        .copy_from_slice(&record_count.to_be_bytes());
    reseal(&mut batch);
    batch
}

fn malformed_reason(blob: Vec<u8>) -> MalformedReason {
    match decode_batches(&Bytes::from(blob)) {
        Err(RecordError::Malformed { reason, .. }) => reason,
        other => panic!("expected a malformed batch, got {other:?}"),
    }
}

#[test]
fn consecutive_batches_get_absolute_offsets() {
    let mut blob = with_base_offset(batch_of(Compression::Snappy, &["a", "b"]), 100);
    blob.extend(with_base_offset(batch_of(Compression::None, &["c"]), 102));
    let batches = decode_batches(&Bytes::from(blob)).unwrap();
    let offsets: Vec<(i64, &[u8])> = batches
        .iter()
        .flat_map(|batch| &batch.records)
        .map(|r| (r.offset, r.value.as_deref().unwrap()))
        .collect();
    assert_eq!(offsets, [(100, &b"a"[..]), (101, b"b"), (102, b"c")]);
    assert_eq!(batches.last().unwrap().next_offset(), 103);
}

#[test]
fn every_truncation_point_yields_only_the_complete_batches() {
    let first = batch_of(Compression::Gzip, &["one", "two"]);
    let second = batch_of(Compression::None, &["three"]);
    let blob: Vec<u8> = first.iter().chain(&second).copied().collect();
    for cut in 0..=blob.len() {
        let prefix = Bytes::copy_from_slice(blob.get(..cut).unwrap());
        let decoded = decode_batches(&prefix).unwrap();
        let expected = if cut == blob.len() {
            2
        } else if cut >= first.len() {
            1
        } else {
            0
        };
        assert_eq!(decoded.len(), expected, "cut at {cut}");
    }
}

#[test]
fn raw_batches_reports_where_the_truncated_tail_starts() {
    let first = batch_of(Compression::None, &["x"]);
    let mut blob = first.clone();
    blob.extend_from_slice(&batch_of(Compression::None, &["y"])[..30]);
    let blob = Bytes::from(blob);
    let mut batches = raw_batches(&blob);
    let raw = batches.next().unwrap().unwrap();
    assert_eq!(raw.header().producer_id, 77);
    assert!(raw.header().is_transactional());
    assert!(batches.next().is_none());
    assert_eq!(batches.position(), first.len());
}

#[test]
fn crc_mismatch_is_detected_but_leader_epoch_is_not_covered() {
    let batch = batch_of(Compression::None, &["payload"]);

    let mut epoch_changed = batch.clone();
    epoch_changed
        .get_mut(12..16)
        .unwrap()
        .copy_from_slice(&9i32.to_be_bytes());
    let decoded = decode_batches(&Bytes::from(epoch_changed)).unwrap();
    assert_eq!(decoded[0].partition_leader_epoch, 9);

    let mut flipped = batch;
    *flipped.last_mut().unwrap() ^= 0x01;
    assert!(matches!(
        decode_batches(&Bytes::from(flipped)),
        Err(RecordError::CrcMismatch { base_offset: 0, .. })
    ));
}

#[test]
fn legacy_magic_is_rejected_even_after_a_good_batch() {
    let mut legacy = batch_of(Compression::None, &["old"]);
    legacy[16] = 1;
    let mut blob = with_base_offset(batch_of(Compression::None, &["new"]), 5);
    blob.extend(with_base_offset(legacy, 6));
    assert_eq!(
        decode_batches(&Bytes::from(blob)),
        Err(RecordError::UnsupportedMagic {
            base_offset: 6,
            magic: 1
        })
    );
}

#[test]
fn batch_length_below_the_header_size_is_an_error() {
    let mut batch = batch_of(Compression::None, &["x"]);
    batch
        .get_mut(8..12)
        .unwrap()
        .copy_from_slice(&48i32.to_be_bytes());
    assert_eq!(
        decode_batches(&Bytes::from(batch)),
        Err(RecordError::InvalidBatchLength {
            base_offset: 0,
            length: 48
        })
    );
}

#[test]
fn unknown_codec_id_is_a_compression_error() {
    let mut batch = batch_of(Compression::None, &["x"]);
    batch[22] = 0x15; // transactional | codec 5
    reseal(&mut batch);
    assert!(matches!(
        decode_batches(&Bytes::from(batch)),
        Err(RecordError::Compression {
            source: CompressionError::UnknownCodecId { id: 5 },
            ..
        })
    ));
}

#[test]
fn hostile_record_counts_fail_without_allocating_for_them() {
    let one_record = batch_of(Compression::None, &["x"]);
    let region = &one_record[BATCH_HEADER_LEN..];
    assert_eq!(
        malformed_reason(hand_built(i32::MAX, region)),
        MalformedReason::UnexpectedEnd
    );
    assert_eq!(
        malformed_reason(hand_built(-1, region)),
        MalformedReason::NegativeRecordCount(-1)
    );
    assert_eq!(
        malformed_reason(hand_built(0, region)),
        MalformedReason::TrailingBytes(region.len())
    );
}

#[test]
fn malformed_record_fields_are_reported() {
    // length 6 | attrs | ts 0 | off 0 | key len -2 ...
    assert_eq!(
        malformed_reason(hand_built(1, &[0x0c, 0, 0, 0, 0x03, 0x01, 0x00])),
        MalformedReason::InvalidLength(-2)
    );
    // A record declaring 8 body bytes whose fields use 6 (null key, null value, 0 headers).
    assert_eq!(
        malformed_reason(hand_built(
            1,
            &[0x10, 0, 0, 0, 0x01, 0x01, 0x00, 0xaa, 0xbb]
        )),
        MalformedReason::RecordLengthMismatch {
            declared: 8,
            used: 6
        }
    );
    // One header whose 1-byte key is 0xff (not UTF-8).
    assert_eq!(
        malformed_reason(hand_built(
            1,
            &[0x12, 0, 0, 0, 0x01, 0x01, 0x02, 0x02, 0xff, 0x01]
        )),
        MalformedReason::HeaderKeyNotUtf8
    );
    // Header count of 1_000_000 in a 9-byte record.
    assert_eq!(
        malformed_reason(hand_built(
            1,
            &[0x12, 0, 0, 0, 0x01, 0x01, 0x80, 0x89, 0x7a, 0x00]
        )),
        MalformedReason::UnexpectedEnd
    );
}

#[test]
fn null_empty_and_duplicate_fields_survive_a_round_trip() {
    let records = [
        Record {
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp_ms: 1,
        },
        Record {
            key: Some(Bytes::new()),
            value: Some(Bytes::new()),
            headers: vec![
                Header::new("trace", &b"1"[..]),
                Header {
                    key: "trace".to_owned(),
                    value: None,
                },
                Header::new("", &b""[..]),
                Header::new("trace", &b"2"[..]),
            ],
            timestamp_ms: 2,
        },
    ];
    for compression in [Compression::None, Compression::Zstd] {
        let mut builder = BatchBuilder::new(compression);
        records.iter().for_each(|r| builder.push(r));
        let batch = decode_batches(&builder.build(ProducerInfo::NONE).unwrap())
            .unwrap()
            .remove(0);
        for (decoded, original) in batch.records.iter().zip(&records) {
            assert_eq!(decoded.key, original.key);
            assert_eq!(decoded.value, original.value);
            assert_eq!(decoded.headers, original.headers);
            assert_eq!(decoded.timestamp_ms, original.timestamp_ms);
        }
    }
}

#[test]
fn log_append_time_batches_report_the_max_timestamp() {
    let mut batch = batch_of(Compression::None, &["a", "b", "c"]);
    batch[22] |= 0x08;
    reseal(&mut batch);
    let decoded = decode_batches(&Bytes::from(batch)).unwrap().remove(0);
    assert_eq!(decoded.timestamp_type, TimestampType::LogAppendTime);
    assert!(decoded.records.iter().all(|r| r.timestamp_ms == 1_002));
}

#[test]
fn uncompressed_values_share_the_fetched_buffer() {
    let blob = Bytes::from(batch_of(Compression::None, &["zero-copy"]));
    let decoded = decode_batches(&blob).unwrap().remove(0);
    let value = decoded.records[0].value.as_ref().unwrap();
    let blob_range = blob.as_ptr() as usize..blob.as_ptr() as usize + blob.len();
    assert!(blob_range.contains(&(value.as_ptr() as usize)));
}

#[test]
fn rewritten_compressed_batch_decodes_with_the_new_producer() {
    let original = batch_of(Compression::Lz4, &["a", "b"]);
    let bumped = ProducerInfo {
        producer_id: 77,
        producer_epoch: 2,
        base_sequence: 40,
        transactional: true,
    };
    let decoded = decode_batches(&rewrite_producer(&original, bumped).unwrap())
        .unwrap()
        .remove(0);
    assert_eq!((decoded.producer_epoch, decoded.base_sequence), (2, 40));
    assert_eq!(decoded.records.len(), 2);
}

#[test]
fn data_and_markers_interleave_like_a_fetch_response() {
    let marker_producer = ProducerInfo {
        base_sequence: -1,
        ..TXN_PRODUCER
    };
    let mut blob = with_base_offset(batch_of(Compression::None, &["t1", "t2"]), 10);
    blob.extend_from_slice(&build_control_batch(
        ControlType::Abort,
        marker_producer,
        12,
        9,
    ));
    let batches = decode_batches(&Bytes::from(blob)).unwrap();
    let kinds: Vec<Option<ControlType>> = batches.iter().map(|b| b.control_type()).collect();
    assert_eq!(kinds, [None, Some(ControlType::Abort)]);
    assert_eq!(batches[1].producer_id, batches[0].producer_id);
    assert_eq!(batches[1].next_offset(), 13);
}
