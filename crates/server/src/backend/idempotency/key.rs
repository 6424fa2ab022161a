//! The `Idempotency-Key` header and the fingerprint of the request it names.

use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};

/// The header (IETF httpapi draft "The Idempotency-Key HTTP Header Field").
pub const HEADER: &str = "idempotency-key";
/// Set on an answer replayed from an earlier attempt.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted: a UUID is 36 characters; this leaves room for prefixes.
pub const MAX_KEY_BYTES: usize = 255;

/// A client's key for one logical request, with what makes two requests "the same".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    /// The key as sent (without the quotes of the structured-field form).
    pub key: String,
    /// SHA-256 over method, path and body: a retry must match it exactly.
    pub fingerprint: String,
}

impl IdempotentRequest {
    /// Builds the request's identity from its key and content.
    pub fn new(key: String, method: &str, path: &str, body: &[u8]) -> Self {
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
            hash.update(part);
        }
        let fingerprint = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Self { key, fingerprint }
    }
}

/// Reads the header's value: the draft's structured-field string (`"abc"`) or the bare token
/// many clients send (`abc`). Printable ASCII only, 1 to [`MAX_KEY_BYTES`] bytes.
pub fn parse_key(value: &HeaderValue) -> Result<String, String> {
    let text = value
        .to_str()
        .map_err(|_| "Idempotency-Key must be printable ASCII".to_owned())?;
    let text = text.trim();
    let key = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner,
        None => text,
    };
    if key.is_empty() {
        return Err("Idempotency-Key is empty".to_owned());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "Idempotency-Key is {} bytes, over the limit of {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    if !key
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return Err(
            "Idempotency-Key must be printable ASCII without quotes or backslashes".to_owned(),
        );
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_keys_are_read_and_bad_ones_refused() {
        let parse = |v: &str| parse_key(&HeaderValue::from_str(v).unwrap());
        assert_eq!(parse("\"8e03978e-40d5\"").unwrap(), "8e03978e-40d5");
        assert_eq!(parse("order-17").unwrap(), "order-17");
        assert!(parse("\"\"").is_err());
        assert!(parse(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(parse("a\"b").is_err());
        assert!(parse_key(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_err());
    }

    #[test]
    fn the_fingerprint_covers_method_path_and_body() {
        let base = IdempotentRequest::new("k".into(), "POST", "/v1/transactions", b"{}");
        assert_eq!(base.fingerprint.len(), 64);
        assert_eq!(
            base,
            IdempotentRequest::new("k".into(), "POST", "/v1/transactions", b"{}")
        );
        for other in [
            IdempotentRequest::new("k".into(), "GET", "/v1/transactions", b"{}"),
            IdempotentRequest::new("k".into(), "POST", "/v1/topics/t/records", b"{}"),
            IdempotentRequest::new("k".into(), "POST", "/v1/transactions", b"{ }"),
        ] {
            assert_ne!(other.fingerprint, base.fingerprint);
        }
    }
}
