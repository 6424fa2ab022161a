//! [`RecordError`] and [`MalformedReason`].

use crate::compression::CompressionError;

/// Why a records blob could not be decoded.
///
/// Every variant names the batch by its base offset so a consumer can log where its
/// partition went bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The batch length field is below the size of a v2 batch header.
    #[error(
        "batch at offset {base_offset} declares length {length}, shorter than a v2 batch header"
    )]
    InvalidBatchLength {
        /// Base offset of the batch.
        base_offset: i64,
        /// The declared length (bytes after the length field).
        length: i32,
    },
    /// The batch is not record batch v2 (magic 0 and 1 are legacy message sets).
    #[error("batch at offset {base_offset} has magic {magic}; only record batch v2 is supported")]
    UnsupportedMagic {
        /// Base offset of the batch.
        base_offset: i64,
        /// The magic byte found.
        magic: i8,
    },
    /// The CRC-32C stored in the header does not match the batch contents.
    #[error(
        "CRC-32C mismatch in batch at offset {base_offset}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    CrcMismatch {
        /// Base offset of the batch.
        base_offset: i64,
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes received.
        computed: u32,
    },
    /// The records region could not be decompressed (or names an unknown codec).
    #[error("batch at offset {base_offset}: {source}")]
    Compression {
        /// Base offset of the batch.
        base_offset: i64,
        /// The codec failure.
        #[source]
        source: CompressionError,
    },
    /// The header or a record inside the batch is malformed.
    #[error("malformed batch at offset {base_offset}: {reason}")]
    Malformed {
        /// Base offset of the batch.
        base_offset: i64,
        /// What was wrong.
        reason: MalformedReason,
    },
}

/// The specific defect behind [`RecordError::Malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedReason {
    /// A field runs past the end of its enclosing record or batch.
    #[error("unexpected end of data")]
    UnexpectedEnd,
    /// A varint is longer than 5 bytes (10 for a varlong) or overflows its type.
    #[error("varint too long or out of range")]
    VarintTooLong,
    /// A length that may only be -1 (null) or non-negative is below -1, or a
    /// non-nullable length (record, header key, header count) is negative.
    #[error("invalid length {0}")]
    InvalidLength(i32),
    /// The header says the batch holds a negative number of records.
    #[error("negative record count {0}")]
    NegativeRecordCount(i32),
    /// A record's fields do not add up to its declared length.
    #[error("record length {declared} but its fields use {used} bytes")]
    RecordLengthMismatch {
        /// Length prefix of the record.
        declared: usize,
        /// Bytes its fields actually occupy.
        used: usize,
    },
    /// Bytes remain in the records region after the declared number of records.
    #[error("{0} bytes left after the last record")]
    TrailingBytes(usize),
    /// A header key is not valid UTF-8.
    #[error("header key is not valid UTF-8")]
    HeaderKeyNotUtf8,
    /// `base_offset + offset_delta` overflows i64.
    #[error("record offset overflows i64")]
    OffsetOverflow,
}
