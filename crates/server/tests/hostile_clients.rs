//! Clients that try to exhaust the gateway: silent connections, slowloris headers, huge heads,
//! idle keep-alive, half-closed sockets. Resources stay bounded (the connection limit), every
//! such connection is closed within the header timeout, and other clients are still served.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kafkatx_server::ServerConfig;
use support::{exchange, get, read_response, start_server_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_millis(300);

fn config() -> ServerConfig {
    ServerConfig {
        max_connections: 64,
        header_read_timeout: HEADER_TIMEOUT,
        ..ServerConfig::default()
    }
}

/// Waits until the server closes `stream` (EOF or reset), at most `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_and_slowloris_connections_does_not_lock_out_other_clients() {
    let server = start_server_with(config()).await;
    let addr = server.addr;
    // Eight times the connection limit: half say nothing, half dribble a header byte by byte.
    let mut attackers = Vec::new();
    for i in 0..512 {
        attackers.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                return;
            };
            if i % 2 == 0 {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
                return;
            }
            for byte in b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Each slot is freed within the header timeout, so a real client gets one soon.
    let served = tokio::time::timeout(Duration::from_secs(10), get(addr, "/healthz"))
        .await
        .expect("a normal client is served while the flood goes on");
    assert_eq!(served.status, 200);
    // And every slowloris client is disconnected a few header timeouts later. (Silent ones are
    // not awaited: with hundreds connecting at once, the kernel may complete a client's connect
    // whose final ACK the listener's queue dropped, and such a socket exists on the client side
    // only; the server never holds it.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut still_open = 0;
    for attacker in attackers.into_iter().skip(1).step_by(2) {
        if tokio::time::timeout_at(deadline, attacker).await.is_err() {
            still_open += 1;
        }
    }
    assert_eq!(
        still_open, 0,
        "slowloris connections the server never closed"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = start_server_with(config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert_eq!(answer.status, 200);
    // Kept alive, then silent: the slot must not be held forever.
    assert!(closed_within(&mut stream, HEADER_TIMEOUT * 10).await);
}

#[tokio::test]
async fn a_huge_head_is_refused_and_the_server_goes_on() {
    let server = start_server_with(config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..4000 {
        head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    // The server may stop reading (and close) before all of it is written.
    let _ = stream.write_all(&head).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 431"),
        "a head over the limit is refused: {text:.80}"
    );
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

#[tokio::test]
async fn a_half_closed_client_gets_its_answer_and_its_slot_back() {
    let config = ServerConfig {
        max_connections: 1,
        ..config()
    };
    let server = start_server_with(config).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    // The client closes its sending side at once and waits for the answer.
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the connection ends")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // With a limit of one connection, the next client is served: the slot came back.
    let next = tokio::time::timeout(Duration::from_secs(5), get(server.addr, "/healthz"))
        .await
        .expect("the slot of the half-closed connection is free again");
    assert_eq!(next.status, 200);
}

/// Idle keep-alive connections by the thousand (40 times the connection limit, each answered
/// once and then held open by its client, with an idle timeout far longer than the test): the
/// server never serves more than its limit at once, every client is answered, and a new client
/// is answered at once afterwards, because idle connections give way when the house is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_keep_alive_connections_neither_exhaust_nor_lock_out() {
    const IN_FLIGHT: usize = 512;
    let clients = idle_clients_this_process_can_hold(10_000);
    // 256 for 10,000 clients: the connection limit stays about 1/40 of the clients.
    let limit = (clients / 39).clamp(16, 256);
    let config = ServerConfig {
        max_connections: limit,
        // Only the full-house rule can free a slot within this test.
        header_read_timeout: Duration::from_secs(600),
        ..ServerConfig::default()
    };
    let server = start_server_with(config).await;
    let addr = server.addr;
    let started = std::time::Instant::now();
    let most_open = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_open_connections(addr, Arc::clone(&most_open)));
    let admission = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let permit = Arc::clone(&admission).acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let answer = exchange(&mut stream, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").await;
            let status = answer.unwrap().status;
            drop(permit);
            // Held open, idle, until the end of the test (or until the server closes it).
            (status, stream)
        }));
    }
    let mut held = Vec::with_capacity(clients);
    for task in tasks {
        let (status, stream) = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("every idle client is answered")
            .unwrap();
        assert_eq!(status, 200);
        held.push(stream);
    }
    let flood = started.elapsed();
    // All of them still held by their clients: a newcomer is served at once.
    let newcomer = std::time::Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(5), get(addr, "/healthz"))
        .await
        .expect("a new client is served while thousands of idle ones hold their sockets");
    assert_eq!(served.status, 200);
    let newcomer = newcomer.elapsed();
    sampler.abort();
    let now_open = open_connections(addr).await;
    let most = most_open.load(Ordering::SeqCst).max(now_open);
    eprintln!(
        "{clients} idle keep-alive clients answered in {flood:.1?}; a newcomer in \
         {newcomer:.1?}; at most {most} connections served at once (limit {limit})"
    );
    assert!(
        most <= limit as u64,
        "{most} connections open, limit {limit}"
    );
    drop(held);
}

/// `wanted`, or fewer when this process may not open that many sockets (each idle client holds
/// one, and so may the server): the test then runs at the machine's scale (with a connection
/// limit scaled alike) instead of failing for the machine's sake, and says so.
fn idle_clients_this_process_can_hold(wanted: usize) -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    // Each idle client holds a socket (the server's side at most one per slot); a margin for
    // the rest of the process.
    let affordable = soft.saturating_sub(2_000).max(soft / 2);
    let clients = wanted.min(affordable);
    if clients < wanted {
        eprintln!("the open-file limit is {soft}: {clients} idle clients instead of {wanted}");
    }
    assert!(
        clients >= 400,
        "the open-file limit ({soft}) is too low for this test"
    );
    clients
}

/// The gateway's own count of the connections it serves (`kafkatx_http_connections_open`).
async fn open_connections(addr: std::net::SocketAddr) -> u64 {
    let metrics = get(addr, "/metrics").await;
    String::from_utf8_lossy(&metrics.body)
        .lines()
        .find_map(|l| l.strip_prefix("kafkatx_http_connections_open "))
        .and_then(|v| v.trim().parse().ok())
        .expect("kafkatx_http_connections_open in /metrics")
}

async fn sample_open_connections(addr: std::net::SocketAddr, most: Arc<AtomicU64>) {
    loop {
        let open = open_connections(addr).await;
        most.fetch_max(open, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
