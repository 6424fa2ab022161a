//! Zigzag varints (protobuf style, base-128 little-endian) used inside record batch v2.
//!
//! Kafka's `ByteUtils` reads at most 5 bytes for a varint and 10 for a varlong; longer
//! encodings, or ones whose last byte carries bits beyond the type's width, are rejected.

use super::MalformedReason;

const MAX_VARINT_BYTES: usize = 5;
const MAX_VARLONG_BYTES: usize = 10;

/// Maps signed to unsigned so small magnitudes of either sign encode in few bytes.
fn zigzag32(value: i32) -> u32 {
    // `as` reinterprets the bits; zigzag is defined on the two's-complement pattern.
    ((value << 1) ^ (value >> 31)) as u32
}

fn unzigzag32(encoded: u32) -> i32 {
    ((encoded >> 1) as i32) ^ -((encoded & 1) as i32)
}

fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag64(encoded: u64) -> i64 {
    ((encoded >> 1) as i64) ^ -((encoded & 1) as i64)
}

/// Appends `value` as a zigzag varint (1-5 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i32) {
    put_unsigned(out, u64::from(zigzag32(value)));
}

/// Appends `value` as a zigzag varlong (1-10 bytes).
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    put_unsigned(out, zigzag64(value));
}

fn put_unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // Truncation to the low 7 bits is the point; the high bit marks "more follows".
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Encoded size of `value` as a varint.
pub(crate) fn varint_size(value: i32) -> usize {
    unsigned_size(u64::from(zigzag32(value)))
}

/// Encoded size of `value` as a varlong.
pub(crate) fn varlong_size(value: i64) -> usize {
    unsigned_size(zigzag64(value))
}

fn unsigned_size(value: u64) -> usize {
    let significant_bits = u64::BITS - (value | 1).leading_zeros();
    significant_bits.div_ceil(7) as usize
}

/// Reads a zigzag varint from the front of `buf`, returning it and the bytes consumed.
pub(crate) fn read_varint(buf: &[u8]) -> Result<(i32, usize), MalformedReason> {
    let (encoded, used) = read_unsigned(buf, MAX_VARINT_BYTES)?;
    let encoded = u32::try_from(encoded).map_err(|_| MalformedReason::VarintTooLong)?;
    Ok((unzigzag32(encoded), used))
}

/// Reads a zigzag varlong from the front of `buf`, returning it and the bytes consumed.
pub(crate) fn read_varlong(buf: &[u8]) -> Result<(i64, usize), MalformedReason> {
    let (encoded, used) = read_unsigned(buf, MAX_VARLONG_BYTES)?;
    Ok((unzigzag64(encoded), used))
}

fn read_unsigned(buf: &[u8], max_bytes: usize) -> Result<(u64, usize), MalformedReason> {
    let mut value: u64 = 0;
    for (index, &byte) in buf.iter().take(max_bytes).enumerate() {
        let shift = 7 * index as u32;
        let chunk = u64::from(byte & 0x7f);
        // Bits shifted out of the u64 would be silently lost: that is an overlong encoding.
        if (chunk << shift) >> shift != chunk {
            return Err(MalformedReason::VarintTooLong);
        }
        value |= chunk << shift;
        if byte & 0x80 == 0 {
            return Ok((value, index + 1));
        }
    }
    if buf.len() < max_bytes {
        Err(MalformedReason::UnexpectedEnd)
    } else {
        Err(MalformedReason::VarintTooLong)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encoded_varint(value: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        out
    }

    #[test]
    fn known_encodings_match_kafka() {
        // Values from Kafka's ByteUtilsTest / protobuf zigzag docs.
        assert_eq!(encoded_varint(0), [0x00]);
        assert_eq!(encoded_varint(-1), [0x01]);
        assert_eq!(encoded_varint(1), [0x02]);
        assert_eq!(encoded_varint(63), [0x7e]);
        assert_eq!(encoded_varint(-64), [0x7f]);
        assert_eq!(encoded_varint(64), [0x80, 0x01]);
        assert_eq!(encoded_varint(i32::MAX), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(encoded_varint(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut long = Vec::new();
        put_varlong(&mut long, i64::MIN);
        assert_eq!(
            long,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn six_byte_varint_is_rejected() {
        let overlong = [0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(read_varint(&overlong), Err(MalformedReason::VarintTooLong));
    }

    #[test]
    fn five_byte_varint_above_u32_is_rejected() {
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(MalformedReason::VarintTooLong)
        );
    }

    #[test]
    fn tenth_varlong_byte_above_one_is_rejected() {
        let mut overflowing = [0xff; 10];
        overflowing[9] = 0x02;
        assert_eq!(
            read_varlong(&overflowing),
            Err(MalformedReason::VarintTooLong)
        );
    }

    #[test]
    fn unterminated_varint_is_unexpected_end() {
        assert_eq!(
            read_varint(&[0x80, 0x80]),
            Err(MalformedReason::UnexpectedEnd)
        );
        assert_eq!(read_varlong(&[]), Err(MalformedReason::UnexpectedEnd));
    }

    proptest! {
        #[test]
        fn varint_round_trips(value in any::<i32>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            prop_assert_eq!(buf.len(), varint_size(value));
            let encoded_len = buf.len();
            buf.extend_from_slice(&tail);
            prop_assert_eq!(read_varint(&buf), Ok((value, encoded_len)));
        }

        #[test]
        fn varlong_round_trips(value in any::<i64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut buf = Vec::new();
            put_varlong(&mut buf, value);
            prop_assert_eq!(buf.len(), varlong_size(value));
            let encoded_len = buf.len();
            buf.extend_from_slice(&tail);
            prop_assert_eq!(read_varlong(&buf), Ok((value, encoded_len)));
        }

        #[test]
        fn decoding_stops_at_the_first_byte_without_continuation_bit(
            bytes in proptest::collection::vec(any::<u8>(), 0..12)
        ) {
            let terminator = bytes.iter().position(|byte| byte & 0x80 == 0);
            for (result, max_bytes) in [
                (read_varint(&bytes).map(|(_, used)| used), MAX_VARINT_BYTES),
                (read_varlong(&bytes).map(|(_, used)| used), MAX_VARLONG_BYTES),
            ] {
                match result {
                    Ok(used) => prop_assert_eq!(Some(used - 1), terminator),
                    Err(MalformedReason::UnexpectedEnd) => prop_assert!(terminator.is_none() && bytes.len() < max_bytes),
                    Err(reason) => prop_assert_eq!(reason, MalformedReason::VarintTooLong),
                }
            }
        }
    }
}
