//! Splitting a records blob into complete batches, reading only their headers.

use std::iter::FusedIterator;

use bytes::Bytes;

use super::RecordError;
use super::batch::{
    BATCH_LENGTH_OFFSET, BatchHeader, LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V2, MIN_BATCH_LENGTH,
    compute_crc,
};
use super::cursor::Cursor;
use super::decode::{DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, RecordBatch, decode_records};

/// One complete batch, split from a records blob but not yet checked or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBatch {
    header: BatchHeader,
    bytes: Bytes,
}

impl RawBatch {
    /// The batch header, enough for read_committed bookkeeping (producer id, offsets,
    /// transactional and control flags).
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's wire bytes, from the base offset to its last byte.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Checks the CRC-32C stored in the header against the batch contents.
    pub fn verify_crc(&self) -> Result<(), RecordError> {
        let computed = compute_crc(&self.bytes);
        if computed == self.header.crc {
            Ok(())
        } else {
            Err(RecordError::CrcMismatch {
                base_offset: self.header.base_offset,
                stored: self.header.crc,
                computed,
            })
        }
    }

    /// Verifies the CRC and decodes every record, decompressing at most
    /// [`DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES`].
    pub fn decode(&self) -> Result<RecordBatch, RecordError> {
        self.decode_with_limit(DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES)
    }

    /// Like [`decode`](Self::decode) with an explicit bound on the decompressed size.
    pub fn decode_with_limit(&self, max_decompressed: usize) -> Result<RecordBatch, RecordError> {
        self.verify_crc()?;
        decode_records(&self.header, &self.bytes, max_decompressed)
    }
}

/// Iterator over the complete batches of a records blob; see [`raw_batches`].
#[derive(Debug, Clone)]
pub struct RawBatches<'a> {
    records: &'a Bytes,
    position: usize,
    failed: bool,
}

/// Splits a records blob (e.g. a Fetch partition's `records`) into batches.
///
/// Yields each complete batch; a truncated last batch ends the iteration without an
/// error, because brokers cut responses at the fetch size mid-batch. A length below the
/// header size or a magic other than 2 yields one error and ends the iteration. Magic and
/// length are checked here; CRC and records only by [`RawBatch::decode`].
pub fn raw_batches(records: &Bytes) -> RawBatches<'_> {
    RawBatches {
        records,
        position: 0,
        failed: false,
    }
}

impl RawBatches<'_> {
    /// Bytes covered by the batches yielded so far; after the iteration ends cleanly,
    /// anything beyond is a truncated batch.
    pub fn position(&self) -> usize {
        self.position
    }

    fn next_batch(&self) -> Result<Option<RawBatch>, RecordError> {
        let rest = self.records.get(self.position..).unwrap_or_default();
        let Some(batch_len) = complete_batch_len(rest)? else {
            return Ok(None);
        };
        let end = self.position + batch_len;
        let bytes = self.records.slice(self.position..end);
        let header = BatchHeader::parse(&mut Cursor::new(&bytes)).map_err(|reason| {
            RecordError::Malformed {
                base_offset: read_base_offset(rest),
                reason,
            }
        })?;
        Ok(Some(RawBatch { header, bytes }))
    }
}

impl Iterator for RawBatches<'_> {
    type Item = Result<RawBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => {
                self.position += batch.bytes.len();
                Some(Ok(batch))
            }
            Ok(None) => None,
            Err(err) => {
                self.failed = true;
                Some(Err(err))
            }
        }
    }
}

impl FusedIterator for RawBatches<'_> {}

/// The length of the batch at the front of `rest`, or `None` if it is not all there.
///
/// Checks in the order Kafka's `ByteBufferLogInputStream` does, except that magic is
/// checked as soon as it is present so a legacy message set is reported as such.
fn complete_batch_len(rest: &[u8]) -> Result<Option<usize>, RecordError> {
    let Some(length) = rest
        .get(BATCH_LENGTH_OFFSET..LOG_OVERHEAD)
        .and_then(|field| <[u8; 4]>::try_from(field).ok())
        .map(i32::from_be_bytes)
    else {
        return Ok(None);
    };
    let base_offset = read_base_offset(rest);
    if let Some(&magic) = rest.get(MAGIC_OFFSET) {
        let magic = i8::from_be_bytes([magic]);
        if magic != MAGIC_V2 {
            return Err(RecordError::UnsupportedMagic { base_offset, magic });
        }
    }
    let batch_len = usize::try_from(length)
        .ok()
        .filter(|&length| length >= MIN_BATCH_LENGTH)
        .map(|length| length + LOG_OVERHEAD)
        .ok_or(RecordError::InvalidBatchLength {
            base_offset,
            length,
        })?;
    Ok((rest.len() >= batch_len).then_some(batch_len))
}

fn read_base_offset(rest: &[u8]) -> i64 {
    rest.first_chunk::<8>()
        .map_or(-1, |bytes| i64::from_be_bytes(*bytes))
}
