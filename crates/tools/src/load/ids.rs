//! Request ids unique to one run, and the message values that carry them.
//!
//! Topics outlive runs, so the checker must tell this run's messages from earlier ones: every id
//! is `<run>-<n>` where `<run>` is random per run, and only messages whose id starts with
//! `<run>-` are judged.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// The random prefix of one run's request ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId(String);

impl RunId {
    /// A fresh prefix: 64 random bits (std's per-process hasher keys, mixed with the clock and
    /// the pid, so that two runs in one process also differ).
    pub fn random() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        Self(format!("r{:016x}", hasher.finish()))
    }

    /// A fixed prefix (tests, and reruns of a check). It must not contain `-`.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        let usable = !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        usable.then(|| Self(prefix.to_owned()))
    }

    /// The id of request number `n` of this run.
    pub fn request_id(&self, n: u64) -> String {
        format!("{}-{n}", self.0)
    }

    /// Whether `id` belongs to this run, and to which request.
    pub fn classify(&self, id: &str) -> IdMatch {
        let Some(rest) = id
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('-'))
        else {
            return IdMatch::OtherRun;
        };
        rest.parse::<u64>()
            .map_or(IdMatch::Malformed, IdMatch::Request)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an id relates to this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdMatch {
    /// Not this run's: ignored by the checker.
    OtherRun,
    /// This run's request number `n`.
    Request(u64),
    /// This run's prefix without a request number: no request of ours wrote it.
    Malformed,
}

/// What a message value says about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTag<'a> {
    /// `err`, `war` or `rec`.
    pub tag: &'a str,
    /// Which message of its request (1-based).
    pub part: u32,
    /// The request id (`usr:`).
    pub user: &'a str,
}

/// Parses `<tag>: <part> - ... - usr: <id>`: the pair endpoints'
/// `err: 1 - pro: <producer> - usr: <id>` and the `rec: 1 - usr: <id>` / `txn: 1 - usr: <id>` values that `kafkatx load` posts to the
/// records and transactions endpoints.
/// The id is everything after the last ` - usr: `, so it may itself contain ` - `.
pub fn parse_value(value: &str) -> Option<MessageTag<'_>> {
    let (head, _) = value.split_once(" - ")?;
    let (tag, part) = head.split_once(": ")?;
    let at = value.rfind(" - usr: ")?;
    let user = value.get(at + " - usr: ".len()..)?;
    Some(MessageTag {
        tag,
        part: part.parse().ok()?,
        user,
    })
}

/// The value of message `part` of a request to the records endpoint.
pub fn record_value(part: u32, user: &str) -> String {
    format!("rec: {part} - usr: {user}")
}

/// The value of message `part` of a request to the transactions endpoint.
pub fn transaction_value(part: u32, user: &str) -> String {
    format!("txn: {part} - usr: {user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_values_parse_to_tag_part_and_user() {
        let parsed = parse_value("err: 2 - pro: inanzzz-pro-3 - usr: r1-42").unwrap();
        assert_eq!(
            parsed,
            MessageTag {
                tag: "err",
                part: 2,
                user: "r1-42"
            }
        );
        let ours = parse_value("war: 1 - pro: kafkatx-host-0 - usr: a - b").unwrap();
        assert_eq!(ours.user, "a - b");
        assert_eq!(parse_value(&record_value(1, "x-7")).unwrap().user, "x-7");
        let value = transaction_value(2, "x-8");
        let txn = parse_value(&value).unwrap();
        assert_eq!((txn.tag, txn.part, txn.user), ("txn", 2, "x-8"));
    }

    #[test]
    fn values_without_the_shape_do_not_parse() {
        assert_eq!(parse_value("hello"), None);
        assert_eq!(parse_value("err: x - usr: 1"), None);
        assert_eq!(parse_value("err: 1 - pro: p"), None);
    }

    #[test]
    fn only_this_runs_ids_are_recognised() {
        let run = RunId::from_prefix("abc").unwrap();
        assert_eq!(run.request_id(7), "abc-7");
        assert_eq!(run.classify("abc-7"), IdMatch::Request(7));
        assert_eq!(run.classify("abc-x"), IdMatch::Malformed);
        assert_eq!(run.classify("abcd-7"), IdMatch::OtherRun);
        assert_eq!(run.classify("other-7"), IdMatch::OtherRun);
        assert!(RunId::from_prefix("a-b").is_none());
        assert_ne!(RunId::random(), RunId::random());
    }
}
