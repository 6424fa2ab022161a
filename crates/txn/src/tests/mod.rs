//! Scenario tests of the sans-IO core against a fake cluster in virtual time.

mod classify_table;
mod codes;
#[cfg(feature = "runtime")]
mod driver;
mod fake_cluster;
mod fake_coordinator;
mod fake_group;
mod fake_log;
mod harness;
mod randomized;
mod scenarios_basic;
mod scenarios_close;
mod scenarios_faults;
mod scenarios_keyless;
mod scenarios_leader_hint;
mod scenarios_limits;
mod scenarios_offsets;
mod scenarios_offsets_rows;
mod scenarios_partitions;
mod scenarios_refusals;
mod scenarios_resume;
mod scenarios_rows;
mod scenarios_sequence_gaps;
mod scenarios_settle;
