//! Percentiles and the summary of a run.

use std::collections::BTreeMap;
use std::time::Duration;

use super::outcome::{Outcome, RequestRecord};

/// The `q`-quantile (0 < q <= 1) of ascending `sorted` samples by the nearest-rank method:
/// the smallest sample such that at least `q` of all samples are at or below it.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // Float rounding must not push an exact rank up by one (0.9 * 10 = 9.000000000000002).
    let rank = (q * n as f64 - 1e-9).ceil().max(1.0) as usize;
    sorted.get(rank.min(n) - 1).copied()
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    /// Figures of `samples` (any order); zeros when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let ms = |q: f64| percentile(&samples, q).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        Self {
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            max_ms: ms(1.0),
        }
    }
}

/// What a run did, before any checking.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadSummary {
    /// Requests sent (or attempted).
    pub requests: u64,
    /// Answered 2xx.
    pub committed: u64,
    /// Failed with nothing written.
    pub failed: u64,
    /// Outcome unknown to the client.
    pub unknown: u64,
    /// Tries beyond the first (keyed retries of unknown outcomes).
    pub retries: u64,
    /// Wall time of the run in seconds.
    pub elapsed_secs: f64,
    /// Committed transactions per second of wall time.
    pub committed_per_sec: f64,
    /// Latency of the committed requests.
    pub committed_latency: Latency,
    /// Latency of every request that got an answer, failures included.
    pub answered_latency: Latency,
    /// Failures by kind (`503 saturated`, `500`, `timeout`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
}

impl LoadSummary {
    /// Summarises the records of a run that took `elapsed`.
    pub fn of(records: &[RequestRecord], elapsed: Duration) -> Self {
        let count = |o: Outcome| records.iter().filter(|r| r.outcome == o).count() as u64;
        let committed = count(Outcome::Committed);
        let mut errors_by_kind = BTreeMap::new();
        for kind in records.iter().filter_map(|r| r.error_kind.as_ref()) {
            *errors_by_kind.entry(kind.clone()).or_insert(0) += 1;
        }
        let secs = elapsed.as_secs_f64();
        Self {
            requests: records.len() as u64,
            committed,
            failed: count(Outcome::Failed),
            unknown: count(Outcome::Unknown),
            retries: records
                .iter()
                .map(|r| u64::from(r.attempts.saturating_sub(1)))
                .sum(),
            elapsed_secs: secs,
            committed_per_sec: if secs > 0.0 {
                committed as f64 / secs
            } else {
                0.0
            },
            committed_latency: Latency::of(
                records
                    .iter()
                    .filter(|r| r.outcome == Outcome::Committed)
                    .map(|r| r.latency)
                    .collect(),
            ),
            answered_latency: Latency::of(
                records
                    .iter()
                    .filter(|r| r.status.is_some())
                    .map(|r| r.latency)
                    .collect(),
            ),
            errors_by_kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let hundred = ms(1..=100);
        assert_eq!(percentile(&hundred, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&hundred, 0.9), Some(Duration::from_millis(90)));
        assert_eq!(percentile(&hundred, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&hundred, 1.0), Some(Duration::from_millis(100)));
        let ten = ms(1..=10);
        assert_eq!(percentile(&ten, 0.9), Some(Duration::from_millis(9)));
        assert_eq!(percentile(&ten, 0.99), Some(Duration::from_millis(10)));
        assert_eq!(percentile(&ms([7]), 0.01), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn latency_sorts_its_samples() {
        let latency = Latency::of(ms([30, 10, 20, 40]));
        assert_eq!(latency.p50_ms, 20.0);
        assert_eq!(latency.p90_ms, 40.0);
        assert_eq!(latency.max_ms, 40.0);
        assert_eq!(Latency::of(Vec::new()).p99_ms, 0.0);
    }

    #[test]
    fn summary_counts_outcomes_rate_and_error_kinds() {
        let record = |number, outcome, status, kind: Option<&str>, latency_ms| RequestRecord {
            number,
            status,
            outcome,
            error_kind: kind.map(str::to_owned),
            latency: Duration::from_millis(latency_ms),
            attempts: 1,
            sent_at: Duration::ZERO,
            target: 0,
        };
        let records = vec![
            record(0, Outcome::Committed, Some(200), None, 10),
            record(1, Outcome::Committed, Some(200), None, 30),
            record(2, Outcome::Failed, Some(503), Some("503 saturated"), 1),
            record(3, Outcome::Failed, Some(503), Some("503 saturated"), 1),
            record(4, Outcome::Unknown, None, Some("timeout"), 5000),
        ];
        let summary = LoadSummary::of(&records, Duration::from_secs(2));
        assert_eq!(
            (
                summary.requests,
                summary.committed,
                summary.failed,
                summary.unknown
            ),
            (5, 2, 2, 1)
        );
        assert_eq!(summary.committed_per_sec, 1.0);
        assert_eq!(summary.committed_latency.max_ms, 30.0);
        assert_eq!(summary.committed_latency.p50_ms, 10.0);
        // The timeout got no answer, so it is not in the answered latencies.
        assert_eq!(summary.answered_latency.max_ms, 30.0);
        assert_eq!(summary.errors_by_kind.get("503 saturated"), Some(&2));
        assert_eq!(summary.errors_by_kind.get("timeout"), Some(&1));
    }
}
