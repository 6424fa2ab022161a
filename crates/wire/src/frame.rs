//! Kafka's framing: every request and response is an `i32` big-endian length followed by that
//! many bytes. This module splits frames out of a read buffer without touching a socket, so the
//! connection code stays small and the splitter can be fuzzed on its own.

use bytes::{Buf, BufMut, BytesMut};

/// Frames larger than this are refused unless the caller configures otherwise. Kafka's own
/// default `socket.request.max.bytes` is 100 MiB; a fetch answer is bounded by the fetch sizes
/// we ask for, so a length above this is a corrupt stream, not a big message.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Why a length prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix was negative, which no frame can have: the stream is corrupt.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The length prefix exceeds the frame limit, which means a corrupt stream rather than a
    /// big message.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The length the prefix announced, in bytes.
        len: usize,
        /// The limit it was checked against, in bytes.
        max: usize,
    },
}

/// Splits one complete frame (without its length prefix) off the front of `buf`.
///
/// Returns `Ok(None)` while the frame is incomplete: that is the normal state of a read
/// buffer, not an error. The caller keeps the remaining bytes for the next call.
pub fn split_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<BytesMut>, FrameError> {
    let Some(prefix) = buf.get(..4).and_then(|p| <[u8; 4]>::try_from(p).ok()) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes(prefix);
    let len = usize::try_from(len).map_err(|_| FrameError::NegativeLength(len))?;
    if len > max_frame {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame,
        });
    }
    if buf.len() < 4 + len {
        // Reserve now so the socket read fills the whole frame without repeated growth.
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len)))
}

/// Appends a frame to `out`: reserves the length prefix, lets `body` write the payload, then
/// patches the prefix with the payload's real length.
pub fn write_frame<E>(
    out: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.put_i32(0);
    body(out)?;
    let len = out.len() - start - 4;
    // A payload over 2 GiB cannot be framed; encoders never produce one (records are bounded
    // by batch.size), so saturating keeps this total without a panic path.
    let len = i32::try_from(len).unwrap_or(i32::MAX);
    if let Some(prefix) = out.get_mut(start..start + 4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(payloads: &[Vec<u8>]) -> BytesMut {
        let mut out = BytesMut::new();
        for p in payloads {
            write_frame::<()>(&mut out, |b| {
                b.extend_from_slice(p);
                Ok(())
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn incomplete_prefix_and_body_wait_for_more() {
        let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(&[5, 1, 2]);
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(&[3, 4, 5, 9]);
        assert_eq!(
            &split_frame(&mut buf, 100).unwrap().unwrap()[..],
            &[1, 2, 3, 4, 5]
        );
        assert_eq!(&buf[..], &[9]);
    }

    #[test]
    fn negative_and_oversized_lengths_are_errors() {
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert_eq!(
            split_frame(&mut buf, 100),
            Err(FrameError::NegativeLength(-1))
        );
        let mut buf = BytesMut::from(&101i32.to_be_bytes()[..]);
        assert_eq!(
            split_frame(&mut buf, 100),
            Err(FrameError::TooLarge { len: 101, max: 100 })
        );
    }

    proptest! {
        /// Any sequence of frames, delivered in arbitrary chunks, splits back into the same payloads.
        #[test]
        fn frames_round_trip_across_chunking(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
            chunk in 1usize..64,
        ) {
            let stream = framed(&payloads);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(frame) = split_frame(&mut buf, 1 << 20).unwrap() {
                    got.push(frame.to_vec());
                }
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(got, payloads);
        }
    }
}
