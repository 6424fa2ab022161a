//! Which API versions the machine uses: the brokers' advertised ranges (learned from the
//! driver) intersected with our caps, and the KIP-890 / KIP-360 capability checks.

use std::collections::HashMap;

use kafkatx_wire::BrokerVersions;
use kafkatx_wire::protocol::messages::ApiKey;

use super::TxnMachine;
use crate::types::Destination;

/// Produce cap without KIP-890: v12 would make the broker add partitions implicitly.
pub(super) const PRODUCE_CAP_TV1: i16 = 11;
/// Produce cap with KIP-890: never v13, it needs topic ids.
pub(super) const PRODUCE_CAP_TV2: i16 = 12;
/// EndTxn cap without KIP-890 (v5 bumps the epoch).
pub(super) const END_TXN_CAP_TV1: i16 = 4;
/// TxnOffsetCommit cap without KIP-890: v5 makes the group coordinator add the offsets
/// partition to the transaction itself.
pub(super) const TXN_OFFSET_COMMIT_CAP_TV1: i16 = 4;
/// FindCoordinator cap: v4+ replaces the single `key` by a batch.
pub(super) const FIND_COORDINATOR_CAP: i16 = 3;
/// AddPartitionsToTxn cap: v4+ is the broker-to-broker form.
pub(super) const ADD_PARTITIONS_CAP: i16 = 3;

/// API versions per broker address, plus the cluster-wide view used when a broker's own
/// answer is not known yet.
#[derive(Debug, Default)]
pub(super) struct VersionBook {
    by_address: HashMap<String, BrokerVersions>,
    cluster: Option<BrokerVersions>,
}

impl VersionBook {
    /// Remember what `address` supports. The cluster view follows the newest finalized
    /// features (a higher features epoch is newer information).
    pub(super) fn record(&mut self, address: &str, versions: BrokerVersions) {
        let newer = self
            .cluster
            .as_ref()
            .is_none_or(|c| versions.finalized_features_epoch() >= c.finalized_features_epoch());
        if newer {
            self.cluster = Some(versions.clone());
        }
        self.by_address.insert(address.to_owned(), versions);
    }

    /// At least one broker answered ApiVersions.
    pub(super) fn any_known(&self) -> bool {
        self.cluster.is_some()
    }

    /// The cluster-wide view.
    pub(super) fn cluster(&self) -> Option<&BrokerVersions> {
        self.cluster.as_ref()
    }

    fn for_destination(&self, destination: &Destination) -> Option<&BrokerVersions> {
        match destination {
            Destination::AnyBroker => self.cluster.as_ref(),
            Destination::Broker { address, .. } => {
                self.by_address.get(address).or(self.cluster.as_ref())
            }
        }
    }

    /// Version for a request to `destination`.
    pub(super) fn negotiate(
        &self,
        destination: &Destination,
        api: ApiKey,
        cap: Option<i16>,
    ) -> Option<i16> {
        self.for_destination(destination)?.negotiate(api, cap)
    }

    /// Version for a request to any broker.
    pub(super) fn negotiate_any(&self, api: ApiKey, cap: Option<i16>) -> Option<i16> {
        self.cluster.as_ref()?.negotiate(api, cap)
    }
}

impl TxnMachine {
    /// KIP-890 only when the feature is *finalized* at level 2+ and the versions exist
    /// (KIP-890, KIP-584 features; inferring it from API versions alone broke franz-go,
    /// twmb/franz-go#1017).
    pub(super) fn tv2_available(&self) -> bool {
        let Some(cluster) = self.versions.cluster() else {
            return false;
        };
        let max = |api| cluster.range(api).map_or(-1, |(_, max)| max);
        self.is_transactional()
            && cluster.transaction_version() >= 2
            && max(ApiKey::Produce) >= PRODUCE_CAP_TV2
            && max(ApiKey::EndTxn) >= 5
    }

    /// Offsets may skip AddOffsetsToTxn: KIP-890 is in effect and the brokers speak
    /// TxnOffsetCommit v5 (franz-go checks the version too: a TV2 cluster whose brokers lack
    /// it still needs AddOffsetsToTxn).
    pub(super) fn offsets_added_by_group_coordinator(&self) -> bool {
        self.txn.tv2()
            && self
                .versions
                .cluster()
                .and_then(|c| c.range(ApiKey::TxnOffsetCommit))
                .is_some_and(|(_, max)| max >= 5)
    }

    /// KIP-360: InitProducerId v3+ accepts the current id/epoch and bumps the epoch.
    pub(super) fn can_bump_epoch(&self) -> bool {
        self.versions
            .cluster()
            .and_then(|c| c.range(ApiKey::InitProducerId))
            .is_some_and(|(_, max)| max >= 3)
    }

    /// The Produce cap for the current mode.
    pub(super) fn produce_cap(&self) -> Option<i16> {
        match (self.is_transactional(), self.txn.tv2()) {
            (true, false) => Some(PRODUCE_CAP_TV1),
            _ => Some(PRODUCE_CAP_TV2),
        }
    }
}
