//! Scenario tests of the sans-IO core against a fake cluster in virtual time.

mod classify_table;
mod driver;
mod fake_cluster;
mod fake_coordinator;
mod fake_group;
mod fake_log;
mod harness;
mod randomized;
mod scenarios_basic;
mod scenarios_faults;
mod scenarios_keyless;
mod scenarios_offsets;
mod scenarios_offsets_rows;
mod scenarios_partitions;
mod scenarios_rows;
