//! A Kafka-aware TCP proxy for tests: it stands between clients and one real single-node
//! broker and, on demand, damages the broker's answers the way a broken broker or network
//! would — garbage bodies, a connection closed in the middle of a frame, answers that never
//! come, answers carrying another request's correlation id.
//!
//! It rewrites the broker address in Metadata and FindCoordinator answers to its own, so every
//! connection a client opens after bootstrapping also goes through it. With one address for
//! every node it only suits a single-node broker.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use kafkatx_wire::frame::{DEFAULT_MAX_FRAME_BYTES, split_frame, write_frame};
use kafkatx_wire::protocol::messages::{
    ApiKey, FindCoordinatorResponse, MetadataResponse, ResponseHeader,
};
use kafkatx_wire::protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to an answer it was told to damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The frame's length and correlation id stay; every byte after them is noise.
    Garbage,
    /// Half of the frame is written, then the client's connection is closed.
    CloseMidFrame,
    /// The answer and every later one on that connection are swallowed until the client
    /// gives up and closes it.
    Stall,
    /// The answer comes with a correlation id no request used.
    WrongCorrelationId,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    fault: Fault,
    /// Only answers to this API, or to any when `None`.
    api: Option<ApiKey>,
    remaining: usize,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    advertised: SocketAddr,
    plan: Mutex<Option<Plan>>,
    injected: AtomicUsize,
    /// Bumped by [`FaultProxy::close_all`]: every connection task watches it.
    generation: watch::Sender<u64>,
}

impl Shared {
    /// Whether the answer to `api` is to be damaged, and how; counts the injection.
    fn take_fault(&self, api: ApiKey) -> Option<Fault> {
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        let current = plan.as_mut()?;
        if current.remaining == 0 || current.api.is_some_and(|a| a != api) {
            return None;
        }
        current.remaining -= 1;
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(current.fault)
    }
}

/// A running proxy; dropping it stops accepting and closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.close_all();
    }
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port in front of `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (generation, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            advertised: listener.local_addr()?,
            plan: Mutex::new(None),
            injected: AtomicUsize::new(0),
            generation,
        });
        let acceptor = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self { shared, acceptor })
    }

    /// The `host:port` clients bootstrap from.
    pub fn address(&self) -> String {
        self.shared.advertised.to_string()
    }

    /// Damages the next `times` answers (to `api` only, when given) with `fault`.
    pub fn inject(&self, fault: Fault, api: Option<ApiKey>, times: usize) {
        let mut plan = self
            .shared
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *plan = Some(Plan {
            fault,
            api,
            remaining: times,
        });
    }

    /// How many answers were damaged so far.
    pub fn injected(&self) -> usize {
        self.shared.injected.load(Ordering::Relaxed)
    }

    /// Stops damaging answers; connections that stalled stay stalled until closed.
    pub fn clear(&self) {
        *self
            .shared
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Closes every open connection at once (a broker restart, as the client sees it).
    pub fn close_all(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Ok(upstream) = TcpStream::connect(&shared.upstream).await else {
                return; // dropping `client` closes it, as a refused connection would
            };
            let mut closed = shared.generation.subscribe();
            let (client_read, client_write) = client.into_split();
            let (upstream_read, upstream_write) = upstream.into_split();
            let in_flight = Arc::new(Mutex::new(HashMap::new()));
            let requests = forward_requests(client_read, upstream_write, Arc::clone(&in_flight));
            let answers = forward_answers(upstream_read, client_write, in_flight, &shared);
            // Whichever side ends first ends the connection; dropping the halves closes both.
            tokio::select! {
                _ = requests => {}
                _ = answers => {}
                _ = closed.changed() => {}
            }
        });
    }
}

/// The API and version of each request waiting for its answer, by correlation id.
type InFlight = Arc<Mutex<HashMap<i32, (ApiKey, i16)>>>;

async fn read_frame(read: &mut OwnedReadHalf, buf: &mut BytesMut) -> io::Result<BytesMut> {
    loop {
        match split_frame(buf, DEFAULT_MAX_FRAME_BYTES) {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        if read.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn be_i32(frame: &[u8], at: usize) -> Option<i32> {
    frame
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(i32::from_be_bytes)
}

fn framed(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    let _ = write_frame::<()>(&mut out, |buf| {
        buf.put_slice(payload);
        Ok(())
    });
    out.freeze()
}

async fn forward_requests(
    mut client: OwnedReadHalf,
    mut upstream: OwnedWriteHalf,
    in_flight: InFlight,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let frame = read_frame(&mut client, &mut buf).await?;
        // Every request header version starts with api key, api version, correlation id.
        let field = |at: usize| {
            frame
                .get(at..at + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(i16::from_be_bytes)
        };
        let correlation = be_i32(&frame, 4);
        if let (Some(key), Some(version), Some(correlation)) = (field(0), field(2), correlation)
            && let Ok(api) = ApiKey::try_from(key)
        {
            in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(correlation, (api, version));
        }
        upstream.write_all(&framed(&frame)).await?;
    }
}

async fn forward_answers(
    mut upstream: OwnedReadHalf,
    mut client: OwnedWriteHalf,
    in_flight: InFlight,
    shared: &Shared,
) -> io::Result<()> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut noise = NoiseSource(0x9e37_79b9_7f4a_7c15);
    loop {
        let frame = read_frame(&mut upstream, &mut buf).await?;
        let correlation = be_i32(&frame, 0);
        let request = correlation.and_then(|c| {
            in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&c)
        });
        let Some((api, version)) = request else {
            client.write_all(&framed(&frame)).await?;
            continue;
        };
        match shared.take_fault(api) {
            None => {
                let answer = rewrite_addresses(frame.freeze(), api, version, shared.advertised);
                client.write_all(&framed(&answer)).await?;
            }
            Some(Fault::Garbage) => {
                let mut damaged = frame;
                for byte in damaged.iter_mut().skip(4) {
                    *byte = noise.next_byte();
                }
                client.write_all(&framed(&damaged)).await?;
            }
            Some(Fault::CloseMidFrame) => {
                let whole = framed(&frame);
                let half = whole.slice(..whole.len() / 2);
                client.write_all(&half).await?;
                return Ok(());
            }
            Some(Fault::WrongCorrelationId) => {
                let mut damaged = frame;
                let wrong = correlation
                    .unwrap_or(0)
                    .wrapping_add(1_000_000)
                    .to_be_bytes();
                if let Some(id) = damaged.get_mut(..4) {
                    id.copy_from_slice(&wrong);
                }
                client.write_all(&framed(&damaged)).await?;
            }
            Some(Fault::Stall) => {
                // Swallow everything the broker says until the client hangs up.
                loop {
                    read_frame(&mut upstream, &mut buf).await?;
                }
            }
        }
    }
}

/// Points the broker addresses of Metadata and FindCoordinator answers at the proxy; any other
/// answer, or one that does not decode, passes unchanged.
fn rewrite_addresses(frame: Bytes, api: ApiKey, version: i16, proxy: SocketAddr) -> Bytes {
    let header_version = api.response_header_version(version);
    let host = StrBytes::from_string(proxy.ip().to_string());
    let port = i32::from(proxy.port());
    let mut input = frame.clone();
    let Ok(header) = ResponseHeader::decode(&mut input, header_version) else {
        return frame;
    };
    let mut body = BytesMut::new();
    let encoded = match api {
        ApiKey::Metadata => {
            let Ok(mut answer) = MetadataResponse::decode(&mut input, version) else {
                return frame;
            };
            for broker in &mut answer.brokers {
                broker.host = host.clone();
                broker.port = port;
            }
            answer.encode(&mut body, version)
        }
        ApiKey::FindCoordinator => {
            let Ok(mut answer) = FindCoordinatorResponse::decode(&mut input, version) else {
                return frame;
            };
            if *answer.node_id >= 0 {
                answer.host = host.clone();
                answer.port = port;
            }
            for coordinator in &mut answer.coordinators {
                if *coordinator.node_id >= 0 {
                    coordinator.host = host.clone();
                    coordinator.port = port;
                }
            }
            answer.encode(&mut body, version)
        }
        _ => return frame,
    };
    let mut out = BytesMut::new();
    match header.encode(&mut out, header_version).and(encoded) {
        Ok(()) => {
            out.extend_from_slice(&body);
            out.freeze()
        }
        Err(_) => frame,
    }
}

/// xorshift64: reproducible noise without a dependency.
struct NoiseSource(u64);

impl NoiseSource {
    fn next_byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.to_be_bytes()[0]
    }
}
