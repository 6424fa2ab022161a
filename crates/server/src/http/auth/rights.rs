//! What a caller may do: write to topics named exactly or by a prefix, and read `/metrics`.

use std::fmt;

/// A topic name, or a prefix written with a trailing `*` (`payments-*`; `*` alone is every
/// topic). A `*` anywhere else is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    /// Exactly this topic.
    Exact(String),
    /// Every topic starting with this text.
    Prefix(String),
}

impl TopicPattern {
    /// Whether `topic` is covered.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Exact(name) => name == topic,
            Self::Prefix(prefix) => topic.starts_with(prefix.as_str()),
        }
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// The rights of one caller; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    /// Topics the caller may write records to.
    pub topics: Vec<TopicPattern>,
    /// Whether the caller may read `/metrics` when `--metrics-require-key` is set.
    pub metrics: bool,
}

impl Rights {
    /// Whether the caller may write records to `topic`.
    pub fn may_write(&self, topic: &str) -> bool {
        self.topics.iter().any(|pattern| pattern.matches(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rights(patterns: &[TopicPattern]) -> Rights {
        Rights {
            topics: patterns.to_vec(),
            metrics: false,
        }
    }

    #[test]
    fn exact_names_match_only_themselves() {
        let r = rights(&[TopicPattern::Exact("orders".into())]);
        assert!(r.may_write("orders"));
        assert!(!r.may_write("orders2"));
        assert!(!r.may_write("order"));
        assert!(!r.may_write("Orders"));
        assert!(!r.may_write(""));
    }

    #[test]
    fn prefixes_match_what_starts_with_them() {
        let r = rights(&[
            TopicPattern::Prefix("payments-".into()),
            TopicPattern::Exact("audit".into()),
        ]);
        assert!(r.may_write("payments-"));
        assert!(r.may_write("payments-eu"));
        assert!(!r.may_write("payments"));
        assert!(!r.may_write("xpayments-eu"));
        assert!(r.may_write("audit"));
        assert!(rights(&[TopicPattern::Prefix(String::new())]).may_write("anything"));
        assert!(!Rights::default().may_write("orders"));
        assert_eq!(TopicPattern::Prefix("p-".into()).to_string(), "p-*");
    }
}
