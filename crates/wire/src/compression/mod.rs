//! Compression codecs for record batch v2.
//!
//! A batch compresses its whole records region as one block with the codec named by the
//! low three bits of its attributes. Every codec here is pure Rust by default; the
//! `zstd-native` feature swaps ruzstd for libzstd, whose encoder compresses better and
//! faster (ruzstd only implements its fastest level).
//!
//! Framings match what the Java client writes, so its consumers read our batches:
//! - gzip: RFC 1952 members (several concatenated members are accepted on decode);
//! - snappy: xerial `SnappyOutputStream` framing on encode, xerial or raw snappy on decode;
//! - lz4: the LZ4 *frame* format with 64 KiB independent blocks;
//! - zstd: standard zstd frames (concatenated and skippable frames accepted on decode).
//!
//! Decompression is always bounded by a caller-given output limit so a small hostile
//! batch cannot expand into gigabytes (a "zip bomb").

mod codec;
mod error;
mod gzip;
mod lz4;
mod snappy;
mod zstd;

use std::io::Read;

pub use codec::Compression;
pub use error::CompressionError;

/// Compresses `input` with `compression`, appending the result to `out`.
///
/// [`Compression::None`] appends `input` unchanged.
pub fn compress(
    compression: Compression,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    match compression {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip::compress(input, out),
        Compression::Snappy => snappy::compress(input, out),
        Compression::Lz4 => lz4::compress(input, out),
        Compression::Zstd => zstd::compress(input, out),
    }
}

/// Decompresses `input`, failing with [`CompressionError::OutputLimitExceeded`] as soon as
/// the output would grow beyond `max_output` bytes.
///
/// Garbage input yields [`CompressionError::Corrupt`]; it never panics.
pub fn decompress(
    compression: Compression,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    match compression {
        Compression::None => {
            if input.len() > max_output {
                return Err(CompressionError::OutputLimitExceeded {
                    codec: compression,
                    limit: max_output,
                });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => gzip::decompress(input, max_output),
        Compression::Snappy => snappy::decompress(input, max_output),
        Compression::Lz4 => lz4::decompress(input, max_output),
        Compression::Zstd => zstd::decompress(input, max_output),
    }
}

/// Drains a streaming decoder into a vector, reading at most one byte past `max_output`
/// so an oversized stream is detected without being materialised.
fn read_bounded(
    codec: Compression,
    decoder: impl Read,
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    let read_limit = u64::try_from(max_output)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut out = Vec::new();
    decoder
        .take(read_limit)
        .read_to_end(&mut out)
        .map_err(|err| CompressionError::corrupt(codec, err))?;
    if out.len() > max_output {
        return Err(CompressionError::OutputLimitExceeded {
            codec,
            limit: max_output,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn log_like(lines: usize) -> Vec<u8> {
        (0..lines)
            .flat_map(|i| {
                format!(
                    "2026-01-01T00:00:{:02}Z INFO request id={i} path=/v1/items status=200\n",
                    i % 60
                )
                .into_bytes()
            })
            .collect()
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_multi_block_inputs() {
        // 200 KiB spans several snappy (32 KiB) and lz4 (64 KiB) blocks.
        let inputs = [Vec::new(), b"hello kafka".to_vec(), log_like(3000)];
        for codec in ALL {
            for input in &inputs {
                let mut compressed = Vec::new();
                compress(codec, input, &mut compressed).unwrap();
                let output = decompress(codec, &compressed, input.len()).unwrap();
                assert_eq!(&output, input, "{codec} round trip");
            }
        }
    }

    #[test]
    fn compress_appends_after_existing_bytes() {
        for codec in ALL {
            let mut out = b"prefix".to_vec();
            compress(codec, b"payload", &mut out).unwrap();
            assert!(out.starts_with(b"prefix"));
            let tail = out.get(6..).unwrap();
            assert_eq!(decompress(codec, tail, 100).unwrap(), b"payload");
        }
    }

    #[test]
    fn every_codec_enforces_the_output_limit() {
        let input = log_like(500);
        for codec in ALL {
            let mut compressed = Vec::new();
            compress(codec, &input, &mut compressed).unwrap();
            let err = decompress(codec, &compressed, input.len() - 1).unwrap_err();
            assert_eq!(
                err,
                CompressionError::OutputLimitExceeded {
                    codec,
                    limit: input.len() - 1
                }
            );
        }
    }

    #[test]
    fn garbage_input_is_an_error_not_a_panic() {
        let garbage: Vec<u8> = (0u8..=255).cycle().take(1000).collect();
        for codec in ALL.into_iter().skip(1) {
            let result = decompress(codec, &garbage, 1 << 20);
            assert!(result.is_err(), "{codec} accepted garbage");
        }
    }

    #[test]
    fn compressible_data_actually_shrinks() {
        let input = log_like(2000);
        for codec in ALL.into_iter().skip(1) {
            let mut compressed = Vec::new();
            compress(codec, &input, &mut compressed).unwrap();
            assert!(
                compressed.len() * 3 < input.len(),
                "{codec}: {} -> {}",
                input.len(),
                compressed.len()
            );
        }
    }
}
