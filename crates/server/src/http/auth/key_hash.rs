//! API keys are kept only as SHA-256 digests (FIPS 180-4), written `sha256:<64 hex digits>`.
//!
//! A presented key is hashed at once and only the digest is compared, in constant time
//! ([`subtle`]), so neither the file nor the time an answer takes tells an attacker how much of
//! a guess was right. The digest is unsalted: keys are meant to be long random strings (see
//! `kafkatx hash-key`), for which a salt adds nothing, and an unsalted digest can be looked up
//! without knowing which entry to try.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The text before the hex digits in the access file.
pub const PREFIX: &str = "sha256:";

/// The SHA-256 digest of an API key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// The digest of `key`, the bytes of the token exactly as sent.
    pub fn of(key: &[u8]) -> Self {
        Self(Sha256::digest(key).into())
    }

    /// Reads `sha256:<64 hex digits>` (either case); `None` if it is anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(PREFIX)?;
        if hex.len() != 64 {
            return None;
        }
        let mut digest = [0u8; 32];
        // Digit by digit: `u8::from_str_radix` would also take a sign (`+1`).
        for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let [high, low] = pair else { return None };
            *byte = hex_digit(*high)? << 4 | hex_digit(*low)?;
        }
        Some(Self(digest))
    }

    /// Whether two digests are equal, in time that does not depend on where they differ.
    pub fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

fn hex_digit(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

/// `sha256:<hex>`: the form of the access file.
impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Not the digest: it stands for a key, so logs and panics show only that there is one.
impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_sha256_in_lower_hex() {
        // FIPS 180-4 example "abc".
        let hash = KeyHash::of(b"abc");
        assert_eq!(
            hash.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(KeyHash::parse(&hash.to_string()), Some(hash));
        assert_eq!(
            KeyHash::parse(
                &hash
                    .to_string()
                    .to_uppercase()
                    .replace("SHA256:", "sha256:")
            ),
            Some(hash)
        );
        assert_eq!(format!("{hash:?}"), "KeyHash(..)");
    }

    #[test]
    fn anything_but_64_hex_digits_after_the_prefix_is_refused() {
        let good = KeyHash::of(b"k").to_string();
        for bad in [
            "",
            "sha256:",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &good.replace("sha256:", "sha512:"),
            &format!("sha256:{}", "g".repeat(64)),
            &format!("sha256:{}", "+1".repeat(32)),
            &format!("sha256:{}é", "0".repeat(62)),
        ] {
            assert_eq!(KeyHash::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn equality_is_decided_by_every_byte() {
        let a = KeyHash::of(b"key-a");
        let b = KeyHash::of(b"key-b");
        assert!(bool::from(a.ct_eq(&a)));
        assert!(!bool::from(a.ct_eq(&b)));
        // Digests that differ only in the first or only in the last byte are both unequal.
        let mut first = a;
        first.0[0] ^= 1;
        let mut last = a;
        last.0[31] ^= 0x80;
        assert!(!bool::from(a.ct_eq(&first)));
        assert!(!bool::from(a.ct_eq(&last)));
    }
}
