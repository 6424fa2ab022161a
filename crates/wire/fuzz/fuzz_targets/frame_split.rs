//! Feeds arbitrary bytes, in arbitrary chunk sizes, to the frame splitter: it must return
//! frames, wait for more, or refuse a length, and never panic or over-reserve.

#![no_main]

use bytes::BytesMut;
use kafkatx_wire::frame::split_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk.max(1));
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match split_frame(&mut buf, 1 << 16) {
                Ok(Some(frame)) => assert!(frame.len() <= 1 << 16),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
