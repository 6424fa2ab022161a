//! The `kafkatx` binary on a real broker, stopped with SIGTERM while clients keep sending
//! requests to the pair endpoints: it must exit 0, and afterwards a read_committed reader must
//! find both messages of every acknowledged request exactly once and never one message of a
//! transaction without the other (a request cut off by the shutdown may have committed or not,
//! but never half).

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafkatx_wire::reader::{Isolation, read_topic};

use kafkatx_testkit::{bootstrap, require_broker, unique_name};

/// What a client saw for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Committed,
    Refused(u16),
    /// The connection failed mid-request: the outcome is unknown to the client.
    Lost,
}

/// One `GET` on a fresh connection; `None` when the server cannot be reached at all.
fn get(addr: &str, path: &str) -> Option<Result<u16, ()>> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return Some(Err(()));
    }
    let mut answer = String::new();
    if stream.read_to_string(&mut answer).is_err() {
        return Some(Err(()));
    }
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    Some(status.ok_or(()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_gateway(
    bootstrap: &str,
    listen: &str,
    errors: &str,
    warnings: &str,
    max_requests_per_transaction: &str,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kafkatx"))
        .args(["serve", "--bootstrap-server", bootstrap, "--listen", listen])
        .args(["--errors-topic", errors, "--warnings-topic", warnings])
        .args(["--pool-size", "3", "--instance-id", &unique_name("sigterm")])
        // The unique topics are created by their first request.
        .arg("--allow-auto-create-topics")
        .args(["--shutdown-timeout-ms", "20000"])
        .args([
            "--max-requests-per-transaction",
            max_requests_per_transaction,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kafkatx serve")
}

fn wait_ready(listen: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(Ok(200)) = get(listen, "/readyz") {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the gateway did not become ready at {listen}");
}

/// Sends pair-endpoint requests until the server stops answering; returns what each id saw.
fn client_loop(
    listen: String,
    run: String,
    client: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(String, Seen)> {
    let mut seen = Vec::new();
    for n in 0.. {
        let kind = if n % 2 == 0 { "errors" } else { "warnings" };
        let id = format!("{run}-{client}-{n}");
        match get(&listen, &format!("/{kind}/{id}")) {
            None => break, // the listener is gone
            Some(Ok(200)) => seen.push((id, Seen::Committed)),
            Some(Ok(status)) => seen.push((id, Seen::Refused(status))),
            Some(Err(())) => seen.push((id, Seen::Lost)),
        }
        if stop.load(Ordering::Relaxed) && n > 10_000 {
            break;
        }
    }
    seen
}

/// The `usr:` ids of every committed message in `topic`, with how often each message number
/// (1 or 2) appears for it.
async fn committed_messages(addr: &str, topic: &str) -> HashMap<String, [u32; 2]> {
    let mut by_id: HashMap<String, [u32; 2]> = HashMap::new();
    let records = read_topic(addr, topic, Isolation::ReadCommitted)
        .await
        .unwrap();
    for r in records {
        let value = String::from_utf8(r.record.value.unwrap().to_vec()).unwrap();
        // "err: 1 - pro: <transactional id> - usr: <id>"
        let number: usize = value[5..6].parse().unwrap();
        let id = value.rsplit("usr: ").next().unwrap().to_owned();
        by_id.entry(id).or_default()[number - 1] += 1;
    }
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_no_acknowledged_transaction_and_leaves_none_half_visible() {
    sigterm_during_load("1").await;
}

/// The same with group commit: requests queued for a shared transaction when the signal comes
/// are either committed and acknowledged or refused with nothing visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_group_commit_sigterm_loses_nothing_acknowledged_either() {
    sigterm_during_load("16").await;
}

async fn sigterm_during_load(max_requests_per_transaction: &str) {
    let addr = bootstrap();
    if !require_broker(&addr).await {
        return;
    }
    let errors = unique_name("sigterm-errors");
    let warnings = unique_name("sigterm-warnings");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut gateway = start_gateway(
        &addr,
        &listen,
        &errors,
        &warnings,
        max_requests_per_transaction,
    );
    wait_ready(&listen);

    let run = unique_name("run");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (listen, run, stop) = (listen.clone(), run.clone(), Arc::clone(&stop));
            std::thread::spawn(move || client_loop(listen, run, c, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = gateway.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    stop.store(true, Ordering::Relaxed);

    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = gateway.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway did not exit within 40 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    let seen: Vec<(String, Seen)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let acknowledged = seen.iter().filter(|(_, s)| *s == Seen::Committed).count();
    assert!(
        acknowledged >= 20,
        "the load really ran before the signal ({acknowledged} commits)"
    );

    let mut visible = committed_messages(&addr, &errors).await;
    visible.extend(committed_messages(&addr, &warnings).await);
    let lost = seen.iter().filter(|(_, s)| *s == Seen::Lost).count();
    eprintln!(
        "{acknowledged} acknowledged, {lost} cut off, {} refused, {} visible",
        seen.len() - acknowledged - lost,
        visible.len()
    );
    let requested: HashMap<&str, Seen> = seen.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    for (id, counts) in &visible {
        let what = requested.get(id.as_str());
        assert!(what.is_some(), "message from nowhere: {id}");
        assert!(
            matches!(counts, [1, 1]),
            "{id} ({what:?}) is visible as {counts:?}, not both messages once"
        );
        assert!(
            !matches!(what, Some(Seen::Refused(_))),
            "{id} was refused, yet it is visible"
        );
    }
    for (id, s) in &seen {
        if *s == Seen::Committed {
            assert!(visible.contains_key(id), "acknowledged {id} is missing");
        }
    }
}
