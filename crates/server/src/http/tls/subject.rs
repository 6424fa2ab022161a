//! The subject common name of a client certificate, the name `cert:CN=` lines of the access
//! file grant rights to.
//!
//! The certificate was verified by rustls against `--tls-client-ca` before this runs; this reads
//! only the path to the subject (RFC 5280 section 4.1: Certificate, TBSCertificate, the subject
//! `Name`) with a bounds-checked DER reader (ITU-T X.690 section 8.1), and finds its one
//! `id-at-commonName` (OID 2.5.4.3). Anything unexpected, including two common names, gives no
//! name, so a caller is never matched to a name we had to guess.

/// DER tags met on the way (X.690 section 8, universal class).
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
/// `[0] EXPLICIT Version` of a TBSCertificate.
const VERSION: u8 = 0xa0;
/// 2.5.4.3 in DER: 0x55 = 2*40+5, then 4, then 3.
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];

/// A reader of consecutive DER elements.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element's tag and contents; `None` at the end or on malformed input.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: the low bits count the length's bytes. DER forbids the indefinite
            // form (0x80); more than 4 bytes is no certificate we could hold.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, after) = rest.split_at_checked(count)?;
            rest = after;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let (contents, after) = rest.split_at_checked(length)?;
        self.0 = after;
        Some((tag, contents))
    }

    /// The next element, which must have `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next()
            .and_then(|(got, contents)| (got == tag).then_some(contents))
    }
}

/// The subject common name of a DER certificate, when it has exactly one in a string type we
/// can read (UTF8String, PrintableString, IA5String).
pub fn common_name(certificate: &[u8]) -> Option<String> {
    let certificate = Der(certificate).expect(SEQUENCE)?;
    let mut tbs = Der(Der(certificate).expect(SEQUENCE)?);
    // `[0] version` (absent in v1 certificates), then the serial number.
    if tbs.next()?.0 == VERSION {
        tbs.next()?;
    }
    // The signature algorithm, the issuer and the validity.
    tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?;
    tbs.expect(SEQUENCE)?;
    let subject = tbs.expect(SEQUENCE)?;
    let mut found = None;
    let mut names = Der(subject);
    while !names.0.is_empty() {
        let mut attributes = Der(names.expect(SET)?);
        while !attributes.0.is_empty() {
            let mut attribute = Der(attributes.expect(SEQUENCE)?);
            if attribute.expect(OID)? != COMMON_NAME_OID {
                continue;
            }
            let (kind, value) = attribute.next()?;
            let text = match kind {
                UTF8_STRING => std::str::from_utf8(value).ok()?,
                PRINTABLE_STRING | IA5_STRING if value.is_ascii() => {
                    std::str::from_utf8(value).ok()?
                }
                _ => return None,
            };
            if found.is_some() {
                return None;
            }
            found = Some(text.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_in_both_forms_and_truncations() {
        let mut short = Der(&[0x04, 0x02, b'a', b'b', 0x05, 0x00]);
        assert_eq!(short.next(), Some((0x04, &b"ab"[..])));
        assert_eq!(short.next(), Some((0x05, &b""[..])));
        assert_eq!(short.next(), None);
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        assert_eq!(Der(&long).next().map(|(_, c)| c.len()), Some(256));
        for cut in 0..long.len() {
            assert_eq!(Der(&long[..cut]).next(), None, "cut at {cut}");
        }
        assert_eq!(Der(&[0x04, 0x80, 0x00, 0x00]).next(), None, "indefinite");
        assert_eq!(Der(&[0x04, 0x85, 1, 1, 1, 1, 1]).next(), None);
    }

    #[test]
    fn garbage_has_no_name() {
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30, 0x00]), None);
        assert_eq!(common_name(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        assert_eq!(common_name(b"-----BEGIN CERTIFICATE-----"), None);
    }
}
