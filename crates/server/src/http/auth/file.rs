//! The access file of `--api-keys`: one caller per line.
//!
//! ```text
//! # <credential>  <name>  <right>...        ('#' starts a comment; blank lines are skipped)
//! sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8  orders-app  topics=orders,payments-*
//! cert:CN=billing.internal  billing  topics=invoices metrics
//! sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  prometheus  metrics
//! ```
//!
//! Fields are separated by spaces or tabs. The credential is `sha256:<hex>` (the SHA-256 of an
//! API key, `kafkatx hash-key` prints it) or `cert:CN=<common name>` (a client certificate
//! verified against `--tls-client-ca`, with exactly this subject common name; a name with spaces
//! cannot be written). The name (`[A-Za-z0-9._-]`, 1-64) is what logs show; several credentials
//! may share one, so a key can be replaced without a gap. Rights: `topics=<list>` (comma
//! separated Kafka topic names, a trailing `*` for a prefix, `*` for every topic; may repeat)
//! and `metrics` (may read `/metrics` when `--metrics-require-key` is set). A line without a
//! right is allowed (the caller is known but may do nothing). Any other text is an error that
//! names the line: a file that cannot be read exactly as written is refused as a whole.

use std::path::Path;
use std::sync::Arc;

use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::Principal;
use super::key_hash::{self, KeyHash};
use super::rights::{Rights, TopicPattern};

/// Kafka's longest topic name (`Topic.MAX_NAME_LENGTH`).
const MAX_TOPIC_NAME_LEN: usize = 249;
/// Longest caller name: it goes into every log line of the caller's requests.
const MAX_NAME_LEN: usize = 64;
/// The text before a certificate's common name.
const CERT_PREFIX: &str = "cert:CN=";

/// A file that cannot be used, with the line at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessFileError {
    /// The file could not be read.
    #[error("cannot read the access file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A line is not in the documented format.
    #[error("{source_name}:{line}: {reason}")]
    Line {
        /// The file (or `<text>` when parsed from memory).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file has no caller: it would refuse every request, which is never what is meant.
    #[error("{0}: the access file names no caller (a `sha256:` or `cert:CN=` line)")]
    Empty(String),
    /// `cert:CN=` lines while client certificates are not verified: they could never match.
    #[error(
        "{0}: `cert:CN=` lines need --tls-client-ca (and --tls-cert), or no client certificate \
         could ever match them"
    )]
    CertificatesUnverified(String),
}

/// Every caller of the access file, found by key digest or certificate common name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessList {
    principals: Vec<Arc<Principal>>,
    /// Key digests and the index of their principal.
    keys: Vec<(KeyHash, usize)>,
    /// Certificate common names and the index of their principal.
    certificates: Vec<(String, usize)>,
}

enum Credential {
    Key(KeyHash),
    Certificate(String),
}

impl AccessList {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, AccessFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| AccessFileError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the text of an access file; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, AccessFileError> {
        let mut list = AccessList {
            principals: Vec::new(),
            keys: Vec::new(),
            certificates: Vec::new(),
        };
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split_once('#').map_or(raw, |(before, _)| before);
            if line.trim().is_empty() {
                continue;
            }
            let error = |reason: String| AccessFileError::Line {
                source_name: source_name.to_owned(),
                line: index + 1,
                reason,
            };
            let (credential, principal) = parse_line(line).map_err(error)?;
            let at = list.principals.len();
            match credential {
                Credential::Key(hash) => {
                    if list.keys.iter().any(|(known, _)| *known == hash) {
                        return Err(error("this key digest is already listed above".into()));
                    }
                    list.keys.push((hash, at));
                }
                Credential::Certificate(name) => {
                    if list.certificates.iter().any(|(known, _)| *known == name) {
                        return Err(error(format!(
                            "certificate CN={name} is already listed above"
                        )));
                    }
                    list.certificates.push((name, at));
                }
            }
            list.principals.push(Arc::new(principal));
        }
        if list.principals.is_empty() {
            return Err(AccessFileError::Empty(source_name.to_owned()));
        }
        Ok(list)
    }

    /// The caller whose key is `presented` (the token exactly as sent), if any.
    pub fn by_key(&self, presented: &[u8]) -> Option<&Arc<Principal>> {
        self.by_digest(&KeyHash::of(presented))
    }

    /// The caller whose key has `digest`, if any.
    ///
    /// Every digest is compared, always, and the match is selected without a branch, so the
    /// time taken depends only on the number of keys, not on which one matched or how closely
    /// a wrong key's digest resembled one.
    pub fn by_digest(&self, digest: &KeyHash) -> Option<&Arc<Principal>> {
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (known, at) in &self.keys {
            let equal = known.ct_eq(digest);
            let at = u64::try_from(*at).unwrap_or(u64::MAX);
            index.conditional_assign(&at, equal);
            found |= equal;
        }
        if !bool::from(found) {
            return None;
        }
        self.principals.get(usize::try_from(index).ok()?)
    }

    /// The caller whose verified client certificate has the common name `common_name`.
    pub fn by_certificate(&self, common_name: &str) -> Option<&Arc<Principal>> {
        // Names are not secret (they are in the certificate); a plain comparison is fine, but
        // the constant-time one costs nothing and keeps one rule for credentials.
        self.certificates
            .iter()
            .find(|(name, _)| bool::from(name.as_bytes().ct_eq(common_name.as_bytes())))
            .and_then(|(_, at)| self.principals.get(*at))
    }

    /// How many callers the file names.
    pub fn len(&self) -> usize {
        self.principals.len()
    }

    /// Never true for a parsed file (an empty one is refused); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
    }

    /// Whether some caller is named by a certificate (then `--tls-client-ca` is needed).
    pub fn names_certificates(&self) -> bool {
        !self.certificates.is_empty()
    }
}

fn parse_line(line: &str) -> Result<(Credential, Principal), String> {
    let mut fields = line.split_ascii_whitespace();
    let credential = parse_credential(fields.next().unwrap_or_default())?;
    let name = fields
        .next()
        .ok_or("a name must follow the credential (e.g. `orders-app`)")?;
    check_name(name)?;
    let mut rights = Rights::default();
    for right in fields {
        if right == "metrics" {
            rights.metrics = true;
        } else if let Some(list) = right.strip_prefix("topics=") {
            for pattern in list.split(',') {
                rights.topics.push(parse_pattern(pattern)?);
            }
        } else {
            return Err(format!(
                "unknown right `{right}`: the rights are `topics=<name>,<prefix>*,...` and \
                 `metrics`"
            ));
        }
    }
    let principal = Principal {
        name: name.to_owned(),
        rights,
    };
    Ok((credential, principal))
}

fn parse_credential(field: &str) -> Result<Credential, String> {
    if field.starts_with(key_hash::PREFIX) {
        return KeyHash::parse(field).map(Credential::Key).ok_or_else(|| {
            "a key digest is `sha256:` and 64 hex digits (`kafkatx hash-key` prints the line)"
                .to_owned()
        });
    }
    if let Some(name) = field.strip_prefix(CERT_PREFIX) {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err("`cert:CN=` needs the certificate's common name".to_owned());
        }
        return Ok(Credential::Certificate(name.to_owned()));
    }
    Err(format!(
        "`{field}` is not a credential: a line starts with `sha256:<hex digest of the key>` or \
         `cert:CN=<common name>`"
    ))
}

fn check_name(name: &str) -> Result<(), String> {
    let legal = name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if legal {
        Ok(())
    } else {
        Err(format!(
            "the name `{name}` must be 1-{MAX_NAME_LEN} of [A-Za-z0-9._-]"
        ))
    }
}

fn parse_pattern(text: &str) -> Result<TopicPattern, String> {
    let (name, prefix) = match text.strip_suffix('*') {
        Some(name) => (name, true),
        None => (text, false),
    };
    let legal_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let legal = legal_chars
        && name.len() <= MAX_TOPIC_NAME_LEN
        && (prefix || !(name.is_empty() || name == "." || name == ".."));
    if !legal {
        return Err(format!(
            "`{text}` is not a topic name (1-{MAX_TOPIC_NAME_LEN} of [a-zA-Z0-9._-]) nor a \
             prefix ending in one `*`"
        ));
    }
    Ok(if prefix {
        TopicPattern::Prefix(name.to_owned())
    } else {
        TopicPattern::Exact(name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_error(text: &str) -> (usize, String) {
        match AccessList::parse(text, "keys.txt") {
            Err(AccessFileError::Line { line, reason, .. }) => (line, reason),
            other => panic!("expected a line error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_documented_file_parses_with_every_right() {
        let orders = KeyHash::of(b"orders-secret-0123456789");
        let scrape = KeyHash::of(b"scrape-secret-0123456789");
        let text = format!(
            "# callers\n\n{orders}  orders-app  topics=orders,payments-* # trailing comment\n\
             cert:CN=billing.internal\tbilling\ttopics=invoices topics=audit metrics\n\
             {scrape} prometheus metrics\n"
        );
        let list = AccessList::parse(&text, "keys.txt").unwrap();
        assert_eq!(list.len(), 3);
        assert!(list.names_certificates());
        let app = list.by_key(b"orders-secret-0123456789").unwrap();
        assert_eq!(app.name, "orders-app");
        assert!(app.rights.may_write("orders"));
        assert!(app.rights.may_write("payments-eu"));
        assert!(!app.rights.may_write("invoices"));
        assert!(!app.rights.metrics);
        let billing = list.by_certificate("billing.internal").unwrap();
        assert_eq!(billing.name, "billing");
        assert!(billing.rights.may_write("audit") && billing.rights.metrics);
        let prometheus = list.by_key(b"scrape-secret-0123456789").unwrap();
        assert!(prometheus.rights.metrics && prometheus.rights.topics.is_empty());
        assert!(list.by_key(b"orders-secret-012345678").is_none());
        assert!(list.by_key(b"").is_none());
        assert!(list.by_certificate("billing.internal.evil").is_none());
        assert!(list.by_certificate("Billing.internal").is_none());
    }

    #[test]
    fn several_keys_may_share_a_name() {
        // Two keys of one caller: rotation without a gap.
        let old = KeyHash::of(b"old");
        let new = KeyHash::of(b"new");
        let text = format!("{old} app topics=a\n{new} app topics=a\n");
        let list = AccessList::parse(&text, "k").unwrap();
        assert_eq!(list.by_key(b"old").unwrap().name, "app");
        assert_eq!(list.by_key(b"new").unwrap().name, "app");
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let key = KeyHash::of(b"k");
        let cases: &[(&str, usize, &str)] = &[
            ("sha256:abc app topics=a", 1, "64 hex digits"),
            ("md5:abc app", 1, "not a credential"),
            ("# c\n\nplain-key app topics=a", 3, "not a credential"),
            (&format!("{key}"), 1, "a name must follow"),
            (&format!("{key} app\n{key} other"), 2, "already listed"),
            (&format!("{key} bad/name"), 1, "the name"),
            (
                &format!("{key} app topics=a,b/c"),
                1,
                "`b/c` is not a topic",
            ),
            (&format!("{key} app topics=a,"), 1, "`` is not a topic"),
            (&format!("{key} app topics=pay*ments"), 1, "not a topic"),
            (&format!("{key} app topics=a**"), 1, "not a topic"),
            (&format!("{key} app topics=.."), 1, "not a topic"),
            (&format!("{key} app write=a"), 1, "unknown right `write=a`"),
            (&format!("{key} app Metrics"), 1, "unknown right"),
            ("cert:CN= app", 1, "common name"),
            ("cert:CN=a app\ncert:CN=a b", 2, "already listed"),
        ];
        for (text, line, words) in cases {
            let (got_line, reason) = line_error(text);
            assert_eq!(got_line, *line, "{text}: {reason}");
            assert!(reason.contains(words), "{text}: `{words}` not in {reason}");
        }
        let long_topic = format!("{key} app topics={}", "t".repeat(250));
        assert_eq!(line_error(&long_topic).0, 1);
        let error = AccessList::parse("\n{}\nx y", "keys.txt").unwrap_err();
        assert!(error.to_string().starts_with("keys.txt:2: "), "{error}");
    }

    #[test]
    fn a_file_without_callers_and_a_missing_file_are_refused() {
        assert_eq!(
            AccessList::parse("# nothing\n\n", "keys.txt"),
            Err(AccessFileError::Empty("keys.txt".into()))
        );
        let missing = AccessList::load(Path::new("/nonexistent/kafkatx-keys")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/kafkatx-keys"));
    }

    #[test]
    fn star_alone_is_every_topic() {
        let key = KeyHash::of(b"k");
        let list = AccessList::parse(&format!("{key} admin topics=*"), "k").unwrap();
        assert!(
            list.by_key(b"k")
                .unwrap()
                .rights
                .may_write("anything.at-all")
        );
    }
}
