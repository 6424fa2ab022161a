//! The records of the marker topic. Each keyed transaction writes two, both with the
//! idempotency key as record key: a claim first (its offset orders racing attempts), and, just
//! before the commit, the result the client was given. Both are in the request's own
//! transaction, so a result is visible exactly when the request's records are.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::{Committed, Placed};

/// One marker record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Marker {
    /// An attempt started.
    Claim {
        /// The request's fingerprint.
        fingerprint: String,
    },
    /// The attempt's transaction holds these records; valid once committed.
    Result {
        /// The request's fingerprint.
        fingerprint: String,
        /// What the client was answered.
        transactional_id: String,
        /// Where each record landed, in request order.
        placed: Vec<PlacedRecord>,
    },
}

/// [`Placed`] in the marker's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedRecord {
    topic: String,
    partition: i32,
    offset: i64,
}

impl Marker {
    /// The result marker of a transaction about to commit.
    pub fn result(fingerprint: &str, committed: &Committed) -> Self {
        Self::Result {
            fingerprint: fingerprint.to_owned(),
            transactional_id: committed.transactional_id.clone(),
            placed: committed
                .placed
                .iter()
                .map(|p| PlacedRecord {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    offset: p.offset,
                })
                .collect(),
        }
    }

    /// The record value.
    pub fn encode(&self) -> Bytes {
        // Serializing plain strings and integers cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a record value; `None` for anything that is not a marker (never trusted blindly:
    /// the topic is writable by anyone with access to the cluster).
    pub fn decode(value: &[u8]) -> Option<Self> {
        serde_json::from_slice(value).ok()
    }
}

/// A committed result as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    /// Fingerprint of the request that committed.
    pub fingerprint: String,
    /// What that request was answered.
    pub committed: Committed,
    /// When the marker was written (ms since the epoch): keys are remembered for the retention.
    pub timestamp_ms: i64,
}

impl StoredResult {
    /// The stored result in `marker`, if it is a result.
    pub fn from_marker(marker: Marker, timestamp_ms: i64) -> Option<Self> {
        match marker {
            Marker::Claim { .. } => None,
            Marker::Result {
                fingerprint,
                transactional_id,
                placed,
            } => Some(Self {
                fingerprint,
                committed: Committed {
                    transactional_id,
                    placed: placed
                        .into_iter()
                        .map(|p| Placed {
                            topic: p.topic,
                            partition: p.partition,
                            offset: p.offset,
                        })
                        .collect(),
                },
                timestamp_ms,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_garbage_is_not_a_marker() {
        let committed = Committed {
            transactional_id: "kafkatx-a-0".into(),
            placed: vec![Placed {
                topic: "t".into(),
                partition: 2,
                offset: 41,
            }],
        };
        let marker = Marker::result("ab", &committed);
        let decoded = Marker::decode(&marker.encode()).unwrap();
        assert_eq!(decoded, marker);
        let stored = StoredResult::from_marker(decoded, 7).unwrap();
        assert_eq!(stored.committed, committed);
        assert_eq!(stored.fingerprint, "ab");
        let claim = Marker::Claim {
            fingerprint: "ab".into(),
        };
        assert_eq!(Marker::decode(&claim.encode()), Some(claim.clone()));
        assert_eq!(StoredResult::from_marker(claim, 7), None);
        assert_eq!(Marker::decode(b"not json"), None);
        assert_eq!(Marker::decode(br#"{"kind":"other"}"#), None);
    }
}
