//! KIP-951: a broker that refuses a Produce because it is no longer the leader names the
//! current leader (and its address) in the answer; the batch goes there at once instead of
//! after a Metadata round trip and a retry backoff.

use std::time::Duration;

use kafkatx_wire::protocol::messages::ApiKey;

use super::fake_cluster::{CLASSIC, FakeCluster, KIP_890};
use super::harness::{Harness, txn_config};

/// Commits "a", moves partition 0's leader to broker 1, commits "b"; returns how long the
/// second transaction took and how many Metadata requests it needed.
fn leader_moves_between_transactions(tv: i16, hints: bool) -> (Duration, usize, Harness) {
    let mut cluster = FakeCluster::new(2, tv);
    cluster.create_topic("t", 1);
    cluster.leader_hints = hints;
    let mut h = Harness::with_cluster(txn_config().linger(Duration::ZERO), cluster);
    h.init_ok();
    assert_eq!(h.transaction(&[(0, "a")], true), Some(Ok(())));
    h.cluster.move_leader("t", 0, 1);
    let metadata_before = h.cluster.received_of(ApiKey::Metadata).len();
    let started = h.now;
    assert_eq!(h.transaction(&[(0, "b")], true), Some(Ok(())), "TV{tv}");
    let metadata = h.cluster.received_of(ApiKey::Metadata).len() - metadata_before;
    assert_eq!(h.committed()[0], vec!["a", "b"], "TV{tv}");
    (h.now - started, metadata, h)
}

#[test]
fn the_leader_named_in_a_refusal_gets_the_batch_at_once() {
    for tv in [CLASSIC, KIP_890] {
        let (took, metadata, h) = leader_moves_between_transactions(tv, true);
        assert_eq!(metadata, 0, "TV{tv}: no Metadata request needed");
        assert!(took < Duration::from_millis(20), "TV{tv}: took {took:?}");
        let produces = h.cluster.received_of(ApiKey::Produce);
        assert_eq!(produces.last().map(|(node, _, _)| *node), Some(1), "TV{tv}");
    }
}

#[test]
fn without_a_hint_the_batch_waits_for_metadata_and_a_backoff() {
    for tv in [CLASSIC, KIP_890] {
        let (took, metadata, _) = leader_moves_between_transactions(tv, false);
        assert!(metadata >= 1, "TV{tv}");
        assert!(took >= Duration::from_millis(50), "TV{tv}: took {took:?}");
    }
}
