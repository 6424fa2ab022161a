//! The [`Compression`] codec identifier: attribute bits and `compression.type` names.

use std::fmt;
use std::str::FromStr;

use super::CompressionError;

/// Mask of the codec id inside the record batch attributes.
const CODEC_MASK: i16 = 0x07;

/// A record batch compression codec, as stored in bits 0-2 of the batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as is.
    #[default]
    None,
    /// gzip (deflate with the RFC 1952 wrapper).
    Gzip,
    /// snappy, xerial-framed like the Java client writes it.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard (needs Produce v7+ / Fetch v10+ on the broker side).
    Zstd,
}

impl Compression {
    /// Reads the codec from record batch attributes (bits 0-2).
    ///
    /// Ids 5-7 are unassigned in Kafka and yield [`CompressionError::UnknownCodecId`].
    pub fn from_attributes(attributes: i16) -> Result<Self, CompressionError> {
        match attributes & CODEC_MASK {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            id => Err(CompressionError::UnknownCodecId { id }),
        }
    }

    /// The codec id to OR into the batch attributes.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// Kafka's `compression.type` spelling of this codec.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = CompressionError;

    /// Parses a `compression.type` value (`none`, `gzip`, `snappy`, `lz4`, `zstd`),
    /// ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd]
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| CompressionError::UnknownName { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bits_round_trip_and_ignore_higher_bits() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            // Transactional (0x10) and control (0x20) bits must not disturb the codec.
            let attributes = codec.attribute_bits() | 0x30;
            assert_eq!(Compression::from_attributes(attributes).unwrap(), codec);
        }
    }

    #[test]
    fn unassigned_codec_ids_are_rejected() {
        for id in 5..=7 {
            assert_eq!(
                Compression::from_attributes(id | 0x10),
                Err(CompressionError::UnknownCodecId { id })
            );
        }
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
        assert_eq!(" Lz4 ".parse::<Compression>().unwrap(), Compression::Lz4);
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        for codec in [Compression::Gzip, Compression::Snappy] {
            assert_eq!(codec.name().parse::<Compression>().unwrap(), codec);
            assert_eq!(codec.to_string(), codec.name());
        }
    }

    #[test]
    fn unknown_name_error_lists_the_accepted_names() {
        let err = "brotli".parse::<Compression>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown compression type \"brotli\"; expected one of none, gzip, snappy, lz4, zstd"
        );
    }

    #[test]
    fn default_is_none() {
        assert_eq!(Compression::default(), Compression::None);
    }
}
