//! A producer reused right after its commit, against a coordinator that needs a few
//! milliseconds to complete a transaction after answering its EndTxn (as Kafka's does: the
//! markers are written after the answer). The next transaction's first add must not keep
//! running into that window: classic AddPartitionsToTxn answered CONCURRENT_TRANSACTIONS,
//! or a KIP-890 Produce held 20 ms by the leader.

use std::time::{Duration, Instant};

use super::fake_cluster::{CLASSIC, KIP_890};
use super::harness::{Harness, txn_config};
use crate::state::TxnState;

const TRANSACTIONS: u32 = 100;

/// Runs `TRANSACTIONS` back-to-back transactions of two records each; returns the virtual
/// time they took.
fn back_to_back(h: &mut Harness) -> Duration {
    let started: Instant = h.now;
    for i in 0..TRANSACTIONS {
        let result = h.transaction(&[(0, &format!("a{i}")), (0, &format!("b{i}"))], true);
        assert_eq!(result, Some(Ok(())), "transaction {i}: {:?}", h.events);
        assert_eq!(h.m.state(), TxnState::Ready);
    }
    assert_eq!(h.committed()[0].len(), 2 * TRANSACTIONS as usize);
    h.now - started
}

fn harness(transaction_version: i16, completion_ms: u64) -> Harness {
    let mut h = Harness::single_broker(txn_config(), transaction_version);
    h.cluster.completion_time = Duration::from_millis(completion_ms);
    h.init_ok();
    h
}

#[test]
fn kip890_a_reused_producer_learns_to_wait_for_the_markers_instead_of_being_held() {
    let mut h = harness(KIP_890, 3);
    let took = back_to_back(&mut h);
    // Without the learned pause every transaction's first Produce arrives 1 ms after the
    // EndTxn answer, inside the 3 ms window, and is held 20 ms: 100 of 100, over 2 s.
    assert!(
        h.cluster.held_produces <= 10,
        "{} of {TRANSACTIONS} first Produce requests held",
        h.cluster.held_produces
    );
    assert!(took < Duration::from_millis(900), "took {took:?}");
}

#[test]
fn classic_a_reused_producer_learns_to_wait_before_adding_partitions() {
    let mut h = harness(CLASSIC, 3);
    let took = back_to_back(&mut h);
    assert!(
        h.cluster.refused_adds <= 10,
        "{} of {TRANSACTIONS} first AddPartitionsToTxn refused",
        h.cluster.refused_adds
    );
    assert!(took < Duration::from_millis(1100), "took {took:?}");
}

#[test]
fn a_coordinator_that_completes_at_once_costs_no_wait() {
    for tv in [CLASSIC, KIP_890] {
        let mut h = harness(tv, 0);
        let took = back_to_back(&mut h);
        assert_eq!(h.cluster.held_produces + h.cluster.refused_adds, 0);
        // 1 ms per round trip: TV2 Produce + EndTxn, TV1 AddPartitions + Produce + EndTxn,
        // plus the first transaction's metadata.
        let round_trips = if tv == KIP_890 { 2 } else { 3 };
        let bound = Duration::from_millis(u64::from(TRANSACTIONS) * round_trips + 10);
        assert!(took <= bound, "TV{tv}: took {took:?}, bound {bound:?}");
    }
}
