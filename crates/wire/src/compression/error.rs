//! [`CompressionError`].

use std::fmt::Display;

use super::Compression;

/// Why a compression, decompression or codec lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// Batch attributes name a codec id Kafka does not define (5-7).
    #[error("compression codec id {id} in batch attributes is not one of 0..=4")]
    UnknownCodecId {
        /// The offending id (attributes & 0x07).
        id: i16,
    },
    /// A configured `compression.type` is not a Kafka codec name.
    #[error("unknown compression type {name:?}; expected one of none, gzip, snappy, lz4, zstd")]
    UnknownName {
        /// The name as given.
        name: String,
    },
    /// Decompressed data would exceed the caller's limit (possible decompression bomb).
    #[error("{codec} data decompresses to more than the {limit}-byte limit")]
    OutputLimitExceeded {
        /// Codec being decoded.
        codec: Compression,
        /// The `max_output` that was exceeded.
        limit: usize,
    },
    /// The compressed bytes are not valid for the codec.
    #[error("corrupt {codec} data: {reason}")]
    Corrupt {
        /// Codec being decoded.
        codec: Compression,
        /// The decoder's description of the problem.
        reason: String,
    },
    /// The encoder failed (only I/O-style failures of the underlying library).
    #[error("{codec} compression failed: {reason}")]
    CompressFailed {
        /// Codec being encoded.
        codec: Compression,
        /// The encoder's description of the problem.
        reason: String,
    },
    /// A batch or record is too large for the protocol's signed 32-bit length fields.
    #[error("{size} bytes exceed the 2 GiB (i32) length limit of a record batch")]
    BatchTooLarge {
        /// The size that did not fit.
        size: usize,
    },
}

impl CompressionError {
    pub(super) fn corrupt(codec: Compression, reason: impl Display) -> Self {
        Self::Corrupt {
            codec,
            reason: reason.to_string(),
        }
    }

    pub(super) fn compress_failed(codec: Compression, reason: impl Display) -> Self {
        Self::CompressFailed {
            codec,
            reason: reason.to_string(),
        }
    }
}
