//! Which API versions kafkatx speaks, what a broker speaks, and the version both agree on.
//!
//! A request goes out at the highest version inside three bounds: what the broker advertises
//! in ApiVersions, what our code handles ([`OUR_VERSIONS`]), and an optional cap the caller
//! sets (the transaction engine caps Produce and EndTxn below the KIP-890 versions unless the
//! cluster has finalized `transaction.version` >= 2).

use std::collections::HashMap;

use crate::protocol::messages::{ApiKey, ApiVersionsResponse};

/// The name of the feature that switches KIP-890 (transactions V2) on.
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// The versions our code handles, per API. Anything not listed is never sent.
///
/// Bounds that are lower than what kafka-protocol can encode, and why:
/// - Produce and Fetch stop at 12: v13 identifies topics by id instead of name.
/// - Metadata stops at 12 for the same reason on the request side.
/// - AddPartitionsToTxn stops at 3: v4+ is the broker-to-broker form (KIP-890).
pub const OUR_VERSIONS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
];

/// The range of versions kafkatx handles for `api`, if it sends it at all.
pub fn our_range(api: ApiKey) -> Option<(i16, i16)> {
    OUR_VERSIONS
        .iter()
        .find(|(key, _, _)| *key == api)
        .map(|&(_, min, max)| (min, max))
}

/// What one broker told us in its ApiVersions answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerVersions {
    ranges: HashMap<i16, (i16, i16)>,
    finalized: HashMap<String, (i16, i16)>,
    finalized_epoch: i64,
}

impl BrokerVersions {
    /// Reads the supported ranges and finalized features out of an ApiVersions answer.
    /// Unknown API keys are kept too: they cost nothing and make logs complete.
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let ranges = resp
            .api_keys
            .iter()
            .filter(|k| k.min_version <= k.max_version)
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        let finalized = resp
            .finalized_features
            .iter()
            .map(|f| {
                let name = f.name.as_str().to_owned();
                (name, (f.min_version_level, f.max_version_level))
            })
            .collect();
        BrokerVersions {
            ranges,
            finalized,
            finalized_epoch: resp.finalized_features_epoch,
        }
    }

    /// Builds a value directly, for fakes and tests: `(api, min, max)` triples and
    /// `(feature, level)` pairs.
    pub fn from_parts(apis: &[(ApiKey, i16, i16)], features: &[(&str, i16)]) -> Self {
        BrokerVersions {
            ranges: apis
                .iter()
                .map(|&(key, min, max)| (key as i16, (min, max)))
                .collect(),
            finalized: features
                .iter()
                .map(|&(name, level)| (name.to_owned(), (level, level)))
                .collect(),
            finalized_epoch: 0,
        }
    }

    /// A broker that supports everything we speak, for tests; `transaction_version` sets the
    /// finalized `transaction.version` feature (0 leaves it absent, as on Redpanda).
    pub fn all_ours(transaction_version: i16) -> Self {
        let features: &[(&str, i16)] = if transaction_version > 0 {
            &[(TRANSACTION_VERSION_FEATURE, transaction_version)]
        } else {
            &[]
        };
        Self::from_parts(OUR_VERSIONS, features)
    }

    /// The versions of `api` the broker supports.
    pub fn range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// The highest version of `api` that the broker, kafkatx and the optional `cap` all allow.
    pub fn negotiate(&self, api: ApiKey, cap: Option<i16>) -> Option<i16> {
        let (broker_min, broker_max) = self.range(api)?;
        let (our_min, our_max) = our_range(api)?;
        let max = broker_max.min(our_max).min(cap.unwrap_or(i16::MAX));
        (max >= broker_min.max(our_min)).then_some(max)
    }

    /// The finalized (cluster-wide, in force) max level of a feature, as opposed to the level a
    /// broker merely supports.
    pub fn finalized_feature(&self, name: &str) -> Option<i16> {
        self.finalized.get(name).map(|&(_, max)| max)
    }

    /// The finalized `transaction.version`, 0 when the broker reports none (older Kafka,
    /// Redpanda): only 2 or more turns the KIP-890 protocol on.
    pub fn transaction_version(&self) -> i16 {
        self.finalized_feature(TRANSACTION_VERSION_FEATURE)
            .unwrap_or(0)
    }

    /// The epoch of the finalized features: a higher epoch seen elsewhere is newer information.
    pub fn finalized_features_epoch(&self) -> i64 {
        self.finalized_epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey};
    use crate::protocol::protocol::StrBytes;

    fn broker(produce: (i16, i16)) -> BrokerVersions {
        let resp = ApiVersionsResponse::default()
            .with_api_keys(vec![
                ApiVersion::default()
                    .with_api_key(ApiKey::Produce as i16)
                    .with_min_version(produce.0)
                    .with_max_version(produce.1),
            ])
            .with_finalized_features(vec![
                FinalizedFeatureKey::default()
                    .with_name(StrBytes::from_static_str("transaction.version"))
                    .with_min_version_level(0)
                    .with_max_version_level(2),
            ]);
        BrokerVersions::from_response(&resp)
    }

    #[test]
    fn negotiation_takes_the_highest_common_version_under_the_cap() {
        let b = broker((3, 13));
        assert_eq!(b.negotiate(ApiKey::Produce, None), Some(12));
        assert_eq!(b.negotiate(ApiKey::Produce, Some(11)), Some(11));
        assert_eq!(b.negotiate(ApiKey::Produce, Some(2)), None);
        assert_eq!(b.negotiate(ApiKey::Fetch, None), None, "broker lacks Fetch");
        assert_eq!(broker((0, 7)).negotiate(ApiKey::Produce, None), Some(7));
    }

    #[test]
    fn finalized_transaction_version_is_read_and_defaults_to_zero() {
        assert_eq!(broker((3, 13)).transaction_version(), 2);
        assert_eq!(BrokerVersions::default().transaction_version(), 0);
        assert_eq!(BrokerVersions::all_ours(2).transaction_version(), 2);
        assert_eq!(BrokerVersions::all_ours(0).transaction_version(), 0);
    }
}
