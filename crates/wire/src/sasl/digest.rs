//! The hash primitives SCRAM needs (RFC 5802 section 2.2), for SHA-256 and SHA-512.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// `HMAC(key, data)`.
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length (long ones are hashed first), so `new_from_slice`
        // cannot fail; the empty fallback is unreachable and would only fail verification.
        match self {
            ScramHash::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .map(|mac| mac.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
            ScramHash::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .map(|mac| mac.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    /// True when `expected == HMAC(key, data)`, compared in constant time.
    pub(crate) fn hmac_matches(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        match self {
            ScramHash::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .is_ok_and(|mac| mac.chain_update(data).verify_slice(expected).is_ok()),
            ScramHash::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .is_ok_and(|mac| mac.chain_update(data).verify_slice(expected).is_ok()),
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC and one block of output.
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}
