//! `kafkatx perf`: produce throughput with the flags and summary line of Kafka's
//! `ProducerPerformance` (`kafka-producer-perf-test.sh`), so that one script drives both.
//!
//! As in the Java tool: no `--transactional-id` and no `--transaction-duration-ms` runs an
//! idempotent producer; either one turns transactions on (default id
//! `performance-producer-default-transactional-id`, default duration 3000 ms).

use std::time::Duration;

use crate::ToolError;
use clap::Args;

mod engine;

pub use engine::{PerfError, PerfPlan, PerfReport, run_perf};

/// The Java tool's transactional id when only `--transaction-duration-ms` is given.
const DEFAULT_TRANSACTIONAL_ID: &str = "performance-producer-default-transactional-id";
/// The Java tool's transaction duration when only `--transactional-id` is given.
const DEFAULT_TRANSACTION_DURATION_MS: u64 = 3_000;

/// Flags of `kafkatx perf`.
#[derive(Debug, Clone, Args)]
pub struct PerfArgs {
    /// Brokers to bootstrap from, comma separated (`bootstrap.servers` in --producer-props wins).
    #[arg(
        long,
        env = "KAFKATX_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// Topic to produce to.
    #[arg(long)]
    pub topic: String,
    /// Records to produce in total.
    #[arg(long)]
    pub num_records: u64,
    /// Size of each record value in bytes.
    #[arg(long)]
    pub record_size: usize,
    /// Records per second to aim for; -1 (or any value <= 0) means no limit.
    #[arg(long, allow_negative_numbers = true, default_value_t = -1.0)]
    pub throughput: f64,
    /// Producer settings by their Kafka names, e.g. `acks=all linger.ms=5 compression.type=zstd`.
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., value_parser = parse_property)]
    pub producer_props: Vec<(String, String)>,
    /// Transactional id; turns transactions on.
    #[arg(long)]
    pub transactional_id: Option<String>,
    /// How long each transaction stays open before it is committed; turns transactions on.
    #[arg(long)]
    pub transaction_duration_ms: Option<u64>,
    /// Print a progress line every 5 s, as the Java tool does.
    #[arg(long)]
    pub progress: bool,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

impl PerfArgs {
    /// The benchmark these flags ask for, with the Java tool's defaults for transactions.
    pub fn plan(&self) -> PerfPlan {
        let transactional =
            self.transactional_id.is_some() || self.transaction_duration_ms.is_some();
        PerfPlan {
            bootstrap_servers: self.bootstrap_server.clone(),
            topic: self.topic.clone(),
            num_records: self.num_records,
            record_size: self.record_size,
            throughput: self.throughput,
            transactional_id: transactional.then(|| {
                self.transactional_id
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TRANSACTIONAL_ID.to_owned())
            }),
            transaction_duration: Duration::from_millis(
                self.transaction_duration_ms
                    .unwrap_or(DEFAULT_TRANSACTION_DURATION_MS),
            ),
            producer_props: self.producer_props.clone(),
            print_progress: self.progress,
        }
    }
}

/// Runs `kafkatx perf` and prints the Java tool's summary line.
///
/// The benchmark runs on its own single-threaded runtime: the sending loop and the producer's
/// driver task then hand each record over without waking another thread. On the shared
/// multi-threaded runtime every `send` crossed threads (futex and eventfd wake-ups took about
/// three quarters of the process's time in a profile), which capped a sequential sender.
pub async fn run(args: PerfArgs) -> Result<(), ToolError> {
    let plan = args.plan();
    let benchmark = tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ToolError::Runtime(e.to_string()))
            .and_then(|runtime| runtime.block_on(run_perf(plan)).map_err(ToolError::Perf))
    });
    let report = benchmark
        .await
        .map_err(|e| ToolError::Runtime(format!("the benchmark thread failed: {e}")))??;
    println!("{report}");
    if report.errors > 0 {
        return Err(ToolError::PerfRecordsFailed(report.errors));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        perf: PerfArgs,
    }

    fn parse(extra: &[&str]) -> PerfPlan {
        let mut argv = vec![
            "perf",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "100",
        ];
        argv.extend_from_slice(extra);
        Wrapper::parse_from(argv).perf.plan()
    }

    #[test]
    fn without_transaction_flags_the_producer_is_idempotent() {
        let args = parse(&[
            "--throughput",
            "-1",
            "--producer-props",
            "acks=all",
            "linger.ms=5",
        ]);
        assert_eq!(args.transactional_id, None);
        assert!(args.throughput < 0.0);
        assert_eq!(
            args.producer_props,
            vec![
                ("acks".to_owned(), "all".to_owned()),
                ("linger.ms".to_owned(), "5".to_owned())
            ]
        );
    }

    #[test]
    fn either_transaction_flag_turns_transactions_on_with_java_defaults() {
        let by_duration = parse(&["--transaction-duration-ms", "10"]);
        assert_eq!(
            by_duration.transactional_id.as_deref(),
            Some(DEFAULT_TRANSACTIONAL_ID)
        );
        assert_eq!(by_duration.transaction_duration, Duration::from_millis(10));
        let by_id = parse(&["--transactional-id", "mine"]);
        assert_eq!(by_id.transactional_id.as_deref(), Some("mine"));
        assert_eq!(by_id.transaction_duration, Duration::from_millis(3000));
    }
}
