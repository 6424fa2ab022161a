//! gzip via flate2's pure-Rust (miniz_oxide) backend.

use std::io::Write;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{Compression, CompressionError, read_bounded};

const CODEC: Compression = Compression::Gzip;

/// Level 6, the JDK `Deflater` default the Java client uses unless `compression.gzip.level` is set.
const LEVEL: flate2::Compression = flate2::Compression::new(6);

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let mut encoder = GzEncoder::new(out, LEVEL);
    encoder
        .write_all(input)
        .map_err(|err| CompressionError::compress_failed(CODEC, err))?;
    encoder
        .finish()
        .map_err(|err| CompressionError::compress_failed(CODEC, err))?;
    Ok(())
}

/// Accepts several concatenated gzip members, like Java's `GZIPInputStream`.
pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    read_bounded(CODEC, MultiGzDecoder::new(input), max_output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_a_gzip_member() {
        let mut out = Vec::new();
        compress(b"abc", &mut out).unwrap();
        // RFC 1952: ID1 ID2 CM(8 = deflate).
        assert_eq!(out.get(..3).unwrap(), &[0x1f, 0x8b, 0x08]);
    }

    #[test]
    fn concatenated_members_decode_as_one_stream() {
        let mut out = Vec::new();
        compress(b"first,", &mut out).unwrap();
        compress(b"second", &mut out).unwrap();
        assert_eq!(decompress(&out, 64).unwrap(), b"first,second");
    }

    #[test]
    fn truncated_member_is_corrupt() {
        let mut out = Vec::new();
        compress(b"some data that is long enough", &mut out).unwrap();
        out.truncate(out.len() - 5);
        assert!(matches!(
            decompress(&out, 1024),
            Err(CompressionError::Corrupt {
                codec: Compression::Gzip,
                ..
            })
        ));
    }
}
