//! `kafkatx load`'s generator and checker against the gateway on a scripted fake backend:
//! every request is recorded with the right outcome, and the checker's judgement of what the
//! backend "wrote" matches what it was told.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use kafkatx_server::TxnFailure;
use kafkatx_tools::load::checker::{Expectation, ReadMessage, judge};
use kafkatx_tools::load::generator::{LoadPlan, RequestShape, Target, drive};
use kafkatx_tools::load::ids::{IdMatch, RunId, parse_value};
use kafkatx_tools::load::outcome::Outcome;
use kafkatx_tools::load::stats::LoadSummary;
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
        targets: vec![Target::parse(&format!("http://{}", server.addr)).unwrap()],
        connections: 4,
        rate: None,
        max_requests: Some(40),
        duration: None,
        shape: RequestShape::Records {
            topic: "orders".into(),
            parts: 3,
        },
        request_timeout: Duration::from_secs(10),
        run: run.clone(),
        keyed_retries: None,
        tls: None,
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
                topic: "orders".to_owned(),
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

#[tokio::test]
async fn an_https_target_is_loaded_over_tls_trusting_the_given_ca() {
    use kafkatx_server::http::tls::{ServerTls, TlsFiles};
    use kafkatx_tools::load::{Endpoint, LoadArgs, execute};
    use support::certs::{Ca, TempDir};

    let dir = TempDir::new("kafkatx-load-tls");
    let ca = Ca::new("load CA");
    let (cert, key) = ca.server("gw").write(&dir.0, "gw");
    let tls = ServerTls::load(&TlsFiles {
        cert,
        key,
        client_ca: None,
    })
    .unwrap();
    let server = support::start_server_tls(
        support::FakeBackend::new(),
        kafkatx_server::ServerConfig::default(),
        Some(tls),
    )
    .await;
    let args = |ca: Option<std::path::PathBuf>| LoadArgs {
        url: format!("https://localhost:{}", server.addr.port()),
        ca,
        concurrency: 4,
        requests: Some(20),
        duration: None,
        endpoint: Endpoint::Records,
        topic: Some("orders".to_owned()),
        records_per_request: 2,
        timeout_ms: 10_000,
        check: false,
        bootstrap_server: "127.0.0.1:1".to_owned(),
        consumer_properties: Vec::new(),
        kcat: "kcat".to_owned(),
        settle_ms: 0,
        run_id: None,
        idempotency_retries: None,
        campaign: Default::default(),
        json: false,
    };
    let report = execute(&args(Some(ca.write(&dir.0, "ca")))).await.unwrap();
    assert_eq!(report.summary.committed, 20, "{report}");
    assert_eq!(server.backend.seen().len(), 20);
    // Without the CA the gateway's certificate is not trusted: nothing is sent.
    let untrusted = execute(&args(None)).await.unwrap();
    assert_eq!(untrusted.summary.committed, 0, "{untrusted}");
    assert_eq!(server.backend.seen().len(), 20);
}

/// Several URLs: the connections whose own server cannot be reached use the next one, and every
/// request is recorded with the server it went to; `--rate` spaces the requests out.
#[tokio::test]
async fn connections_fall_back_to_a_server_that_answers_and_keep_the_rate() {
    let mut server = start_server().await;
    // A port nobody listens on any more.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let plan = LoadPlan {
        targets: Target::parse_list(&format!("http://{dead_addr},http://{}", server.addr)).unwrap(),
        connections: 4,
        rate: Some(200.0),
        max_requests: Some(40),
        duration: None,
        shape: RequestShape::Transactions {
            topics: vec!["a".into(), "b".into()],
            parts: 2,
        },
        request_timeout: Duration::from_secs(10),
        run: RunId::random(),
        tls: None,
        keyed_retries: None,
    };
    let outcome = drive(plan).await.unwrap();
    let summary = LoadSummary::of(&outcome.records, outcome.elapsed);
    assert_eq!(
        (summary.requests, summary.committed),
        (40, 40),
        "{summary:?}"
    );
    assert!(outcome.records.iter().all(|r| r.target == 1));
    // 40 requests at 200/s: the last is not due before 195 ms.
    assert!(
        outcome.elapsed >= Duration::from_millis(190),
        "{:?}",
        outcome.elapsed
    );
    let mut sent: Vec<Duration> = outcome.records.iter().map(|r| r.sent_at).collect();
    sent.sort_unstable();
    assert!(sent[39] >= Duration::from_millis(190), "{sent:?}");
    // Both records of a transaction request went to one backend transaction, one per topic.
    let seen = server.backend.seen();
    assert_eq!(seen.len(), 40);
    assert!(
        seen.iter().all(|records| records.len() == 2
            && records[0].topic == "a"
            && records[1].topic == "b")
    );
    server.shutdown();
    server.done.await.unwrap();
}
