//! `kafkatx load`'s generator and checker against the gateway on a scripted fake backend:
//! every request is recorded with the right outcome, and the checker's judgement of what the
//! backend "wrote" matches what it was told.

mod support;

use std::time::Duration;

use kafkatx_server::TxnFailure;
use kafkatx_server::load::checker::{Expectation, ReadMessage, judge};
use kafkatx_server::load::generator::{LoadPlan, RequestShape, Target, drive};
use kafkatx_server::load::ids::{IdMatch, RunId, parse_value};
use kafkatx_server::load::outcome::Outcome;
use kafkatx_server::load::stats::LoadSummary;
use support::{Behaviour, start_server};

/// The request number a transaction's first record belongs to.
// A test helper: failing loudly on a record the generator did not write is its job.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
fn request_number(run: &RunId, records: &[kafkatx_server::OutRecord]) -> u64 {
    let value = records[0].value.as_ref().unwrap();
    let text = std::str::from_utf8(value).unwrap();
    match run.classify(parse_value(text).unwrap().user) {
        IdMatch::Request(n) => n,
        other => panic!("{text}: {other:?}"),
    }
}

#[tokio::test]
async fn failures_and_unknown_outcomes_are_recorded_and_judged() {
    let mut server = start_server().await;
    let backend = server.backend.clone();
    backend.then(Behaviour::Fail(TxnFailure::Saturated));
    backend.then(Behaviour::Fail(TxnFailure::Aborted("test".into())));
    backend.then(Behaviour::Fail(TxnFailure::OutcomeUnknown("test".into())));
    let run = RunId::random();
    let plan = LoadPlan {
        target: Target::parse(&format!("http://{}", server.addr)).unwrap(),
        connections: 4,
        max_requests: Some(40),
        duration: None,
        shape: RequestShape::Records {
            topic: "orders".into(),
            parts: 3,
        },
        request_timeout: Duration::from_secs(10),
        run: run.clone(),
    };
    let outcome = drive(plan).await.unwrap();

    let mut numbers: Vec<u64> = outcome.records.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..40).collect::<Vec<_>>());
    let summary = LoadSummary::of(&outcome.records, outcome.elapsed);
    assert_eq!(
        (summary.committed, summary.failed, summary.unknown),
        (37, 2, 1)
    );
    assert_eq!(summary.errors_by_kind.get("503 saturated"), Some(&1));
    assert_eq!(
        summary.errors_by_kind.get("500 transaction_aborted"),
        Some(&1)
    );
    assert_eq!(summary.errors_by_kind.get("502 outcome_unknown"), Some(&1));

    // The backend saw the transactions in script order: the first three got the failures.
    let seen = backend.seen();
    assert_eq!(seen.len(), 40);
    let outcome_of = |n: u64| {
        outcome
            .records
            .iter()
            .find(|r| r.number == n)
            .unwrap()
            .outcome
    };
    assert_eq!(outcome_of(request_number(&run, &seen[0])), Outcome::Failed);
    assert_eq!(outcome_of(request_number(&run, &seen[1])), Outcome::Failed);
    assert_eq!(outcome_of(request_number(&run, &seen[2])), Outcome::Unknown);

    // A topic holding exactly the committed transactions' records is judged clean...
    let as_messages = |transactions: &[Vec<kafkatx_server::OutRecord>]| -> Vec<ReadMessage> {
        transactions
            .iter()
            .flatten()
            .enumerate()
            .map(|(offset, r)| ReadMessage {
                partition: 0,
                offset: offset as i64,
                value: r
                    .value
                    .as_ref()
                    .map(|v| String::from_utf8(v.to_vec()).unwrap()),
            })
            .collect()
    };
    let expect = Expectation {
        run: run.clone(),
        tag: "rec".into(),
        parts: 3,
    };
    let committed = as_messages(&seen[3..]);
    let verdict = judge(&expect, &outcome.records, &committed);
    assert_eq!(verdict.anomalies(), 0, "{verdict:?}");
    assert_eq!(verdict.committed_ok, 37);
    assert_eq!((verdict.failed_ok, verdict.unknown_absent), (2, 1));

    // ...while one where the aborted transaction leaked is not.
    let leaked = as_messages(&[&seen[1..2], &seen[3..]].concat());
    let verdict = judge(&expect, &outcome.records, &leaked);
    assert_eq!(verdict.visible_after_failure, 1);
    assert_eq!(verdict.anomalies(), 1);

    server.shutdown();
    server.done.await.unwrap();
}
