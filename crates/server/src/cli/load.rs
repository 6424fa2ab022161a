//! `kafkatx load`: an HTTP load generator for the gateway (and the seed server), with an
//! exactly-once check of what the requests wrote.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::CliError;
use crate::load::checker::{Expectation, compare, judge, run_messages};
use crate::load::generator::{LoadPlan, RequestShape, Target, drive};
use crate::load::ids::RunId;
use crate::load::readback::{read_with_kafkatx, read_with_kcat};
use crate::load::report::{CheckReport, LoadReport};
use crate::load::stats::LoadSummary;

/// Which endpoint the load hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    /// `GET /errors/{id}`: two records `err: n - pro: ... - usr: {id}` (the seed's endpoint).
    Errors,
    /// `GET /warnings/{id}`: two records `war: n - ...` (the seed's endpoint).
    Warnings,
    /// `POST /v1/topics/{topic}/records` with `--records-per-request` records `rec: n - usr: {id}`.
    Records,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Errors => "errors",
            Endpoint::Warnings => "warnings",
            Endpoint::Records => "records",
        }
    }

    /// The tag at the start of each message value.
    fn tag(self) -> &'static str {
        match self {
            Endpoint::Errors => "err",
            Endpoint::Warnings => "war",
            Endpoint::Records => "rec",
        }
    }

    fn default_topic(self) -> Option<&'static str> {
        match self {
            Endpoint::Errors => Some("errors-topic"),
            Endpoint::Warnings => Some("warnings-topic"),
            Endpoint::Records => None,
        }
    }
}

/// Flags of `kafkatx load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server (plain http).
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    pub url: String,
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
    /// Defaults to errors-topic / warnings-topic for the seed endpoints.
    #[arg(long)]
    pub topic: Option<String>,
    /// Records per request on the records endpoint (the seed endpoints always write two).
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
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

/// Runs the load (and the check) and returns the report without printing it.
pub async fn execute(args: &LoadArgs) -> Result<LoadReport, CliError> {
    let run = match &args.run_id {
        Some(prefix) => RunId::from_prefix(prefix).ok_or_else(|| {
            CliError::Usage(format!(
                "--run-id {prefix:?} may only hold letters, digits and _"
            ))
        })?,
        None => RunId::random(),
    };
    let topic = args
        .topic
        .clone()
        .or_else(|| args.endpoint.default_topic().map(str::to_owned));
    let shape = match args.endpoint {
        Endpoint::Errors => RequestShape::Seed { path: "errors" },
        Endpoint::Warnings => RequestShape::Seed { path: "warnings" },
        Endpoint::Records => RequestShape::Records {
            topic: topic
                .clone()
                .ok_or_else(|| CliError::Usage("--endpoint records needs --topic".to_owned()))?,
            parts: args.records_per_request,
        },
    };
    let parts = match shape {
        RequestShape::Seed { .. } => 2,
        RequestShape::Records { parts, .. } => parts,
    };
    let duration = match (args.requests, args.duration) {
        (None, None) => Some(Duration::from_secs(10)),
        (_, duration) => duration,
    };
    let connections = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let plan = LoadPlan {
        target: Target::parse(&args.url)?,
        connections,
        max_requests: args.requests,
        duration,
        shape,
        request_timeout: Duration::from_millis(args.timeout_ms),
        run: run.clone(),
    };
    let outcome = drive(plan).await?;
    let summary = LoadSummary::of(&outcome.records, outcome.elapsed);
    let check = match (args.check, topic) {
        (false, _) => None,
        (true, None) => return Err(CliError::Usage("--check needs --topic".to_owned())),
        (true, Some(topic)) => {
            tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
            let ours = read_with_kafkatx(&args.bootstrap_server, &topic).await?;
            let theirs = read_with_kcat(&args.kcat, &args.bootstrap_server, &topic).await?;
            let expect = Expectation {
                run: run.clone(),
                tag: args.endpoint.tag().to_owned(),
                parts,
            };
            Some(CheckReport {
                kafkatx_reader: judge(&expect, &outcome.records, &ours),
                kcat_reader: judge(&expect, &outcome.records, &theirs),
                reader_diff: compare(&run_messages(&run, &ours), &run_messages(&run, &theirs)),
                topic,
            })
        }
    };
    Ok(LoadReport {
        url: args.url.clone(),
        endpoint: args.endpoint.name().to_owned(),
        connections,
        run_id: run.to_string(),
        summary,
        check,
    })
}

/// Runs `kafkatx load`: prints the report, fails if the check did.
pub async fn run(args: LoadArgs) -> Result<(), CliError> {
    let report = execute(&args).await?;
    if args.json {
        let json = serde_json::to_string(&report).map_err(|e| CliError::Output(e.to_string()))?;
        println!("{json}");
    } else {
        println!("{report}");
    }
    if report.passed() {
        Ok(())
    } else {
        Err(CliError::CheckFailed)
    }
}
