//! Feeds arbitrary bytes to every decoder that sees broker-supplied data:
//! `decode_batches` (framing, CRC, records) and `decompress` for each codec.
//! Anything other than an `Ok` or an `Err` (a panic, an abort, an out-of-memory) is a bug.

#![no_main]

use bytes::Bytes;
use kafkatx_wire::compression::{Compression, decompress};
use kafkatx_wire::record::{decode_batches, raw_batches};
use libfuzzer_sys::fuzz_target;

/// The CRC-32C field of a v2 batch header; it covers the bytes after it.
const CRC_START: usize = 17;
const CRC_END: usize = 21;

/// Small enough that a bomb is caught quickly, large enough for real multi-block streams.
const MAX_OUTPUT: usize = 1 << 20;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fuzz_target!(|data: &[u8]| {
    let blob = Bytes::copy_from_slice(data);
    let _ = decode_batches(&blob);
    // Random bytes almost never carry a valid CRC, so re-seal every framed batch and
    // decode it again to reach the record and decompression paths.
    for batch in raw_batches(&blob).flatten() {
        let mut sealed = batch.bytes().to_vec();
        let crc = crc32c::crc32c(sealed.get(CRC_END..).unwrap_or_default());
        if let Some(slot) = sealed.get_mut(CRC_START..CRC_END) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        let sealed = Bytes::from(sealed);
        let _ = decode_batches(&sealed);
        if let Some(Ok(raw)) = raw_batches(&sealed).next() {
            let _ = raw.decode_with_limit(MAX_OUTPUT);
        }
    }
    for codec in CODECS {
        if let Ok(output) = decompress(codec, data, MAX_OUTPUT) {
            assert!(output.len() <= MAX_OUTPUT, "{codec} ignored max_output");
        }
    }
});
