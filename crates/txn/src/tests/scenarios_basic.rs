//! Happy paths under both protocols.

use kafkatx_wire::protocol::messages::ApiKey;

use std::time::Duration;

use super::fake_cluster::{CLASSIC, FakeCluster, KIP_890};
use super::harness::{Harness, txn_config};
use crate::config::Compression;
use crate::error::Operation;
use crate::state::TxnState;
use crate::types::ProducerRecord;
use crate::types::Request;

#[test]
fn tv1_commit_is_visible_and_uses_classic_requests() {
    let mut h = Harness::brokers(3, txn_config(), CLASSIC);
    h.init_ok();
    assert!(!h.m.uses_tv2());
    h.m.begin(h.now).unwrap();
    h.send(0, "a");
    // The first record waits for the topic's metadata (1 ms away), then its partition is
    // added at once; partitions touched while that request is in flight are batched into one
    // request.
    h.advance(Duration::from_millis(1));
    assert_eq!(h.cluster.received_of(ApiKey::AddPartitionsToTxn).len(), 1);
    for (partition, value) in [(1, "b"), (0, "c"), (2, "d")] {
        h.send(partition, value);
    }
    h.m.commit(h.now).unwrap();
    h.settle();
    let result = h.op_result(Operation::Commit);
    assert_eq!(result, Some(Ok(())), "{:?}", h.events);
    assert_eq!(h.committed(), vec![vec!["a", "c"], vec!["b"], vec!["d"]]);
    let adds = h.cluster.received_of(ApiKey::AddPartitionsToTxn);
    assert_eq!(adds.len(), 2);
    let Request::AddPartitionsToTxn(add) = &adds[1].1 else {
        unreachable!()
    };
    assert_eq!(add.v3_and_below_topics[0].partitions, vec![1, 2]);
    assert!(
        h.cluster
            .received_of(ApiKey::Produce)
            .iter()
            .all(|(_, _, v)| *v <= 11)
    );
    assert!(
        h.cluster
            .received_of(ApiKey::EndTxn)
            .iter()
            .all(|(_, _, v)| *v <= 4)
    );
    assert_eq!(h.m.state(), TxnState::Ready);
}

#[test]
fn tv2_commit_is_visible_without_add_partitions_and_bumps_epoch() {
    let mut h = Harness::brokers(3, txn_config(), KIP_890);
    h.init_ok();
    assert!(h.m.uses_tv2());
    let epoch_before = h.m.identity().unwrap().epoch;
    let result = h.transaction(&[(0, "a"), (2, "b")], true);
    assert_eq!(result, Some(Ok(())), "{:?}", h.events);
    assert_eq!(h.committed(), vec![vec!["a"], vec![], vec!["b"]]);
    assert!(h.cluster.received_of(ApiKey::AddPartitionsToTxn).is_empty());
    assert!(
        h.cluster
            .received_of(ApiKey::Produce)
            .iter()
            .all(|(_, _, v)| *v == 12)
    );
    assert!(
        h.cluster
            .received_of(ApiKey::EndTxn)
            .iter()
            .all(|(_, _, v)| *v == 5)
    );
    assert_eq!(h.m.identity().unwrap().epoch, epoch_before + 1);
    // Sequences restart under the new epoch: a second transaction succeeds.
    assert_eq!(h.transaction(&[(0, "c")], true), Some(Ok(())));
    assert_eq!(h.committed()[0], vec!["a", "c"]);
}

#[test]
fn abort_is_invisible_under_both_protocols() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::brokers(2, txn_config(), tv);
        h.init_ok();
        h.m.begin(h.now).unwrap();
        h.send(0, "x");
        h.send(1, "y");
        h.settle();
        assert_eq!(
            h.record_outcomes().0.len(),
            2,
            "tv{tv}: records acked before the abort"
        );
        h.m.abort(h.now).unwrap();
        h.settle();
        assert_eq!(
            h.op_result(Operation::Abort),
            Some(Ok(())),
            "tv{tv}: {:?}",
            h.events
        );
        assert_eq!(h.transaction(&[(0, "z")], true), Some(Ok(())), "tv{tv}");
        assert_eq!(h.committed(), vec![vec!["z"], vec![], vec![]], "tv{tv}");
        assert_eq!(
            h.cluster.all_values("t", 0).len(),
            2,
            "tv{tv}: aborted data is in the log"
        );
    }
}

#[test]
fn empty_transaction_sends_nothing() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::single_broker(txn_config(), tv);
        h.init_ok();
        let before = h.cluster.received.len();
        assert_eq!(h.transaction(&[], true), Some(Ok(())));
        assert_eq!(h.transaction(&[], false), Some(Ok(())));
        let after: Vec<_> = h.cluster.received[before..]
            .iter()
            .filter(|(_, r, _)| !matches!(r, Request::Metadata(_)))
            .collect();
        assert!(after.is_empty(), "tv{tv}: {after:?}");
    }
}

#[test]
fn many_transactions_back_to_back() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = Harness::brokers(3, txn_config(), tv);
        h.init_ok();
        for n in 0..50 {
            let value = format!("v{n}");
            assert_eq!(
                h.transaction(&[(n % 3, value.as_str())], n % 5 != 4),
                Some(Ok(())),
                "tv{tv} txn {n}"
            );
        }
        let committed: usize = h.committed().iter().map(Vec::len).sum();
        assert_eq!(committed, 40, "tv{tv}");
        assert_eq!(h.metrics.snapshot().commits, 40);
        assert_eq!(h.metrics.snapshot().aborts, 10);
    }
}

#[test]
fn upgrade_to_tv2_happens_at_a_transaction_boundary_after_an_epoch_bump() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    h.send(0, "classic");
    h.settle();
    // The cluster finalizes transaction.version=2 mid-transaction.
    h.cluster.transaction_version = KIP_890;
    for node in h.cluster.nodes() {
        h.m.handle_broker_versions(h.now, &FakeCluster::address(node), h.cluster.versions());
    }
    assert!(!h.m.uses_tv2(), "never switch mid-transaction");
    let epoch = h.m.identity().unwrap().epoch;
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(
        h.op_result(Operation::Commit),
        Some(Ok(())),
        "{:?}",
        h.events
    );
    assert!(
        h.cluster
            .received_of(ApiKey::EndTxn)
            .iter()
            .all(|(_, _, v)| *v <= 4)
    );
    assert!(h.m.uses_tv2());
    assert_eq!(
        h.m.identity().unwrap().epoch,
        epoch + 1,
        "bumped before the first TV2 transaction"
    );
    assert_eq!(h.transaction(&[(0, "kip-890")], true), Some(Ok(())));
    assert!(
        h.cluster
            .received_of(ApiKey::Produce)
            .last()
            .is_some_and(|(_, _, v)| *v == 12)
    );
    assert_eq!(h.committed()[0], vec!["classic", "kip-890"]);
}

#[test]
fn records_are_batched_by_linger_and_batch_size_with_compression() {
    let config = txn_config()
        .linger(Duration::from_millis(50))
        .batch_size(400)
        .compression(Compression::Gzip);
    let mut h = Harness::single_broker(config, KIP_890);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    for n in 0..10 {
        h.send(0, &format!("small-{n}"));
    }
    h.advance(Duration::from_millis(40));
    assert!(
        h.cluster.received_of(ApiKey::Produce).is_empty(),
        "still lingering"
    );
    h.advance(Duration::from_millis(20));
    assert_eq!(
        h.cluster.received_of(ApiKey::Produce).len(),
        1,
        "one batch after linger.ms"
    );
    // 40 records of ~60 bytes do not fit one 400-byte batch.
    for n in 0..40 {
        h.send(
            1,
            &format!("a-longer-value-that-fills-batches-quickly-{n:02}"),
        );
    }
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
    let batches = h.cluster.received_of(ApiKey::Produce).len();
    assert!(batches >= 5, "split by batch.size: {batches}");
    assert_eq!(h.committed()[1].len(), 40);
    assert_eq!(h.committed()[0].len(), 10);
}

#[test]
fn records_for_a_missing_topic_expire_and_make_the_transaction_abortable() {
    let config = txn_config()
        .request_timeout(Duration::from_secs(1))
        .delivery_timeout(Duration::from_secs(3));
    let mut h = Harness::single_broker(config, CLASSIC);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    let token =
        h.m.send(h.now, ProducerRecord::new("missing", "x"))
            .unwrap();
    h.advance(Duration::from_secs(4));
    assert_eq!(h.m.state(), TxnState::AbortableError);
    assert_eq!(h.record_outcomes().1, vec![token]);
    h.m.abort(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Abort), Some(Ok(())));
}

#[test]
fn metadata_is_refreshed_periodically() {
    let mut h = Harness::single_broker(txn_config(), CLASSIC);
    h.init_ok();
    let before = h.cluster.received_of(ApiKey::Metadata).len();
    h.advance(Duration::from_secs(301));
    assert_eq!(h.cluster.received_of(ApiKey::Metadata).len(), before + 1);
}

#[test]
fn a_record_with_a_known_partition_does_not_overtake_one_waiting_for_metadata() {
    let mut h = Harness::single_broker(txn_config(), KIP_890);
    h.init_ok();
    h.m.begin(h.now).unwrap();
    // A key that lands on partition 0 of "t" (3 partitions), sent before the machine knows the
    // topic's partition count; then a record for partition 0 given explicitly.
    let key = (0..)
        .map(|n| format!("key-{n}"))
        .find(|k| crate::partitioner::partition_for_key(k.as_bytes(), 3) == 0)
        .unwrap();
    h.m.send(h.now, ProducerRecord::new("t", "first").with_key(key))
        .unwrap();
    h.send(0, "second");
    h.m.commit(h.now).unwrap();
    h.settle();
    assert_eq!(h.op_result(Operation::Commit), Some(Ok(())));
    assert_eq!(h.committed()[0], ["first", "second"], "call order kept");
}
