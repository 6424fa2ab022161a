//! The test kit of kafkatx: what the tests of every crate share, one of each.
//!
//! - the brokers (this module): their addresses, the CI rule ([`require_broker`]), unique names,
//!   topics, `kcat` as the independent read_committed judge, tests on both protocols
//!   ([`on_both_protocols!`]);
//! - [`http`]: the one raw HTTP/1.1 client; [`https`] and [`certs`]: HTTPS clients and
//!   throwaway certificates signed without C;
//! - [`fault_proxy`]: a TCP proxy between a client and a broker that cuts, stalls or garbles;
//! - [`cluster`]: a multi-node cluster with its nodes' faults as methods, and [`admin`]: leaders,
//!   ISRs, replicated topics and coordinators of one.
//!
//! The exactly-once judge is not here: it is `kafkatx_tools::load::checker`, which `kafkatx
//! load`, the fault campaign and the cluster tests share.
//!
//! The brokers are started by `integration/kafka` (see `docs/broker.md`); `./dev test` starts a
//! KIP-890 (transaction.version 2) broker and a classic-protocol one and exports their
//! addresses. A test that needs a broker calls [`require_broker`] first: without a broker it
//! is skipped with a notice on a developer's machine, and it fails when `CI` is set.

// Test support: failing loudly (a panic fails the calling test) is the point here.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub mod admin;
pub mod certs;
pub mod cluster;
pub mod fault_proxy;
pub mod http;
pub mod https;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafkatx_wire::admin::{NewTopic, create_topic as create_topic_request};
use kafkatx_wire::{ConnectOptions, Connection};

/// Bootstrap address of the broker with `transaction.version=2` (KIP-890).
pub fn bootstrap() -> String {
    std::env::var("KAFKATX_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Bootstrap address of the broker formatted with `transaction.version=0` (classic protocol).
pub fn bootstrap_tv1() -> String {
    std::env::var("KAFKATX_BOOTSTRAP_TV1").unwrap_or_else(|_| "127.0.0.1:9094".to_owned())
}

/// Path of the `integration/kafka` script.
pub fn kafka_script() -> PathBuf {
    std::env::var_os("KAFKATX_KAFKA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../integration/kafka")
        })
}

/// Runs `integration/kafka ARGS`; the last line of its standard output (the script's result,
/// e.g. the bootstrap list after `start`), or the command and its standard error.
pub fn kafka(args: &[&str]) -> Result<String, String> {
    let output = Command::new(kafka_script())
        .args(args)
        .output()
        .map_err(|e| format!("integration/kafka {}: {e}", args.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "integration/kafka {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// True when running under CI, where a missing broker is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Checks that a broker answers at `addr`. Returns false (and says so) when it does not and
/// we are not in CI; panics in CI so that a missing broker can never pass as a green run.
pub async fn require_broker(addr: &str) -> bool {
    let options = ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    };
    match Connection::connect_any(addr.split(','), options).await {
        Ok(_) => true,
        Err(e) if in_ci() => {
            panic!(
                "CI is set but no Kafka broker answers at {addr}: {e}. Start one with integration/kafka start"
            )
        }
        Err(e) => {
            eprintln!(
                "SKIPPED: no Kafka broker at {addr} ({e}); run `integration/kafka start` or `./dev test`"
            );
            false
        }
    }
}

/// Declares, for each `name => scenario`, a module `name` with two tests that run
/// `scenario(&addr)` against each transaction protocol: `kip890` on [`bootstrap`] and `classic`
/// on [`bootstrap_tv1`], each behind [`require_broker`].
#[macro_export]
macro_rules! on_both_protocols {
    ($($name:ident => $scenario:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn kip890() {
                    let addr = $crate::bootstrap();
                    if $crate::require_broker(&addr).await {
                        super::$scenario(&addr).await;
                    }
                }

                #[tokio::test]
                async fn classic() {
                    let addr = $crate::bootstrap_tv1();
                    if $crate::require_broker(&addr).await {
                        super::$scenario(&addr).await;
                    }
                }
            }
        )*
    };
}

/// A name no other test (or earlier run) uses: tests share one broker.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}

/// Creates a topic with our own CreateTopics request (replication factor 1) and waits until
/// its partitions have leaders.
pub async fn create_topic(addr: &str, name: &str, partitions: i32) -> Result<(), String> {
    create_topic_with_configs(addr, name, partitions, &[]).await
}

/// [`create_topic`] with topic configurations, e.g. `("cleanup.policy", "compact")`.
pub async fn create_topic_with_configs(
    addr: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), String> {
    let conn = Connection::connect_any(addr.split(','), ConnectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let topic = NewTopic {
        name: name.to_owned(),
        partitions,
        replication_factor: 1,
        configs: configs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
    };
    // A topic that exists already is fine for a test that reruns.
    create_topic_request(&conn, &topic, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|e| format!("CreateTopics {name}: {e}"))
}

/// One record as the independent judge (`kcat`, librdkafka) read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Waits until the transactions on `topic` that are ending have ended
/// (`kafkatx_wire::reader::wait_settled`). On its own thread and runtime: callers are sync and
/// often inside a test's runtime.
fn settle(addr: &str, topic: &str) -> Result<(), String> {
    let (addr, topic) = (addr.to_owned(), topic.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(kafkatx_wire::reader::wait_settled(
                &addr,
                &topic,
                &ConnectOptions::default(),
            ))
            .map_err(|e| format!("settling {topic}: {e}"))
    })
    .join()
    .map_err(|_| "the settling thread panicked".to_owned())?
}

/// Reads a whole topic with `kcat` in read_committed mode (stops at the last stable offset).
pub fn kcat_read_committed(addr: &str, topic: &str) -> Result<Vec<JudgedRecord>, String> {
    kcat_read(addr, topic, "read_committed")
}

/// The values kcat reads from `topic` with read_committed, sorted (for comparing sets of
/// committed values regardless of partition); panics if kcat fails.
pub fn kcat_committed_values(addr: &str, topic: &str) -> Vec<String> {
    let mut values: Vec<String> = kcat_read_committed(addr, topic)
        .unwrap_or_else(|e| panic!("kcat read of {topic}: {e}"))
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    values.sort();
    values
}

/// Reads a whole topic with `kcat` in the given isolation level. Under read_committed, the
/// transactions that are ending get their moment first (see `kafkatx_wire::reader`'s
/// `SETTLE_WITHIN`): kcat stops at the last stable offset it first sees, which right after a
/// commit may still sit before that transaction.
pub fn kcat_read(addr: &str, topic: &str, isolation: &str) -> Result<Vec<JudgedRecord>, String> {
    if isolation == "read_committed" {
        settle(addr, topic)?;
    }
    let output = Command::new("kcat")
        .args([
            "-C",
            "-b",
            addr,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-J",
        ])
        .args(["-X", &format!("isolation.level={isolation}")])
        .output()
        .map_err(|e| format!("could not run kcat (apt-get install kcat): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "kcat failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_kcat_json)
        .collect()
}

fn parse_kcat_json(line: &str) -> Result<JudgedRecord, String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("kcat line {line:?}: {e}"))?;
    let text = |field: &str| v.get(field).and_then(|x| x.as_str()).map(str::to_owned);
    // kcat -J prints headers as a flat array: [k1, v1, k2, v2, ...].
    let flat: Vec<String> = v
        .get("headers")
        .and_then(|h| h.as_array())
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let headers = flat
        .chunks(2)
        .map(|kv| {
            let key = kv.first().cloned().unwrap_or_default();
            let value = kv.get(1).cloned().unwrap_or_default();
            (key, value)
        })
        .collect();
    Ok(JudgedRecord {
        partition: v.get("partition").and_then(|x| x.as_i64()).unwrap_or(-1) as i32,
        offset: v.get("offset").and_then(|x| x.as_i64()).unwrap_or(-1),
        key: text("key"),
        value: text("payload"),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcat_json_lines_parse_with_headers() {
        let line = r#"{"topic":"t","partition":2,"offset":7,"tstype":"create","ts":1,"broker":1,"headers":["a","1","a","2"],"key":"k","payload":"v"}"#;
        let r = parse_kcat_json(line).unwrap();
        assert_eq!((r.partition, r.offset), (2, 7));
        assert_eq!(r.key.as_deref(), Some("k"));
        assert_eq!(r.value.as_deref(), Some("v"));
        assert_eq!(
            r.headers,
            vec![("a".into(), "1".into()), ("a".into(), "2".into())]
        );
        let null_key = r#"{"partition":0,"offset":0,"key":null,"payload":"v"}"#;
        assert_eq!(parse_kcat_json(null_key).unwrap().key, None);
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
