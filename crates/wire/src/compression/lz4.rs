//! LZ4 frame format via lz4_flex (safe encoder and decoder).
//!
//! Kafka's `KafkaLZ4BlockInputStream` decodes every block on its own, so blocks must be
//! independent; it also expects at most the block size named in the frame descriptor.
//! 64 KiB independent blocks without checksums is exactly what the Java producer writes.

use std::io::Write;

use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

use super::{Compression, CompressionError, read_bounded};

const CODEC: Compression = Compression::Lz4;

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    let frame_info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Independent);
    let mut encoder = FrameEncoder::with_frame_info(frame_info, out);
    encoder
        .write_all(input)
        .map_err(|err| CompressionError::compress_failed(CODEC, err))?;
    encoder
        .finish()
        .map_err(|err| CompressionError::compress_failed(CODEC, err))?;
    Ok(())
}

pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    read_bounded(CODEC, FrameDecoder::new(input), max_output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_descriptor_matches_the_java_producer() {
        let mut out = Vec::new();
        compress(b"abc", &mut out).unwrap();
        // Frame magic (LE 0x184D2204), FLG = version 01 + block independence (0x60),
        // BD = 64 KiB max block (0x40).
        assert_eq!(out.get(..6).unwrap(), &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
    }

    #[test]
    fn bad_magic_is_corrupt() {
        assert!(matches!(
            decompress(b"\x00\x00\x00\x00\x60\x40\x82", 1024),
            Err(CompressionError::Corrupt {
                codec: Compression::Lz4,
                ..
            })
        ));
    }
}
