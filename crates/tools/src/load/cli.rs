//! `kafkatx load`: an HTTP load generator for the gateway (and the sarama server), with an
//! exactly-once check of what the requests wrote.
//!
//! For fault campaigns (`faults/run`) a run can also spread its connections over several
//! gateways (`--url A,B`), keep a fixed rate (`--rate`), stop on SIGTERM and still be checked,
//! write every request to a file (`--outcomes`), and be judged later from that file
//! (`--judge`), once the cluster has settled.

use std::future::Future;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, ValueEnum};

use super::checker::{Expectation, ReadMessage, compare, judge, run_messages};
use super::generator::{LoadPlan, LoadRun, RequestShape, Target, drive_until};
use super::ids::RunId;
use super::outcome::{Outcome, RequestRecord};
use super::readback::{read_with_kafkatx, read_with_kcat};
use super::report::{CheckReport, LoadReport};
use super::stats::LoadSummary;
use crate::ToolError;

/// Which endpoint the load hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    /// `GET /errors/{id}`: two records `err: n - pro: ... - usr: {id}` (a pair endpoint).
    Errors,
    /// `GET /warnings/{id}`: two records `war: n - ...` (a pair endpoint).
    Warnings,
    /// `POST /v1/topics/{topic}/records` with `--records-per-request` records `rec: n - usr: {id}`.
    Records,
    /// `POST /v1/transactions` with `--records-per-request` records `txn: n - usr: {id}`, one
    /// transaction across the topics of `--topic A,B` (record n to the n-th topic, in turn).
    Transactions,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Errors => "errors",
            Endpoint::Warnings => "warnings",
            Endpoint::Records => "records",
            Endpoint::Transactions => "transactions",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            Endpoint::Errors,
            Endpoint::Warnings,
            Endpoint::Records,
            Endpoint::Transactions,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }

    /// The tag at the start of each message value.
    fn tag(self) -> &'static str {
        match self {
            Endpoint::Errors => "err",
            Endpoint::Warnings => "war",
            Endpoint::Records => "rec",
            Endpoint::Transactions => "txn",
        }
    }

    fn default_topic(self) -> Option<&'static str> {
        match self {
            Endpoint::Errors => Some("errors-topic"),
            Endpoint::Warnings => Some("warnings-topic"),
            Endpoint::Records | Endpoint::Transactions => None,
        }
    }
}

/// Flags of `kafkatx load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server, `http://` or `https://`; several, comma separated, spread the
    /// connections over them (a connection whose server is down uses the next one meanwhile).
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    pub url: String,
    /// PEM CA certificates to trust for an `https://` URL (default: the Mozilla roots). The
    /// URL's host must be a name in the gateway's certificate.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Keep-alive connections, each with one request in flight at a time.
    #[arg(long, visible_alias = "connections", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
    /// Stop after this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Stop starting requests after this many seconds (10 when neither this nor --requests is given).
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Endpoint to call.
    #[arg(long, value_enum, default_value = "errors")]
    pub endpoint: Endpoint,
    /// Topic the endpoint writes to: where --check reads, and the path of the records endpoint.
    /// Defaults to errors-topic / warnings-topic for the pair endpoints. The transactions
    /// endpoint takes several, comma separated.
    #[arg(long)]
    pub topic: Option<String>,
    /// Records per request on the records endpoint (the pair endpoints always write two).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub records_per_request: u32,
    /// A request slower than this counts as a timeout (outcome unknown).
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Afterwards, read the topic back with read_committed (our reader and kcat) and judge
    /// exactly-once delivery; exits non-zero on any anomaly or if the readers disagree.
    #[arg(long)]
    pub check: bool,
    /// Brokers the check reads from.
    #[arg(
        long,
        env = "KAFKATX_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// A connection setting of the check's readers by its Kafka name (`security.protocol`,
    /// `sasl.*`, `ssl.*`; repeatable). kcat gets librdkafka's equivalents.
    #[arg(long = "consumer-property", value_name = "KEY=VALUE",
          value_parser = crate::consume::parse_property)]
    pub consumer_properties: Vec<(String, String)>,
    /// The kcat program the check runs as the independent reader.
    #[arg(long, default_value = "kcat")]
    pub kcat: String,
    /// Pause before reading back, so that transactions whose client timed out can finish.
    #[arg(long, default_value_t = 1_000)]
    pub settle_ms: u64,
    /// Prefix of the request ids (letters, digits, `_`); random by default so that the check
    /// tells this run's messages from earlier runs' in the same topic.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Send every request with an `Idempotency-Key` (its request id) and retry it with the
    /// same key after a timeout, a connection failure, 409 or any 5xx, for up to this many
    /// seconds per request, until it gets a 2xx or another 4xx. `--check` then also requires
    /// that no outcome is left unknown.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub idempotency_retries: Option<Duration>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Flags for long runs judged afterwards (fault campaigns).
    #[command(flatten)]
    pub campaign: CampaignOptions,
}

/// Flags of `kafkatx load` for fault campaigns.
#[derive(Debug, Clone, Default, Args)]
pub struct CampaignOptions {
    /// Requests started per second over all connections (default: as fast as answers come).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Write every request to this file, one JSON object a line after a header line: number,
    /// URL index, when it was sent (ms from the run's start, which the header gives as Unix
    /// ms), latency, status, outcome and error kind. `--judge` reads it back.
    #[arg(long, value_name = "FILE")]
    pub outcomes: Option<PathBuf>,
    /// Send nothing: judge the requests of an `--outcomes` file (its run id, endpoint and
    /// topics) against what the topics hold now, as --check does.
    #[arg(long, value_name = "FILE", conflicts_with = "outcomes")]
    pub judge: Option<PathBuf>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| format!("{text:?} is not a positive number of requests per second"))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

/// Runs the load (and the check) and returns the report without printing it.
pub async fn execute(args: &LoadArgs) -> Result<LoadReport, ToolError> {
    execute_until(args, std::future::pending()).await
}

/// [`execute`], but no request is started once `stop` completes: those in flight finish, and
/// the run is reported and checked as if it had ended there.
pub async fn execute_until(
    args: &LoadArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<LoadReport, ToolError> {
    if let Some(path) = &args.campaign.judge {
        return judge_file(args, path).await;
    }
    let run = match &args.run_id {
        Some(prefix) => RunId::from_prefix(prefix).ok_or_else(|| {
            ToolError::Usage(format!(
                "--run-id {prefix:?} may only hold letters, digits and _"
            ))
        })?,
        None => RunId::random(),
    };
    let topics: Vec<String> = args
        .topic
        .clone()
        .or_else(|| args.endpoint.default_topic().map(str::to_owned))
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let one_topic = || match topics.as_slice() {
        [topic] => Ok(topic.clone()),
        _ => Err(ToolError::Usage(format!(
            "--endpoint {} needs exactly one --topic",
            args.endpoint.name()
        ))),
    };
    let shape = match args.endpoint {
        Endpoint::Errors => RequestShape::Pair { path: "errors" },
        Endpoint::Warnings => RequestShape::Pair { path: "warnings" },
        Endpoint::Records => RequestShape::Records {
            topic: one_topic()?,
            parts: args.records_per_request,
        },
        Endpoint::Transactions if topics.is_empty() => {
            return Err(ToolError::Usage(
                "--endpoint transactions needs --topic (several, comma separated)".to_owned(),
            ));
        }
        Endpoint::Transactions => RequestShape::Transactions {
            topics: topics.clone(),
            parts: args.records_per_request,
        },
    };
    let parts = match &shape {
        RequestShape::Pair { .. } => 2,
        RequestShape::Records { parts, .. } | RequestShape::Transactions { parts, .. } => *parts,
    };
    let duration = match (args.requests, args.duration) {
        (None, None) => Some(Duration::from_secs(10)),
        (_, duration) => duration,
    };
    let connections = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let targets = Target::parse_list(&args.url)?;
    let https = targets.iter().any(|t| t.https);
    let tls = match (https, &args.ca) {
        (true, ca) => Some(super::tls::client_config(ca.as_deref())?),
        (false, Some(_)) => {
            return Err(ToolError::Usage("--ca is for https:// URLs".to_owned()));
        }
        (false, None) => None,
    };
    let plan = LoadPlan {
        targets,
        tls,
        connections,
        rate: args.campaign.rate,
        max_requests: args.requests,
        duration,
        shape,
        request_timeout: Duration::from_millis(args.timeout_ms),
        run: run.clone(),
        keyed_retries: args.idempotency_retries,
    };
    // A bad connection setting must stop the run before the load, not after it.
    crate::consume::connect_options(&args.consumer_properties)?;
    let outcome = drive_until(plan, stop).await?;
    let header = OutcomesHeader {
        kafkatx_load_outcomes: 1,
        run_id: run.to_string(),
        endpoint: args.endpoint.name().to_owned(),
        topics: topics.clone(),
        parts,
        urls: args.url.split(',').map(|u| u.trim().to_owned()).collect(),
        connections,
        started_unix_ms: outcome
            .started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        elapsed_secs: outcome.elapsed.as_secs_f64(),
        keyed: args.idempotency_retries.is_some(),
    };
    if let Some(path) = &args.campaign.outcomes {
        write_outcomes(path, &header, &outcome)?;
    }
    let check = if args.check {
        if topics.is_empty() {
            return Err(ToolError::Usage("--check needs --topic".to_owned()));
        }
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        Some(check(args, &header, &run, &outcome.records).await?)
    } else {
        None
    };
    Ok(LoadReport {
        url: args.url.clone(),
        endpoint: args.endpoint.name().to_owned(),
        connections,
        run_id: run.to_string(),
        summary: LoadSummary::of(&outcome.records, outcome.elapsed),
        check,
        keyed: args.idempotency_retries.is_some(),
    })
}

/// Reads every topic of the run back with both readers and judges the requests.
async fn check(
    args: &LoadArgs,
    header: &OutcomesHeader,
    run: &RunId,
    records: &[RequestRecord],
) -> Result<CheckReport, ToolError> {
    let endpoint = Endpoint::from_name(&header.endpoint)
        .ok_or_else(|| ToolError::Usage(format!("unknown endpoint {:?}", header.endpoint)))?;
    let read_options = crate::consume::connect_options(&args.consumer_properties)?;
    let mut ours: Vec<ReadMessage> = Vec::new();
    let mut theirs: Vec<ReadMessage> = Vec::new();
    for topic in &header.topics {
        ours.extend(read_with_kafkatx(&args.bootstrap_server, topic, &read_options).await?);
        theirs.extend(
            read_with_kcat(
                &args.kcat,
                &args.bootstrap_server,
                topic,
                &args.consumer_properties,
            )
            .await?,
        );
    }
    let expect = Expectation {
        run: run.clone(),
        tag: endpoint.tag().to_owned(),
        parts: header.parts,
    };
    Ok(CheckReport {
        kafkatx_reader: judge(&expect, records, &ours),
        kcat_reader: judge(&expect, records, &theirs),
        reader_diff: compare(&run_messages(run, &ours), &run_messages(run, &theirs)),
        topic: header.topics.join(","),
    })
}

/// The first line of an `--outcomes` file: what `--judge` needs to check the run again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OutcomesHeader {
    /// Format version (1).
    kafkatx_load_outcomes: u32,
    run_id: String,
    endpoint: String,
    topics: Vec<String>,
    parts: u32,
    urls: Vec<String>,
    connections: usize,
    /// The run's start, from which every `sent_ms` counts.
    started_unix_ms: u64,
    elapsed_secs: f64,
    /// The requests carried idempotency keys and were retried: the judge then also fails the
    /// run when an outcome stayed unknown (absent from files written before keys existed).
    #[serde(default)]
    keyed: bool,
}

/// One request in an `--outcomes` file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct OutcomeLine {
    n: u64,
    target: usize,
    sent_ms: f64,
    latency_ms: f64,
    status: Option<u16>,
    outcome: Outcome,
    kind: Option<String>,
    /// Tries with the same idempotency key (1 without keys).
    #[serde(default = "one_attempt")]
    attempts: u32,
}

fn one_attempt() -> u32 {
    1
}

fn write_outcomes(path: &Path, header: &OutcomesHeader, run: &LoadRun) -> Result<(), ToolError> {
    let failed = |e: &dyn std::fmt::Display| ToolError::Output(format!("{}: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    let mut out = BufWriter::new(file);
    let mut records: Vec<&RequestRecord> = run.records.iter().collect();
    records.sort_unstable_by_key(|r| r.number);
    serde_json::to_writer(&mut out, header).map_err(|e| failed(&e))?;
    writeln!(out).map_err(|e| failed(&e))?;
    for r in records {
        let line = OutcomeLine {
            n: r.number,
            target: r.target,
            sent_ms: r.sent_at.as_secs_f64() * 1000.0,
            latency_ms: r.latency.as_secs_f64() * 1000.0,
            status: r.status,
            outcome: r.outcome,
            kind: r.error_kind.clone(),
            attempts: r.attempts,
        };
        serde_json::to_writer(&mut out, &line).map_err(|e| failed(&e))?;
        writeln!(out).map_err(|e| failed(&e))?;
    }
    out.flush().map_err(|e| failed(&e))
}

fn read_outcomes(path: &Path) -> Result<(OutcomesHeader, Vec<RequestRecord>), ToolError> {
    let failed = |e: &dyn std::fmt::Display| ToolError::Usage(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| failed(&e))?;
    let mut lines = BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| failed(&"empty file"))?
        .map_err(|e| failed(&e))?;
    let header: OutcomesHeader = serde_json::from_str(&first).map_err(|e| failed(&e))?;
    let mut records = Vec::new();
    for line in lines {
        let line = line.map_err(|e| failed(&e))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: OutcomeLine = serde_json::from_str(&line).map_err(|e| failed(&e))?;
        records.push(RequestRecord {
            number: r.n,
            status: r.status,
            outcome: r.outcome,
            error_kind: r.kind,
            latency: Duration::from_secs_f64(r.latency_ms.max(0.0) / 1000.0),
            sent_at: Duration::from_secs_f64(r.sent_ms.max(0.0) / 1000.0),
            target: r.target,
            attempts: r.attempts,
        });
    }
    Ok((header, records))
}

/// `--judge FILE`: the check of a finished run, from its `--outcomes` file.
async fn judge_file(args: &LoadArgs, path: &Path) -> Result<LoadReport, ToolError> {
    let (header, records) = read_outcomes(path)?;
    let run = RunId::from_prefix(&header.run_id)
        .ok_or_else(|| ToolError::Usage(format!("bad run id {:?}", header.run_id)))?;
    tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    let check = check(args, &header, &run, &records).await?;
    Ok(LoadReport {
        url: header.urls.join(","),
        endpoint: header.endpoint.clone(),
        connections: header.connections,
        run_id: header.run_id.clone(),
        summary: LoadSummary::of(
            &records,
            Duration::from_secs_f64(header.elapsed_secs.max(0.0)),
        ),
        check: Some(check),
        keyed: header.keyed,
    })
}

/// Runs `kafkatx load`: prints the report, fails if the check did. `stop` (the binary passes
/// SIGTERM or SIGINT) ends the load early; the run is still reported (and checked).
pub async fn run(
    args: LoadArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ToolError> {
    let report = execute_until(&args, stop).await?;
    if args.json {
        let json = serde_json::to_string(&report).map_err(|e| ToolError::Output(e.to_string()))?;
        println!("{json}");
    } else {
        println!("{report}");
    }
    if report.passed() {
        Ok(())
    } else {
        Err(ToolError::CheckFailed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn an_outcomes_file_reads_back_as_written() {
        let record = |number, status, outcome, kind: Option<&str>| RequestRecord {
            number,
            status,
            outcome,
            error_kind: kind.map(str::to_owned),
            latency: Duration::from_micros(1500),
            sent_at: Duration::from_millis(250 * number),
            target: usize::try_from(number % 2).unwrap(),
            attempts: 1,
        };
        let run = LoadRun {
            records: vec![
                record(1, None, Outcome::Unknown, Some("timeout")),
                record(0, Some(200), Outcome::Committed, None),
                record(2, Some(503), Outcome::Failed, Some("503 saturated")),
            ],
            elapsed: Duration::from_secs(2),
            started: SystemTime::now(),
        };
        let header = OutcomesHeader {
            kafkatx_load_outcomes: 1,
            run_id: "r1".to_owned(),
            endpoint: "transactions".to_owned(),
            topics: vec!["a".to_owned(), "b".to_owned()],
            parts: 2,
            urls: vec!["http://x:1".to_owned(), "http://y:2".to_owned()],
            connections: 4,
            started_unix_ms: 1_700_000_000_000,
            elapsed_secs: 2.0,
            keyed: true,
        };
        let path = std::env::temp_dir().join(format!("kafkatx-outcomes-{}.jsonl", RunId::random()));
        write_outcomes(&path, &header, &run).unwrap();
        let (read_header, mut read) = read_outcomes(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read_header.topics, header.topics);
        assert_eq!(read_header.started_unix_ms, header.started_unix_ms);
        assert!(read_header.keyed);
        let mut written = run.records.clone();
        written.sort_unstable_by_key(|r| r.number);
        read.sort_unstable_by_key(|r| r.number);
        assert_eq!(read.len(), 3);
        for (a, b) in read.iter().zip(&written) {
            assert_eq!(
                (a.number, a.status, a.outcome, &a.error_kind, a.target),
                (b.number, b.status, b.outcome, &b.error_kind, b.target)
            );
            assert!(a.latency.abs_diff(b.latency) < Duration::from_micros(1));
            assert!(a.sent_at.abs_diff(b.sent_at) < Duration::from_micros(1));
        }
    }
}
