//! Zstandard: ruzstd (pure Rust) by default, libzstd with the `zstd-native` feature.
//!
//! ruzstd's encoder only implements its `Fastest` level (roughly zstd level 1; asking
//! for `Default` panics with "not implemented"), so pure-Rust output is larger than what
//! the Java client writes at its default level 3. Decoding is complete in both.

use super::{Compression, CompressionError};

const CODEC: Compression = Compression::Zstd;

/// Largest window a frame may declare: zstd level 22 streaming frames (as the Java client
/// writes with `compression.zstd.level=22`) use 128 MiB; anything above is rejected rather
/// than allocated.
const MAX_WINDOW_BYTES: u64 = 128 << 20;

#[cfg(not(feature = "zstd-native"))]
pub(super) use pure::{compress, decompress};

#[cfg(feature = "zstd-native")]
pub(super) use native::{compress, decompress};

/// The ruzstd codec. Compiled with either feature so the two can be compared in tests.
mod pure {
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
    use ruzstd::encoding::CompressionLevel;

    use super::{CODEC, CompressionError, MAX_WINDOW_BYTES};

    /// Output decoded between two limit checks: small enough to bound the overshoot past
    /// `max_output`, large enough to keep the per-call overhead negligible.
    const DECODE_STEP_BYTES: usize = 256 * 1024;

    #[cfg_attr(feature = "zstd-native", allow(dead_code))]
    pub(in super::super) fn compress(
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        // `Fastest` is the only level ruzstd implements; any other one panics.
        ruzstd::encoding::compress(input, out, CompressionLevel::Fastest);
        Ok(())
    }

    /// Decodes every frame in `input` (Java's `ZstdInputStream` also reads concatenated
    /// frames), skipping skippable frames.
    #[cfg_attr(feature = "zstd-native", allow(dead_code))]
    pub(in super::super) fn decompress(
        input: &[u8],
        max_output: usize,
    ) -> Result<Vec<u8>, CompressionError> {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(MAX_WINDOW_BYTES);
        let mut remaining = input;
        let mut out = Vec::new();
        while !remaining.is_empty() {
            match decoder.init(&mut remaining) {
                Ok(()) => decode_frame(&mut decoder, &mut remaining, max_output, &mut out)?,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    remaining = usize::try_from(length)
                        .ok()
                        .and_then(|length| remaining.get(length..))
                        .ok_or_else(|| {
                            CompressionError::corrupt(CODEC, "skippable frame exceeds input")
                        })?;
                }
                Err(err) => return Err(CompressionError::corrupt(CODEC, err)),
            }
        }
        Ok(out)
    }

    fn decode_frame(
        decoder: &mut FrameDecoder,
        remaining: &mut &[u8],
        max_output: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        loop {
            let finished = decoder
                .decode_blocks(
                    &mut *remaining,
                    BlockDecodingStrategy::UptoBytes(DECODE_STEP_BYTES),
                )
                .map_err(|err| CompressionError::corrupt(CODEC, err))?;
            // Drains everything except the window still needed for back-references.
            decoder
                .collect_to_writer(&mut *out)
                .map_err(|err| CompressionError::corrupt(CODEC, err))?;
            if out.len() > max_output {
                return Err(CompressionError::OutputLimitExceeded {
                    codec: CODEC,
                    limit: max_output,
                });
            }
            if finished {
                break;
            }
        }
        // ruzstd reads the optional content checksum but leaves verifying it to us.
        if let (Some(stored), Some(computed)) = (
            decoder.get_checksum_from_data(),
            decoder.get_calculated_checksum(),
        ) {
            if stored != computed {
                return Err(CompressionError::corrupt(
                    CODEC,
                    format!("content checksum {stored:#010x} != computed {computed:#010x}"),
                ));
            }
        }
        Ok(())
    }
}

/// The libzstd codec.
#[cfg(feature = "zstd-native")]
mod native {
    use super::{CODEC, CompressionError, MAX_WINDOW_BYTES};
    use crate::compression::read_bounded;

    /// The Java client's default `compression.zstd.level`.
    const LEVEL: i32 = 3;

    pub(in super::super) fn compress(
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        ::zstd::stream::copy_encode(input, out, LEVEL)
            .map_err(|err| CompressionError::compress_failed(CODEC, err))
    }

    pub(in super::super) fn decompress(
        input: &[u8],
        max_output: usize,
    ) -> Result<Vec<u8>, CompressionError> {
        let mut decoder = ::zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|err| CompressionError::corrupt(CODEC, err))?;
        decoder
            .window_log_max(MAX_WINDOW_BYTES.ilog2())
            .map_err(|err| CompressionError::corrupt(CODEC, err))?;
        read_bounded(CODEC, decoder, max_output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        compress(input, &mut out).unwrap();
        out
    }

    #[test]
    fn concatenated_frames_decode_as_one_stream() {
        let mut stream = frame_of(b"first,");
        stream.extend_from_slice(&frame_of(b"second"));
        assert_eq!(decompress(&stream, 64).unwrap(), b"first,second");
    }

    #[test]
    fn skippable_frames_are_ignored() {
        // Skippable frame: magic 0x184D2A50..5F (LE), u32 LE length, payload.
        let mut stream = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9];
        stream.extend_from_slice(&frame_of(b"payload"));
        assert_eq!(decompress(&stream, 64).unwrap(), b"payload");
    }

    #[test]
    fn truncated_frame_is_corrupt() {
        let mut stream = frame_of(&[b'x'; 1000]);
        stream.truncate(stream.len() - 2);
        assert!(matches!(
            decompress(&stream, 4096),
            Err(CompressionError::Corrupt {
                codec: Compression::Zstd,
                ..
            })
        ));
    }

    #[test]
    fn pure_decoder_rejects_a_wrong_content_checksum() {
        // Single-segment frame, checksum flag set, one raw block holding "abc".
        let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x03];
        frame.extend_from_slice(&[0x19, 0x00, 0x00]); // last raw block, 3 bytes
        frame.extend_from_slice(b"abc");
        let good_checksum = {
            // Decode once with a placeholder checksum just to learn the real one.
            let mut with_placeholder = frame.clone();
            with_placeholder.extend_from_slice(&[0; 4]);
            let mut decoder = ruzstd::decoding::FrameDecoder::new();
            let mut source = with_placeholder.as_slice();
            decoder.init(&mut source).unwrap();
            decoder
                .decode_blocks(&mut source, ruzstd::decoding::BlockDecodingStrategy::All)
                .unwrap();
            let mut sink = Vec::new();
            decoder.collect_to_writer(&mut sink).unwrap();
            decoder.get_calculated_checksum().unwrap()
        };
        let mut valid = frame.clone();
        valid.extend_from_slice(&good_checksum.to_le_bytes());
        assert_eq!(pure::decompress(&valid, 16).unwrap(), b"abc");

        let mut invalid = frame;
        invalid.extend_from_slice(&(good_checksum ^ 1).to_le_bytes());
        assert!(matches!(
            pure::decompress(&invalid, 16),
            Err(CompressionError::Corrupt { .. })
        ));
    }

    #[test]
    fn oversized_window_is_rejected_without_allocating_it() {
        // Frame header with window descriptor exponent 31 (2 GiB window), no content size.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x01, 0x00, 0x00];
        assert!(matches!(
            decompress(&frame, 1 << 20),
            Err(CompressionError::Corrupt { .. })
        ));
    }

    #[cfg(feature = "zstd-native")]
    #[test]
    fn pure_and_native_frames_are_interchangeable() {
        let input: Vec<u8> = b"interop between ruzstd and libzstd ".repeat(500);
        let mut from_pure = Vec::new();
        pure::compress(&input, &mut from_pure).unwrap();
        assert_eq!(native::decompress(&from_pure, input.len()).unwrap(), input);

        let mut from_native = Vec::new();
        native::compress(&input, &mut from_native).unwrap();
        assert_eq!(pure::decompress(&from_native, input.len()).unwrap(), input);
    }

    /// One-off measurement, not a benchmark: `cargo test -p kafkatx-wire --release
    /// --features zstd-native -- --ignored --nocapture zstd_pure_vs_native`.
    #[cfg(feature = "zstd-native")]
    #[test]
    #[ignore = "prints a measurement; run by hand"]
    fn zstd_pure_vs_native_on_log_lines() {
        use std::time::Instant;

        let input: Vec<u8> = (0..40_000u32)
            .flat_map(|i| {
                format!(
                    "2026-03-{:02}T12:{:02}:{:02}.{:03}Z {} svc=checkout req={:08x} user={} latency_ms={} path=/api/v2/orders/{}\n",
                    1 + i % 28,
                    i % 60,
                    (i * 7) % 60,
                    (i * 13) % 1000,
                    ["INFO", "WARN", "DEBUG", "ERROR"][(i % 4) as usize],
                    i.wrapping_mul(2_654_435_761),
                    i % 977,
                    (i * 31) % 450,
                    i % 5000
                )
                .into_bytes()
            })
            .collect();
        type Codec = fn(&[u8], &mut Vec<u8>) -> Result<(), CompressionError>;
        let codecs: [(&str, Codec); 2] = [
            ("ruzstd Fastest", pure::compress),
            ("libzstd level 3", native::compress),
        ];
        for (name, codec) in codecs {
            let rounds = 5;
            let mut out = Vec::new();
            let started = Instant::now();
            for _ in 0..rounds {
                out.clear();
                codec(&input, &mut out).unwrap();
            }
            let seconds = started.elapsed().as_secs_f64() / f64::from(rounds);
            let started = Instant::now();
            let decoded = pure::decompress(&out, input.len()).unwrap();
            let decode_seconds = started.elapsed().as_secs_f64();
            assert_eq!(decoded, input);
            println!(
                "{name}: {} -> {} bytes (ratio {:.2}), compress {:.1} MB/s, ruzstd decode {:.1} MB/s",
                input.len(),
                out.len(),
                input.len() as f64 / out.len() as f64,
                input.len() as f64 / seconds / 1e6,
                input.len() as f64 / decode_seconds / 1e6,
            );
        }
    }
}
