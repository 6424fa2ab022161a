//! snappy via `snap`, framed the way the Java client's xerial `SnappyOutputStream` does.
//!
//! xerial framing: an 8-byte magic `\x82SNAPPY\0`, a big-endian i32 version (1) and
//! compatible version (1), then chunks of `[i32 BE compressed length][raw snappy block]`,
//! each block holding at most 32 KiB of input. This is not snappy's own "framing format".
//!
//! On decode, xerial's `SnappyInputStream` falls back to plain raw snappy when the magic is
//! absent, and some non-Java producers write raw snappy, so both are accepted here.

use snap::raw::{Decoder, Encoder, decompress_len, max_compress_len};

use super::{Compression, CompressionError};

const CODEC: Compression = Compression::Snappy;

const XERIAL_MAGIC: [u8; 8] = *b"\x82SNAPPY\0";
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
const XERIAL_HEADER_LEN: usize = 16;
/// `SnappyOutputStream`'s default block size.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
const CHUNK_LENGTH_LEN: usize = 4;

pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressionError> {
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_COMPATIBLE_VERSION.to_be_bytes());
    let mut encoder = Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_SIZE) {
        let length_at = out.len();
        out.extend_from_slice(&[0; CHUNK_LENGTH_LEN]);
        let block_at = out.len();
        out.resize(block_at + max_compress_len(block.len()), 0);
        let target = out
            .get_mut(block_at..)
            .ok_or_else(|| CompressionError::compress_failed(CODEC, "output buffer"))?;
        let written = encoder
            .compress(block, target)
            .map_err(|err| CompressionError::compress_failed(CODEC, err))?;
        out.truncate(block_at + written);
        // A 32 KiB block compresses to well under 2 GiB, so the length always fits.
        let length = i32::try_from(written)
            .map_err(|_| CompressionError::BatchTooLarge { size: written })?;
        if let Some(slot) = out.get_mut(length_at..block_at) {
            slot.copy_from_slice(&length.to_be_bytes());
        }
    }
    Ok(())
}

pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    match input.strip_prefix(&XERIAL_MAGIC) {
        Some(after_magic) => {
            // Version fields are informational; xerial itself only checks the magic.
            let chunks = after_magic
                .get(XERIAL_HEADER_LEN - XERIAL_MAGIC.len()..)
                .ok_or_else(|| CompressionError::corrupt(CODEC, "truncated xerial header"))?;
            decode_xerial_chunks(&mut decoder, chunks, max_output, &mut out)?;
        }
        None => append_raw_block(&mut decoder, input, max_output, &mut out)?,
    }
    Ok(out)
}

fn decode_xerial_chunks(
    decoder: &mut Decoder,
    mut chunks: &[u8],
    max_output: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    while !chunks.is_empty() {
        let (length, rest) = chunks
            .split_first_chunk::<CHUNK_LENGTH_LEN>()
            .ok_or_else(|| CompressionError::corrupt(CODEC, "truncated xerial chunk length"))?;
        let length = usize::try_from(i32::from_be_bytes(*length))
            .map_err(|_| CompressionError::corrupt(CODEC, "negative xerial chunk length"))?;
        let (block, rest) = rest
            .split_at_checked(length)
            .ok_or_else(|| CompressionError::corrupt(CODEC, "xerial chunk exceeds input"))?;
        append_raw_block(decoder, block, max_output, out)?;
        chunks = rest;
    }
    Ok(())
}

/// Decodes one raw snappy block onto the end of `out`, checking its declared length
/// against the remaining budget before allocating anything.
fn append_raw_block(
    decoder: &mut Decoder,
    block: &[u8],
    max_output: usize,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let block_len = decompress_len(block).map_err(|err| CompressionError::corrupt(CODEC, err))?;
    let start = out.len();
    let end = start
        .checked_add(block_len)
        .filter(|&end| end <= max_output)
        .ok_or(CompressionError::OutputLimitExceeded {
            codec: CODEC,
            limit: max_output,
        })?;
    out.resize(end, 0);
    let target = out
        .get_mut(start..)
        .ok_or_else(|| CompressionError::corrupt(CODEC, "output buffer"))?;
    let written = decoder
        .decompress(block, target)
        .map_err(|err| CompressionError::corrupt(CODEC, err))?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xerial_header() -> Vec<u8> {
        let mut header = b"\x82SNAPPY\0".to_vec();
        header.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        header
    }

    #[test]
    fn output_has_xerial_header_then_length_prefixed_blocks() {
        let input = vec![7u8; XERIAL_BLOCK_SIZE + 10];
        let mut out = Vec::new();
        compress(&input, &mut out).unwrap();
        assert_eq!(out.get(..16).unwrap(), xerial_header().as_slice());

        // Walk the chunks by hand: two blocks, of 32 KiB and 10 bytes of input.
        let mut rest = out.get(16..).unwrap();
        let mut block_sizes = Vec::new();
        while !rest.is_empty() {
            let length = i32::from_be_bytes(rest.get(..4).unwrap().try_into().unwrap()) as usize;
            let block = rest.get(4..4 + length).unwrap();
            block_sizes.push(decompress_len(block).unwrap());
            rest = rest.get(4 + length..).unwrap();
        }
        assert_eq!(block_sizes, vec![XERIAL_BLOCK_SIZE, 10]);
    }

    #[test]
    fn raw_snappy_without_framing_is_accepted() {
        let raw = Encoder::new()
            .compress_vec(b"raw snappy from librdkafka")
            .unwrap();
        assert_eq!(
            decompress(&raw, 100).unwrap(),
            b"raw snappy from librdkafka"
        );
    }

    #[test]
    fn hand_built_xerial_stream_with_two_chunks_decodes() {
        let mut stream = xerial_header();
        for part in [&b"hello, "[..], &b"world"[..]] {
            let block = Encoder::new().compress_vec(part).unwrap();
            stream.extend_from_slice(&(block.len() as i32).to_be_bytes());
            stream.extend_from_slice(&block);
        }
        assert_eq!(decompress(&stream, 100).unwrap(), b"hello, world");
    }

    #[test]
    fn header_only_xerial_stream_is_empty() {
        assert_eq!(decompress(&xerial_header(), 0).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn truncated_and_inconsistent_xerial_streams_are_corrupt() {
        let mut truncated_header = xerial_header();
        truncated_header.truncate(12);
        let mut negative_length = xerial_header();
        negative_length.extend_from_slice(&(-1i32).to_be_bytes());
        let mut overlong_chunk = xerial_header();
        overlong_chunk.extend_from_slice(&100i32.to_be_bytes());
        overlong_chunk.extend_from_slice(b"short");
        for stream in [truncated_header, negative_length, overlong_chunk] {
            assert!(matches!(
                decompress(&stream, 1 << 20),
                Err(CompressionError::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn declared_length_over_the_limit_fails_before_allocating() {
        // A raw snappy preamble claiming 1 GiB of output, with no data behind it.
        let mut bomb = Vec::new();
        let mut declared: u32 = 1 << 30;
        while declared >= 0x80 {
            bomb.push((declared as u8) | 0x80);
            declared >>= 7;
        }
        bomb.push(declared as u8);
        assert_eq!(
            decompress(&bomb, 1 << 20),
            Err(CompressionError::OutputLimitExceeded {
                codec: CODEC,
                limit: 1 << 20
            })
        );
    }
}
