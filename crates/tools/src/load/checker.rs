//! The exactly-once judgement: compares what each request was told with what a read_committed
//! reader sees in the topic.
//!
//! Anomalies, each counted once per request (a request falls in at most one of the first
//! three) or per message:
//! - `partial`: some but not all of a request's messages are visible (a transaction partly
//!   visible), whatever the answer was;
//! - `lost`: a request answered 2xx has none of its messages;
//! - `visible_after_failure`: a request that failed with "nothing written" has its messages;
//! - `duplicated`: a request has some message more than once;
//! - `from_nowhere`: a message with this run's prefix that no request of the run wrote (unknown
//!   number, wrong tag, part out of range, malformed id);
//! - `out_of_order`: a request whose messages break per-partition order: two of its own messages
//!   in one partition in the wrong order, or a message of it before a message of a request that
//!   was answered 2xx before it was even sent (that request's transaction was committed, so its
//!   offsets were taken, before this one's records were produced).
//!
//! Requests whose outcome the client cannot know (timeouts, 502 `outcome_unknown`) may be all
//! visible or all absent; both are counted for information, not as anomalies.

use std::collections::HashMap;
use std::time::Duration;

use super::ids::{IdMatch, RunId, parse_value};
use super::outcome::{Outcome, RequestRecord};

/// One message as a reader returned it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadMessage {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// The value as text (`None` for a null value).
    pub value: Option<String>,
}

/// What every request of the run should have written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The run whose messages are judged; others are ignored.
    pub run: RunId,
    /// The value tag of the endpoint (`err`, `war`, `rec`).
    pub tag: String,
    /// Messages per request, numbered 1..=parts.
    pub parts: u32,
}

/// The judgement of one reader's view.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// Messages of this run that were judged.
    pub run_messages: u64,
    /// Messages of other runs (or not in the load's format), ignored.
    pub ignored_messages: u64,
    /// 2xx requests with all their messages exactly once.
    pub committed_ok: u64,
    /// Failed requests with none of their messages.
    pub failed_ok: u64,
    /// Unknown-outcome requests with all their messages.
    pub unknown_visible: u64,
    /// Unknown-outcome requests with none of their messages.
    pub unknown_absent: u64,
    /// Anomaly: a request partly visible.
    pub partial: u64,
    /// Anomaly: a 2xx request with nothing visible.
    pub lost: u64,
    /// Anomaly: a failed request whose messages are visible.
    pub visible_after_failure: u64,
    /// Anomaly: requests with a message visible more than once.
    pub duplicated: u64,
    /// Anomaly: messages that no request of the run wrote.
    pub from_nowhere: u64,
    /// Anomaly: requests whose messages break per-partition order.
    pub out_of_order: u64,
    /// The first anomalies found, with the request ids and positions involved (evidence).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// How many anomalies a verdict describes in `examples`.
const MAX_EXAMPLES: usize = 20;

impl Verdict {
    /// Total anomalies; zero means the run was exactly-once.
    pub fn anomalies(&self) -> u64 {
        self.partial
            + self.lost
            + self.visible_after_failure
            + self.duplicated
            + self.from_nowhere
            + self.out_of_order
    }

    fn example(&mut self, text: impl FnOnce() -> String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(text());
        }
    }
}

/// The messages of `messages` that carry an id of `run`, in (partition, offset) order: what two
/// readers must agree on.
pub fn run_messages(run: &RunId, messages: &[ReadMessage]) -> Vec<ReadMessage> {
    let mut ours: Vec<ReadMessage> = messages
        .iter()
        .filter(|m| {
            m.value
                .as_deref()
                .and_then(parse_value)
                .is_some_and(|v| run.classify(v.user) != IdMatch::OtherRun)
        })
        .cloned()
        .collect();
    ours.sort_unstable();
    ours
}

/// Where one message of a request was read.
#[derive(Debug, Clone, Copy)]
struct Position<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    part: u32,
}

/// Judges `requests` against `messages` read back with read_committed.
pub fn judge(
    expect: &Expectation,
    requests: &[RequestRecord],
    messages: &[ReadMessage],
) -> Verdict {
    let mut verdict = Verdict::default();
    let by_number: HashMap<u64, &RequestRecord> = requests.iter().map(|r| (r.number, r)).collect();
    let slots = usize::try_from(expect.parts).unwrap_or(0);
    // For each request number, how often each of its parts was seen, and where.
    let mut seen: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut positions: HashMap<u64, Vec<Position<'_>>> = HashMap::new();
    for message in messages {
        let Some(parsed) = message.value.as_deref().and_then(parse_value) else {
            verdict.ignored_messages += 1;
            continue;
        };
        let number = match expect.run.classify(parsed.user) {
            IdMatch::OtherRun => {
                verdict.ignored_messages += 1;
                continue;
            }
            IdMatch::Malformed => None,
            IdMatch::Request(n) => Some(n),
        };
        verdict.run_messages += 1;
        let slot = parsed
            .part
            .checked_sub(1)
            .and_then(|p| usize::try_from(p).ok());
        let known = number.filter(|n| by_number.contains_key(n) && parsed.tag == expect.tag);
        let counter = known.zip(slot).and_then(|(n, slot)| {
            seen.entry(n)
                .or_insert_with(|| vec![0; slots])
                .get_mut(slot)
        });
        match (counter, known) {
            (Some(count), Some(n)) => {
                *count += 1;
                positions.entry(n).or_default().push(Position {
                    topic: &message.topic,
                    partition: message.partition,
                    offset: message.offset,
                    part: parsed.part,
                });
            }
            _ => {
                verdict.from_nowhere += 1;
                verdict.example(|| {
                    format!(
                        "from nowhere: {:?} at {}/{}@{}",
                        message.value, message.topic, message.partition, message.offset
                    )
                });
            }
        }
    }
    for request in requests {
        let counts = seen.get(&request.number);
        let visible = counts.map_or(0, |c| c.iter().filter(|n| **n > 0).count());
        let id = || expect.run.request_id(request.number);
        if counts.is_some_and(|c| c.iter().any(|n| *n > 1)) {
            verdict.duplicated += 1;
            verdict.example(|| format!("duplicated: {}", id()));
        }
        let all = visible == slots;
        match (request.outcome, visible) {
            (_, v) if v > 0 && !all => {
                verdict.partial += 1;
                verdict.example(|| {
                    format!(
                        "partial: {} ({:?}, {v} of {slots} parts visible)",
                        id(),
                        request.status
                    )
                });
            }
            (Outcome::Committed, 0) => {
                verdict.lost += 1;
                verdict.example(|| format!("lost: {} (answered {:?})", id(), request.status));
            }
            (Outcome::Committed, _) => verdict.committed_ok += 1,
            (Outcome::Failed, 0) => verdict.failed_ok += 1,
            (Outcome::Failed, _) => {
                verdict.visible_after_failure += 1;
                verdict.example(|| {
                    format!(
                        "visible after failure: {} ({:?} {:?})",
                        id(),
                        request.status,
                        request.error_kind
                    )
                });
            }
            (Outcome::Unknown, 0) => verdict.unknown_absent += 1,
            (Outcome::Unknown, _) => verdict.unknown_visible += 1,
        }
    }
    judge_order(expect, &by_number, &positions, &mut verdict);
    verdict
}

/// The order rule, per partition: a request's own messages in part order, and every message of
/// a request after every message of each request answered 2xx before it was sent.
fn judge_order(
    expect: &Expectation,
    by_number: &HashMap<u64, &RequestRecord>,
    positions: &HashMap<u64, Vec<Position<'_>>>,
    verdict: &mut Verdict,
) {
    // Per (topic, partition): (answered at, last offset) of committed requests, and
    // (sent at, first offset, number) of every visible request.
    type Partition<'a> = (&'a str, i32);
    let mut answered: HashMap<Partition<'_>, Vec<(Duration, i64, u64)>> = HashMap::new();
    let mut sent: HashMap<Partition<'_>, Vec<(Duration, i64, u64)>> = HashMap::new();
    let mut offenders: Vec<u64> = Vec::new();
    let mut numbers: Vec<&u64> = positions.keys().collect();
    numbers.sort_unstable();
    for number in numbers {
        let (Some(request), Some(found)) = (by_number.get(number), positions.get(number)) else {
            continue;
        };
        let mut per_partition: HashMap<Partition<'_>, Vec<(i64, u32)>> = HashMap::new();
        for p in found {
            per_partition
                .entry((p.topic, p.partition))
                .or_default()
                .push((p.offset, p.part));
        }
        let mut own_order_broken = false;
        for (partition, mut here) in per_partition {
            here.sort_unstable();
            if here.windows(2).any(|w| matches!(w, [a, b] if a.1 > b.1)) {
                own_order_broken = true;
            }
            let first = here.first().map_or(i64::MAX, |h| h.0);
            let last = here.last().map_or(i64::MIN, |h| h.0);
            if request.outcome == Outcome::Committed {
                answered.entry(partition).or_default().push((
                    request.sent_at + request.latency,
                    last,
                    *number,
                ));
            }
            sent.entry(partition)
                .or_default()
                .push((request.sent_at, first, *number));
        }
        if own_order_broken {
            offenders.push(*number);
            verdict.example(|| {
                format!(
                    "out of order: the parts of {} are not in order in a partition",
                    expect.run.request_id(*number)
                )
            });
        }
    }
    for (partition, mut done) in answered {
        done.sort_unstable();
        // latest[i]: the committed request with the highest last offset among done[..=i].
        let mut latest: Vec<(i64, u64)> = Vec::with_capacity(done.len());
        for &(_, last, number) in &done {
            let best = match latest.last() {
                Some(&(offset, n)) if offset >= last => (offset, n),
                _ => (last, number),
            };
            latest.push(best);
        }
        for &(sent_at, first, number) in sent.get(&partition).map(Vec::as_slice).unwrap_or(&[]) {
            // Committed requests answered strictly before this one was sent.
            let before = done.partition_point(|d| d.0 < sent_at);
            let Some(&(offset, earlier)) = before.checked_sub(1).and_then(|i| latest.get(i)) else {
                continue;
            };
            if offset >= first {
                offenders.push(number);
                verdict.example(|| {
                    format!(
                        "out of order: {} (sent at {:.3} s) has a message at {}/{}@{first}, before                          {} answered 2xx earlier ({}@{offset})",
                        expect.run.request_id(number),
                        sent_at.as_secs_f64(),
                        partition.0,
                        partition.1,
                        expect.run.request_id(earlier),
                        partition.1,
                    )
                });
            }
        }
    }
    offenders.sort_unstable();
    offenders.dedup();
    verdict.out_of_order += offenders.len() as u64;
}

/// How two readers' views of this run's messages differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReaderDiff {
    /// Messages only the first reader returned.
    pub only_first: u64,
    /// Messages only the second reader returned.
    pub only_second: u64,
}

impl ReaderDiff {
    /// True when both readers returned the same messages.
    pub fn agree(&self) -> bool {
        self.only_first == 0 && self.only_second == 0
    }
}

/// Compares two sorted message lists as multisets.
pub fn compare(first: &[ReadMessage], second: &[ReadMessage]) -> ReaderDiff {
    let mut diff = ReaderDiff::default();
    let (mut a, mut b) = (first.iter().peekable(), second.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return diff,
            (Some(_), None) => {
                diff.only_first += a.count() as u64;
                return diff;
            }
            (None, Some(_)) => {
                diff.only_second += b.count() as u64;
                return diff;
            }
            (Some(x), Some(y)) => match x.cmp(y) {
                std::cmp::Ordering::Less => {
                    diff.only_first += 1;
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    diff.only_second += 1;
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn expectation() -> Expectation {
        Expectation {
            run: RunId::from_prefix("run1").unwrap(),
            tag: "err".to_owned(),
            parts: 2,
        }
    }

    fn request(number: u64, outcome: Outcome) -> RequestRecord {
        let status = match outcome {
            Outcome::Committed => Some(200),
            Outcome::Failed => Some(500),
            Outcome::Unknown => None,
        };
        RequestRecord {
            number,
            status,
            outcome,
            error_kind: None,
            latency: Duration::from_millis(1),
            attempts: 1,
            // One after the other, each answered before the next was sent.
            sent_at: Duration::from_millis(10 * number),
            target: 0,
        }
    }

    /// The pair endpoints' message `part` of request `number`, at a distinct offset.
    fn message(offset: i64, part: u32, user: &str) -> ReadMessage {
        ReadMessage {
            topic: "t".to_owned(),
            partition: 0,
            offset,
            value: Some(format!("err: {part} - pro: p-1 - usr: {user}")),
        }
    }

    fn both_parts(first_offset: i64, user: &str) -> Vec<ReadMessage> {
        vec![
            message(first_offset, 1, user),
            message(first_offset + 1, 2, user),
        ]
    }

    #[test]
    fn a_clean_run_has_no_anomalies() {
        let requests = [
            request(0, Outcome::Committed),
            request(1, Outcome::Committed),
            request(2, Outcome::Failed),
        ];
        let mut messages = both_parts(0, "run1-0");
        messages.extend(both_parts(2, "run1-1"));
        let verdict = judge(&expectation(), &requests, &messages);
        assert_eq!(verdict.anomalies(), 0, "{verdict:?}");
        assert_eq!((verdict.committed_ok, verdict.failed_ok), (2, 1));
        assert_eq!(verdict.run_messages, 4);
    }

    #[test]
    fn a_committed_request_without_messages_is_lost() {
        let verdict = judge(&expectation(), &[request(0, Outcome::Committed)], &[]);
        assert_eq!(verdict.lost, 1);
        assert_eq!(verdict.anomalies(), 1);
    }

    #[test]
    fn half_a_transaction_is_partial_whatever_the_answer() {
        let requests = [
            request(0, Outcome::Committed),
            request(1, Outcome::Failed),
            request(2, Outcome::Unknown),
        ];
        let messages = [
            message(0, 1, "run1-0"),
            message(1, 2, "run1-1"),
            message(2, 1, "run1-2"),
        ];
        let verdict = judge(&expectation(), &requests, &messages);
        assert_eq!(verdict.partial, 3);
        assert_eq!(verdict.anomalies(), 3);
    }

    #[test]
    fn a_failed_request_with_visible_messages_is_an_anomaly() {
        let verdict = judge(
            &expectation(),
            &[request(5, Outcome::Failed)],
            &both_parts(0, "run1-5"),
        );
        assert_eq!(verdict.visible_after_failure, 1);
        assert_eq!(verdict.anomalies(), 1);
    }

    #[test]
    fn a_message_seen_twice_is_a_duplicate() {
        let mut messages = both_parts(0, "run1-0");
        messages.push(message(9, 2, "run1-0"));
        let verdict = judge(&expectation(), &[request(0, Outcome::Committed)], &messages);
        assert_eq!(verdict.duplicated, 1);
        assert_eq!(verdict.committed_ok, 1);
        assert_eq!(verdict.anomalies(), 1);
    }

    #[test]
    fn messages_no_request_wrote_come_from_nowhere() {
        let requests = [request(0, Outcome::Committed)];
        let mut messages = both_parts(0, "run1-0");
        messages.push(message(2, 1, "run1-77")); // never requested
        messages.push(message(3, 3, "run1-0")); // part out of range
        messages.push(message(4, 1, "run1-zz")); // malformed id
        messages.push(ReadMessage {
            topic: "t".to_owned(),
            partition: 1,
            offset: 0,
            value: Some("war: 1 - pro: p - usr: run1-0".to_owned()), // wrong endpoint
        });
        let verdict = judge(&expectation(), &requests, &messages);
        assert_eq!(verdict.from_nowhere, 4);
        assert_eq!(verdict.committed_ok, 1);
        assert_eq!(verdict.anomalies(), 4);
    }

    #[test]
    fn other_runs_and_foreign_values_are_ignored() {
        let messages = [
            message(0, 1, "run0-0"),
            message(1, 1, "run10-0"),
            ReadMessage {
                topic: "t".to_owned(),
                partition: 0,
                offset: 2,
                value: Some("unrelated".to_owned()),
            },
            ReadMessage {
                topic: "t".to_owned(),
                partition: 0,
                offset: 3,
                value: None,
            },
        ];
        let verdict = judge(&expectation(), &[request(0, Outcome::Failed)], &messages);
        assert_eq!(verdict.ignored_messages, 4);
        assert_eq!(verdict.anomalies(), 0);
        assert_eq!(run_messages(&expectation().run, &messages), Vec::new());
    }

    #[test]
    fn unknown_outcomes_may_be_all_or_nothing() {
        let requests = [request(0, Outcome::Unknown), request(1, Outcome::Unknown)];
        let verdict = judge(&expectation(), &requests, &both_parts(0, "run1-0"));
        assert_eq!((verdict.unknown_visible, verdict.unknown_absent), (1, 1));
        assert_eq!(verdict.anomalies(), 0);
    }

    #[test]
    fn a_request_before_one_answered_earlier_is_out_of_order() {
        // Request 1 was sent after request 0 was answered, yet landed before it.
        let requests = [
            request(0, Outcome::Committed),
            request(1, Outcome::Committed),
        ];
        let mut messages = both_parts(0, "run1-1");
        messages.extend(both_parts(2, "run1-0"));
        let verdict = judge(&expectation(), &requests, &messages);
        assert_eq!(verdict.out_of_order, 1, "{verdict:?}");
        assert_eq!(verdict.committed_ok, 2);
        assert!(verdict.examples[0].contains("run1-1"), "{verdict:?}");

        // Concurrent requests (the second sent before the first was answered) may land either way.
        let mut concurrent = requests.clone();
        concurrent[1].sent_at = Duration::from_micros(500);
        let verdict = judge(&expectation(), &concurrent, &messages);
        assert_eq!(verdict.anomalies(), 0, "{verdict:?}");

        // In another partition there is nothing to compare.
        let mut elsewhere = messages.clone();
        for m in &mut elsewhere[..2] {
            m.partition = 1;
        }
        assert_eq!(judge(&expectation(), &requests, &elsewhere).anomalies(), 0);
    }

    #[test]
    fn the_parts_of_one_request_keep_their_order_in_a_partition() {
        let messages = [message(0, 2, "run1-0"), message(1, 1, "run1-0")];
        let verdict = judge(&expectation(), &[request(0, Outcome::Committed)], &messages);
        assert_eq!(verdict.out_of_order, 1, "{verdict:?}");
        assert_eq!(verdict.anomalies(), 1);
    }

    #[test]
    fn readers_are_compared_as_multisets() {
        let first = both_parts(0, "run1-0");
        assert!(compare(&first, &first).agree());
        let mut second = first.clone();
        second.push(message(5, 1, "run1-1"));
        let diff = compare(&first, &second);
        assert_eq!((diff.only_first, diff.only_second), (0, 1));
        let diff = compare(&second[..1], &first[1..]);
        assert_eq!((diff.only_first, diff.only_second), (1, 1));
    }
}
