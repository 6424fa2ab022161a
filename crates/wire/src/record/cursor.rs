//! A bounds-checked reader over a [`Bytes`] buffer.
//!
//! Every read returns [`MalformedReason::UnexpectedEnd`] instead of panicking, and byte
//! fields come back as zero-copy [`Bytes`] slices of the input.

use bytes::Bytes;

use super::MalformedReason;
use super::varint::{read_varint, read_varlong};

#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a Bytes,
    position: usize,
    /// Reads never go past this index (a record's end, or the buffer's).
    end: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a Bytes) -> Self {
        Self {
            buf,
            position: 0,
            end: buf.len(),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.position)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Hands out the next `len` bytes as a cursor of their own and skips them here.
    pub(crate) fn split_off(&mut self, len: usize) -> Result<Cursor<'a>, MalformedReason> {
        let end = self.advance(len)?;
        Ok(Cursor {
            buf: self.buf,
            position: end - len,
            end,
        })
    }

    fn advance(&mut self, len: usize) -> Result<usize, MalformedReason> {
        let end = self
            .position
            .checked_add(len)
            .filter(|&end| end <= self.end)
            .ok_or(MalformedReason::UnexpectedEnd)?;
        self.position = end;
        Ok(end)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.position..self.end).unwrap_or_default()
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MalformedReason> {
        let bytes = self
            .rest()
            .first_chunk::<N>()
            .copied()
            .ok_or(MalformedReason::UnexpectedEnd)?;
        self.position += N;
        Ok(bytes)
    }

    pub(crate) fn i8(&mut self) -> Result<i8, MalformedReason> {
        self.array().map(i8::from_be_bytes)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, MalformedReason> {
        self.array().map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, MalformedReason> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, MalformedReason> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, MalformedReason> {
        self.array().map(i64::from_be_bytes)
    }

    pub(crate) fn varint(&mut self) -> Result<i32, MalformedReason> {
        let (value, used) = read_varint(self.rest())?;
        self.position += used;
        Ok(value)
    }

    pub(crate) fn varlong(&mut self) -> Result<i64, MalformedReason> {
        let (value, used) = read_varlong(self.rest())?;
        self.position += used;
        Ok(value)
    }

    /// The next `len` bytes, sharing the underlying buffer.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<Bytes, MalformedReason> {
        let end = self.advance(len)?;
        Ok(self.buf.slice(end - len..end))
    }

    /// A varint length (-1 = null) followed by that many bytes.
    pub(crate) fn nullable_bytes(&mut self) -> Result<Option<Bytes>, MalformedReason> {
        match self.varint()? {
            -1 => Ok(None),
            length => self.bytes(non_negative(length)?).map(Some),
        }
    }

    /// A varint length that must not be negative.
    pub(crate) fn length(&mut self) -> Result<usize, MalformedReason> {
        non_negative(self.varint()?)
    }
}

fn non_negative(length: i32) -> Result<usize, MalformedReason> {
    usize::try_from(length).map_err(|_| MalformedReason::InvalidLength(length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_width_big_endian_fields() {
        let buf = Bytes::from_static(&[0xff, 0x01, 0x02, 0x00, 0x00, 0x00, 0x03]);
        let mut cursor = Cursor::new(&buf);
        assert_eq!(cursor.i8(), Ok(-1));
        assert_eq!(cursor.i16(), Ok(0x0102));
        assert_eq!(cursor.i32(), Ok(3));
        assert!(cursor.is_empty());
        assert_eq!(cursor.i8(), Err(MalformedReason::UnexpectedEnd));
    }

    #[test]
    fn split_off_confines_reads_to_the_child() {
        let buf = Bytes::from_static(&[1, 2, 3, 4]);
        let mut parent = Cursor::new(&buf);
        let mut child = parent.split_off(2).unwrap();
        assert_eq!(child.i16(), Ok(0x0102));
        assert_eq!(child.i8(), Err(MalformedReason::UnexpectedEnd));
        assert_eq!(parent.i16(), Ok(0x0304));
        assert!(parent.split_off(1).is_err());
    }

    #[test]
    fn nullable_bytes_handles_null_empty_and_invalid_lengths() {
        // -1 (null), 0 (empty), 2 + "ab", -2 (invalid)
        let buf = Bytes::from_static(&[0x01, 0x00, 0x04, b'a', b'b', 0x03]);
        let mut cursor = Cursor::new(&buf);
        assert_eq!(cursor.nullable_bytes(), Ok(None));
        assert_eq!(cursor.nullable_bytes(), Ok(Some(Bytes::new())));
        assert_eq!(cursor.nullable_bytes(), Ok(Some(Bytes::from_static(b"ab"))));
        assert_eq!(
            cursor.nullable_bytes(),
            Err(MalformedReason::InvalidLength(-2))
        );
    }

    #[test]
    fn length_past_the_end_is_unexpected_end() {
        let buf = Bytes::from_static(&[0x7e, 0x00]); // claims 63 bytes
        assert_eq!(
            Cursor::new(&buf).nullable_bytes(),
            Err(MalformedReason::UnexpectedEnd)
        );
    }
}
