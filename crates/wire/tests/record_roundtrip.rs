//! Property tests: every batch the builder writes decodes back to the same records,
//! for every codec, and any corruption of the checksummed bytes is caught.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use kafkatx_wire::compression::Compression;
use kafkatx_wire::record::{
    BatchBuilder, Header, ProducerInfo, Record, RecordError, TimestampType, decode_batches,
    raw_batches,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Snappy),
        Just(Compression::Lz4),
        Just(Compression::Zstd),
    ]
}

fn bytes(max_len: usize) -> impl Strategy<Value = Option<Bytes>> {
    option::of(vec(any::<u8>(), 0..max_len).prop_map(Bytes::from))
}

fn header() -> impl Strategy<Value = Header> {
    // A tiny key alphabet makes duplicate keys common.
    ("[ab]{0,2}|[a-zé]{0,12}", bytes(16)).prop_map(|(key, value)| Header { key, value })
}

fn record() -> impl Strategy<Value = Record> {
    (bytes(32), bytes(256), vec(header(), 0..4), any::<i64>()).prop_map(
        |(key, value, headers, timestamp_ms)| Record {
            key,
            value,
            headers,
            timestamp_ms,
        },
    )
}

fn producer() -> impl Strategy<Value = ProducerInfo> {
    (any::<i64>(), any::<i16>(), any::<i32>(), any::<bool>()).prop_map(
        |(producer_id, producer_epoch, base_sequence, transactional)| ProducerInfo {
            producer_id,
            producer_epoch,
            base_sequence,
            transactional,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        // Integration tests have no lib.rs beside them; keep regressions next to this file.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn built_batches_decode_to_the_pushed_records(
        compression in compression(),
        records in vec(record(), 0..20),
        producer in producer(),
    ) {
        let mut builder = BatchBuilder::new(compression);
        for record in &records {
            let estimate = builder.estimated_size_with(record);
            builder.push(record);
            prop_assert_eq!(builder.size_in_bytes(), estimate);
        }
        let wire = builder.build(producer).unwrap();
        if compression == Compression::None {
            prop_assert_eq!(wire.len(), builder.size_in_bytes());
        }

        let batches = decode_batches(&wire).unwrap();
        prop_assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        prop_assert_eq!(batch.compression, compression);
        prop_assert_eq!(batch.timestamp_type, TimestampType::CreateTime);
        prop_assert_eq!(batch.is_transactional, producer.transactional);
        prop_assert!(!batch.is_control);
        prop_assert_eq!(batch.producer_id, producer.producer_id);
        prop_assert_eq!(batch.producer_epoch, producer.producer_epoch);
        prop_assert_eq!(batch.base_sequence, producer.base_sequence);
        prop_assert_eq!(i64::from(batch.last_offset_delta), records.len() as i64 - 1);
        if let Some(max) = records.iter().map(|r| r.timestamp_ms).max() {
            prop_assert_eq!(batch.max_timestamp, max);
        }
        prop_assert_eq!(batch.records.len(), records.len());
        for (index, (decoded, original)) in batch.records.iter().zip(&records).enumerate() {
            prop_assert_eq!(decoded.offset, index as i64);
            prop_assert_eq!(decoded.timestamp_ms, original.timestamp_ms);
            prop_assert_eq!(&decoded.key, &original.key);
            prop_assert_eq!(&decoded.value, &original.value);
            prop_assert_eq!(&decoded.headers, &original.headers);
        }
    }

    #[test]
    fn any_single_byte_change_after_the_crc_is_detected(
        compression in compression(),
        records in vec(record(), 1..5),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut builder = BatchBuilder::new(compression);
        records.iter().for_each(|r| builder.push(r));
        let mut wire = builder.build(ProducerInfo::NONE).unwrap().to_vec();
        // Bytes 21.. are covered by the CRC-32C, which catches every single-byte error.
        let covered = wire.len() - 21;
        wire[21 + position.index(covered)] ^= flip;
        let is_crc_mismatch = matches!(
            decode_batches(&Bytes::from(wire)),
            Err(RecordError::CrcMismatch { .. })
        );
        prop_assert!(is_crc_mismatch);
    }

    #[test]
    fn random_tails_after_a_valid_batch_never_panic_and_agree_with_raw_batches(
        records in vec(record(), 0..3),
        tail in vec(any::<u8>(), 0..300),
    ) {
        let mut builder = BatchBuilder::new(Compression::None);
        records.iter().for_each(|r| builder.push(r));
        let valid = builder.build(ProducerInfo::NONE).unwrap();
        let blob = Bytes::from([valid.as_ref(), &tail].concat());

        let mut raw = raw_batches(&blob);
        let first = raw.next();
        prop_assert_eq!(first.map(|b| b.map(|b| b.bytes().clone())), Some(Ok(valid.clone())));
        let later_ok = raw.by_ref().filter(Result::is_ok).count();
        prop_assert!(raw.position() <= blob.len());
        if let Ok(batches) = decode_batches(&blob) {
            prop_assert_eq!(batches.len(), 1 + later_ok);
            prop_assert_eq!(batches[0].records.len(), records.len());
        }
    }
}
