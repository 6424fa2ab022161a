//! [`BatchBuilder`]: encodes records as they are appended and seals them into a batch.

use bytes::Bytes;

use super::batch::{
    BATCH_HEADER_LEN, BATCH_LENGTH_OFFSET, BatchHeader, LOG_OVERHEAD, MAGIC_V2, TRANSACTIONAL_FLAG,
    seal_crc, with_flag,
};
use super::varint::{put_varint, put_varlong, varint_size, varlong_size};
use super::{ProducerInfo, Record};
use crate::compression::{Compression, CompressionError, compress};

/// Timestamp written for a batch with no records (Java's `RecordBatch.NO_TIMESTAMP`).
const NO_TIMESTAMP: i64 = -1;

/// Accumulates already-encoded records for one partition.
///
/// Each [`push`](Self::push) encodes the record immediately, so the uncompressed size is
/// always exact and [`build`](Self::build) only compresses and writes the header. `build`
/// takes `&self`: after an epoch bump the same records can be sealed again with new
/// producer fields (or see [`rewrite_producer`](super::rewrite_producer), which avoids
/// recompressing).
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    /// Length-prefixed record encodings, uncompressed.
    records: Vec<u8>,
    record_count: i32,
    /// Timestamp of the first record; later records store their delta to it.
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    /// Set when a record had a field longer than Kafka's i32 lengths allow; it was not
    /// encoded and `build` fails rather than emit a batch missing it.
    oversized_record: Option<usize>,
}

impl BatchBuilder {
    /// An empty builder for batches compressed with `compression`.
    pub fn new(compression: Compression) -> Self {
        Self {
            compression,
            records: Vec::new(),
            record_count: 0,
            base_timestamp: None,
            max_timestamp: None,
            oversized_record: None,
        }
    }

    /// The codec `build` will use.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Encodes `record` with offset delta = number of records pushed before it.
    pub fn push(&mut self, record: &Record) {
        let base_timestamp = *self.base_timestamp.get_or_insert(record.timestamp_ms);
        let layout = RecordLayout::new(record, self.record_count, base_timestamp);
        match layout.body_len {
            Some(body_len) => layout.write(record, body_len, &mut self.records),
            None => self.oversized_record = Some(layout.payload_len),
        }
        self.max_timestamp = Some(
            self.max_timestamp
                .map_or(record.timestamp_ms, |max| max.max(record.timestamp_ms)),
        );
        // An i32 count would need > 2^31 records of >= 7 bytes each: memory runs out first.
        self.record_count = self.record_count.saturating_add(1);
    }

    /// Records pushed so far.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// True if nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Uncompressed size of the batch, including the 61-byte header.
    pub fn size_in_bytes(&self) -> usize {
        BATCH_HEADER_LEN + self.records.len()
    }

    /// What [`size_in_bytes`](Self::size_in_bytes) would be after pushing `record`
    /// (exact; `usize::MAX` if the record cannot be encoded at all).
    pub fn estimated_size_with(&self, record: &Record) -> usize {
        let base_timestamp = self.base_timestamp.unwrap_or(record.timestamp_ms);
        let layout = RecordLayout::new(record, self.record_count, base_timestamp);
        layout
            .encoded_len()
            .map_or(usize::MAX, |len| self.size_in_bytes() + len)
    }

    /// Seals the records into the wire bytes of one batch: compresses them, writes the
    /// header with `producer`'s fields (base offset 0, leader epoch -1, CreateTime) and
    /// the CRC-32C.
    pub fn build(&self, producer: ProducerInfo) -> Result<Bytes, CompressionError> {
        if let Some(size) = self.oversized_record {
            return Err(CompressionError::BatchTooLarge { size });
        }
        let attributes = with_flag(
            self.compression.attribute_bits(),
            TRANSACTIONAL_FLAG,
            producer.transactional,
        );
        let header = BatchHeader {
            base_offset: 0,
            batch_length: 0, // patched once the compressed size is known
            partition_leader_epoch: -1,
            magic: MAGIC_V2,
            crc: 0, // sealed last
            attributes,
            last_offset_delta: self.record_count - 1,
            base_timestamp: self.base_timestamp.unwrap_or(NO_TIMESTAMP),
            max_timestamp: self.max_timestamp.unwrap_or(NO_TIMESTAMP),
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            base_sequence: producer.base_sequence,
            record_count: self.record_count,
        };
        let mut batch = Vec::with_capacity(self.size_in_bytes());
        header.write(&mut batch);
        compress(self.compression, &self.records, &mut batch)?;

        let batch_length = batch.len() - LOG_OVERHEAD;
        let batch_length = i32::try_from(batch_length)
            .map_err(|_| CompressionError::BatchTooLarge { size: batch.len() })?;
        if let Some(slot) = batch.get_mut(BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4) {
            slot.copy_from_slice(&batch_length.to_be_bytes());
        }
        seal_crc(&mut batch);
        Ok(Bytes::from(batch))
    }
}

/// Sizes of one record's fields, computed before anything is written.
struct RecordLayout {
    offset_delta: i32,
    timestamp_delta: i64,
    /// Length of the record body (everything after its length prefix), if every length
    /// fits Kafka's i32 fields.
    body_len: Option<i32>,
    /// Rough payload size, reported when the record is too large.
    payload_len: usize,
}

impl RecordLayout {
    fn new(record: &Record, offset_delta: i32, base_timestamp: i64) -> Self {
        // Wrapping keeps extreme timestamps exact: the decoder adds the delta back with
        // the same wrapping arithmetic, as Java's long math does.
        let timestamp_delta = record.timestamp_ms.wrapping_sub(base_timestamp);
        let payload_len = field_len(record.key.as_deref())
            + field_len(record.value.as_deref())
            + record
                .headers
                .iter()
                .map(|header| header.key.len() + field_len(header.value.as_deref()))
                .sum::<usize>();
        Self {
            offset_delta,
            timestamp_delta,
            body_len: body_len(record, offset_delta, timestamp_delta),
            payload_len,
        }
    }

    /// Length prefix plus body.
    fn encoded_len(&self) -> Option<usize> {
        let body_len = self.body_len?;
        Some(varint_size(body_len) + usize::try_from(body_len).ok()?)
    }

    fn write(&self, record: &Record, body_len: i32, out: &mut Vec<u8>) {
        put_varint(out, body_len);
        out.push(0); // record attributes: unused in v2
        put_varlong(out, self.timestamp_delta);
        put_varint(out, self.offset_delta);
        put_nullable(out, record.key.as_deref());
        put_nullable(out, record.value.as_deref());
        put_varint(out, checked_len(record.headers.len()).unwrap_or(i32::MAX));
        for header in &record.headers {
            put_varint(out, checked_len(header.key.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(header.key.as_bytes());
            put_nullable(out, header.value.as_deref());
        }
    }
}

fn field_len(field: Option<&[u8]>) -> usize {
    field.map_or(0, <[u8]>::len)
}

/// Every length below was validated by `body_len` before `write` runs, so the
/// `unwrap_or` fallbacks in `write` are never taken.
fn checked_len(len: usize) -> Option<i32> {
    i32::try_from(len).ok()
}

fn body_len(record: &Record, offset_delta: i32, timestamp_delta: i64) -> Option<i32> {
    let mut len = 1 // attributes
        + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + nullable_len(record.key.as_deref())?
        + nullable_len(record.value.as_deref())?
        + varint_size(checked_len(record.headers.len())?);
    for header in &record.headers {
        let key_len = checked_len(header.key.len())?;
        len += varint_size(key_len) + header.key.len() + nullable_len(header.value.as_deref())?;
    }
    checked_len(len)
}

fn nullable_len(field: Option<&[u8]>) -> Option<usize> {
    match field {
        None => Some(varint_size(-1)),
        Some(bytes) => Some(varint_size(checked_len(bytes.len())?) + bytes.len()),
    }
}

fn put_nullable(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(out, -1),
        Some(bytes) => {
            put_varint(out, checked_len(bytes.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Header, decode_batches};

    fn record(value: &'static [u8], timestamp_ms: i64) -> Record {
        Record {
            key: None,
            value: Some(Bytes::from_static(value)),
            headers: Vec::new(),
            timestamp_ms,
        }
    }

    #[test]
    fn single_record_encoding_matches_the_spec_byte_for_byte() {
        let mut builder = BatchBuilder::new(Compression::None);
        builder.push(&Record {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![Header::new("h", &b"x"[..])],
            timestamp_ms: 1000,
        });
        let batch = builder.build(ProducerInfo::NONE).unwrap();
        let record_bytes = batch.get(BATCH_HEADER_LEN..).unwrap();
        // len 12 (zigzag 0x18) | attrs 0 | tsDelta 0 | offDelta 0 | key len 1 (0x02) 'k'
        // | value len 1 'v' | 1 header (0x02) | key len 1 'h' | value len 1 'x'
        assert_eq!(
            record_bytes,
            [
                0x18, 0, 0, 0, 0x02, b'k', 0x02, b'v', 0x02, 0x02, b'h', 0x02, b'x'
            ]
        );
        assert_eq!(builder.size_in_bytes(), batch.len());
    }

    #[test]
    fn estimated_size_is_exact_for_uncompressed_batches() {
        let mut builder = BatchBuilder::new(Compression::None);
        assert_eq!(builder.size_in_bytes(), BATCH_HEADER_LEN);
        let records = [
            record(b"first", 5_000),
            record(b"", 4_000), // earlier timestamp: negative delta
            Record {
                key: Some(Bytes::from(vec![1u8; 300])),
                headers: vec![Header::new("a", &b"1"[..]), Header::new("a", &b"2"[..])],
                ..record(b"third", 9_000_000_000)
            },
        ];
        for record in &records {
            let estimate = builder.estimated_size_with(record);
            builder.push(record);
            assert_eq!(builder.size_in_bytes(), estimate);
        }
        assert_eq!(builder.record_count(), 3);
        assert_eq!(
            builder.build(ProducerInfo::NONE).unwrap().len(),
            builder.size_in_bytes()
        );
    }

    #[test]
    fn header_fields_follow_the_records_and_producer() {
        let mut builder = BatchBuilder::new(Compression::Lz4);
        builder.push(&record(b"a", 200));
        builder.push(&record(b"b", 500));
        builder.push(&record(b"c", 100));
        let producer = ProducerInfo {
            producer_id: 4242,
            producer_epoch: 7,
            base_sequence: 10,
            transactional: true,
        };
        let batches = decode_batches(&builder.build(producer).unwrap()).unwrap();
        let [batch] = batches.as_slice() else {
            panic!("expected one batch, got {batches:?}")
        };
        assert_eq!(batch.base_offset, 0);
        assert_eq!(batch.partition_leader_epoch, -1);
        assert_eq!(batch.compression, Compression::Lz4);
        assert_eq!(batch.last_offset_delta, 2);
        assert_eq!((batch.base_timestamp, batch.max_timestamp), (200, 500));
        assert_eq!(
            (batch.producer_id, batch.producer_epoch, batch.base_sequence),
            (4242, 7, 10)
        );
        assert!(batch.is_transactional && !batch.is_control);
        let timestamps: Vec<i64> = batch.records.iter().map(|r| r.timestamp_ms).collect();
        assert_eq!(timestamps, [200, 500, 100]);
    }

    #[test]
    fn empty_builder_builds_an_empty_batch() {
        let builder = BatchBuilder::new(Compression::None);
        assert!(builder.is_empty());
        let batches = decode_batches(&builder.build(ProducerInfo::NONE).unwrap()).unwrap();
        let [batch] = batches.as_slice() else {
            panic!("expected one batch")
        };
        assert!(batch.records.is_empty());
        assert_eq!(batch.last_offset_delta, -1);
        assert_eq!(batch.base_timestamp, NO_TIMESTAMP);
    }

    #[test]
    fn rebuilding_with_a_new_producer_keeps_the_records() {
        let mut builder = BatchBuilder::new(Compression::Gzip);
        builder.push(&record(b"payload", 1));
        let first = builder.build(ProducerInfo::NONE).unwrap();
        let bumped = ProducerInfo {
            producer_id: 1,
            producer_epoch: 2,
            base_sequence: 0,
            transactional: false,
        };
        let second = builder.build(bumped).unwrap();
        let decode = |bytes: &Bytes| decode_batches(bytes).unwrap().remove(0);
        assert_eq!(decode(&first).records, decode(&second).records);
        assert_eq!(decode(&second).producer_epoch, 2);
    }
}
