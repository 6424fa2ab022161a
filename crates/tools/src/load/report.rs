//! The printed result of `kafkatx load`: text for people, one JSON object for scripts.

use std::fmt::{self, Write as _};

use super::checker::{ReaderDiff, Verdict};
use super::stats::{Latency, LoadSummary};

/// The check's findings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CheckReport {
    /// The topic read back (several, comma separated, for the transactions endpoint).
    pub topic: String,
    /// Judgement of what our reader saw.
    pub kafkatx_reader: Verdict,
    /// Judgement of what `kcat` saw.
    pub kcat_reader: Verdict,
    /// How the two readers' views of this run's messages differ.
    pub reader_diff: ReaderDiff,
}

impl CheckReport {
    /// True when neither reader saw an anomaly and both saw the same messages.
    pub fn passed(&self) -> bool {
        self.kafkatx_reader.anomalies() == 0
            && self.kcat_reader.anomalies() == 0
            && self.reader_diff.agree()
    }
}

/// Everything `kafkatx load` reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// Base URL driven.
    pub url: String,
    /// Endpoint name (`errors`, `warnings`, `records`).
    pub endpoint: String,
    /// Connections used.
    pub connections: usize,
    /// Prefix of this run's request ids; the check judges only messages carrying it.
    pub run_id: String,
    /// The load's figures.
    pub summary: LoadSummary,
    /// The check, when `--check` was given.
    pub check: Option<CheckReport>,
    /// Requests carried idempotency keys and unknown outcomes were retried.
    pub keyed: bool,
}

impl LoadReport {
    /// False when the check found an anomaly or the readers disagreed, or when keyed retries
    /// left an outcome unknown.
    pub fn passed(&self) -> bool {
        self.check.as_ref().is_none_or(CheckReport::passed)
            && !(self.keyed && self.check.is_some() && self.summary.unknown > 0)
    }
}

fn latency_line(latency: &Latency) -> String {
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms
    )
}

fn verdict_lines(out: &mut String, reader: &str, v: &Verdict) -> fmt::Result {
    writeln!(
        out,
        "  {reader}: {} anomalies (partial {}, lost {}, visible after failure {}, duplicated {}, from nowhere {}, out of order {}); \
         {} run messages, {} of other runs ignored; ok: {} committed, {} failed; unknown outcome: {} visible, {} absent",
        v.anomalies(),
        v.partial,
        v.lost,
        v.visible_after_failure,
        v.duplicated,
        v.from_nowhere,
        v.out_of_order,
        v.run_messages,
        v.ignored_messages,
        v.committed_ok,
        v.failed_ok,
        v.unknown_visible,
        v.unknown_absent
    )?;
    for example in &v.examples {
        writeln!(out, "    {example}")?;
    }
    Ok(())
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        let mut out = String::new();
        writeln!(
            out,
            "{} {} over {} connections, run id {}: {} requests in {:.2} s",
            self.url, self.endpoint, self.connections, self.run_id, s.requests, s.elapsed_secs
        )?;
        writeln!(
            out,
            "committed {} ({:.1} txns/s), failed {}, unknown outcome {}",
            s.committed, s.committed_per_sec, s.failed, s.unknown
        )?;
        if self.keyed {
            writeln!(
                out,
                "idempotency keys: {} retries with the same key{}",
                s.retries,
                if s.unknown > 0 && self.check.is_some() {
                    "; outcomes left unknown: FAILED"
                } else {
                    ""
                }
            )?;
        }
        writeln!(
            out,
            "latency of committed: {}",
            latency_line(&s.committed_latency)
        )?;
        writeln!(
            out,
            "latency of answered:  {}",
            latency_line(&s.answered_latency)
        )?;
        if s.errors_by_kind.is_empty() {
            writeln!(out, "errors: none")?;
        } else {
            let kinds: Vec<String> = s
                .errors_by_kind
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect();
            writeln!(out, "errors: {}", kinds.join(", "))?;
        }
        if let Some(check) = &self.check {
            writeln!(
                out,
                "check of {} (read_committed; only messages whose id starts with {}- are judged):",
                check.topic, self.run_id
            )?;
            verdict_lines(&mut out, "kafkatx reader", &check.kafkatx_reader)?;
            verdict_lines(&mut out, "kcat reader", &check.kcat_reader)?;
            let diff = &check.reader_diff;
            if diff.agree() {
                writeln!(out, "  readers agree")?;
            } else {
                writeln!(
                    out,
                    "  readers DISAGREE: {} messages only kafkatx saw, {} only kcat saw",
                    diff.only_first, diff.only_second
                )?;
            }
            writeln!(
                out,
                "check: {}",
                if check.passed() { "PASSED" } else { "FAILED" }
            )?;
        }
        f.write_str(out.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn report(check: Option<CheckReport>) -> LoadReport {
        let latency = Latency {
            p50_ms: 1.0,
            p90_ms: 2.0,
            p99_ms: 3.0,
            max_ms: 4.0,
        };
        LoadReport {
            url: "http://h:1".into(),
            endpoint: "errors".into(),
            connections: 4,
            run_id: "r1".into(),
            summary: LoadSummary {
                requests: 10,
                committed: 9,
                failed: 1,
                unknown: 0,
                retries: 0,
                elapsed_secs: 1.0,
                committed_per_sec: 9.0,
                committed_latency: latency,
                answered_latency: latency,
                errors_by_kind: BTreeMap::from([("503 saturated".to_owned(), 1)]),
            },
            check,
            keyed: false,
        }
    }

    #[test]
    fn text_and_json_carry_the_figures_and_the_verdict() {
        let clean = CheckReport {
            topic: "t".into(),
            kafkatx_reader: Verdict::default(),
            kcat_reader: Verdict::default(),
            reader_diff: ReaderDiff::default(),
        };
        let passed = report(Some(clean.clone()));
        assert!(passed.passed());
        let text = passed.to_string();
        assert!(text.contains("committed 9 (9.0 txns/s)"), "{text}");
        assert!(text.contains("503 saturated: 1"), "{text}");
        assert!(text.contains("check: PASSED"), "{text}");
        let json = serde_json::to_value(&passed).unwrap();
        assert_eq!(json["summary"]["committed_latency"]["p99_ms"], 3.0);
        assert_eq!(json["check"]["kcat_reader"]["lost"], 0);

        let disagreeing = report(Some(CheckReport {
            reader_diff: ReaderDiff {
                only_first: 1,
                only_second: 0,
            },
            ..clean.clone()
        }));
        assert!(!disagreeing.passed());
        assert!(disagreeing.to_string().contains("readers DISAGREE"));

        let lost = report(Some(CheckReport {
            kcat_reader: Verdict {
                lost: 2,
                ..Verdict::default()
            },
            ..clean
        }));
        assert!(!lost.passed());
        assert!(lost.to_string().contains("check: FAILED"));
        assert!(report(None).passed());
    }
}
