//! A producer benchmark with the semantics of Kafka's `ProducerPerformance`
//! (`kafka-producer-perf-test.sh`): `--num-records`, `--record-size`, `--throughput`
//! (-1 = unthrottled), `--transactional-id`, `--transaction-duration-ms`; idempotent when no
//! transactional id is given. Latency is measured per record from `send` to acknowledgement.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use kafkatx_txn::{
    ConfigError, DeliveryFuture, Producer, ProducerConfig, ProducerRecord, TransactionalProducer,
    TxnError,
};
use rand::Rng as _;

/// Benchmark parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfPlan {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Topic to produce to.
    pub topic: String,
    /// `--num-records`.
    pub num_records: u64,
    /// `--record-size` in bytes.
    pub record_size: usize,
    /// `--throughput` in records/s; any value <= 0 means unthrottled.
    pub throughput: f64,
    /// `--transactional-id`; `None` runs an idempotent producer.
    pub transactional_id: Option<String>,
    /// `--transaction-duration-ms` (Java's default is 3000 when transactions are on).
    pub transaction_duration: Duration,
    /// `--producer-props key=value` pairs, applied with [`ProducerConfig`] names.
    pub producer_props: Vec<(String, String)>,
    /// Print a progress window line every 5 s, as the Java tool does.
    pub print_progress: bool,
}

impl Default for PerfPlan {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            topic: "perf".into(),
            num_records: 100_000,
            record_size: 100,
            throughput: -1.0,
            transactional_id: None,
            transaction_duration: Duration::from_millis(3000),
            producer_props: Vec::new(),
            print_progress: false,
        }
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfError {
    /// Bad producer settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The producer failed.
    #[error(transparent)]
    Producer(#[from] TxnError),
}

/// Final numbers, printed like `ProducerPerformance`'s summary line.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfReport {
    /// Records acknowledged.
    pub records: u64,
    /// Records that failed.
    pub errors: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Throughput in records/s.
    pub records_per_sec: f64,
    /// Throughput in MB/s (1 MB = 1024 * 1024 bytes, as Java).
    pub mb_per_sec: f64,
    /// Mean latency.
    pub avg_latency_ms: f64,
    /// Max latency.
    pub max_latency_ms: f64,
    /// Percentiles 50, 95, 99, 99.9 in ms.
    pub percentiles_ms: [u64; 4],
}

impl fmt::Display for PerfReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p50, p95, p99, p999] = self.percentiles_ms;
        write!(
            f,
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {p50} ms 50th, {p95} ms 95th, {p99} ms 99th, {p999} ms 99.9th.",
            self.records,
            self.records_per_sec,
            self.mb_per_sec,
            self.avg_latency_ms,
            self.max_latency_ms
        )
    }
}

/// Latency samples and error counts, shared with the per-record completion tasks.
#[derive(Debug, Default)]
struct Stats {
    latencies_ms: Vec<u32>,
    errors: u64,
    window_count: u64,
    window_latency_sum: u64,
    window_max: u32,
}

impl Stats {
    fn record(&mut self, latency: Duration, ok: bool) {
        if !ok {
            self.errors += 1;
            return;
        }
        let ms = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
        self.latencies_ms.push(ms);
        self.window_count += 1;
        self.window_latency_sum += u64::from(ms);
        self.window_max = self.window_max.max(ms);
    }
}

fn percentile(sorted: &[u32], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let last = sorted.len() - 1;
    let index = ((sorted.len() as f64 * fraction) as usize).min(last);
    sorted.get(index).copied().map_or(0, u64::from)
}

enum AnyProducer {
    Transactional(TransactionalProducer),
    Idempotent(Producer),
}

impl AnyProducer {
    async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, TxnError> {
        match self {
            Self::Transactional(p) => p.send(record).await,
            Self::Idempotent(p) => p.send(record).await,
        }
    }
}

fn build_config(args: &PerfPlan) -> Result<ProducerConfig, ConfigError> {
    let mut builder = ProducerConfig::builder().bootstrap_servers(&args.bootstrap_servers);
    if let Some(id) = &args.transactional_id {
        builder = builder.transactional_id(id.clone());
    }
    for (key, value) in &args.producer_props {
        builder = builder.set(key, value)?;
    }
    builder.build()
}

/// Run the benchmark. Must be called inside a tokio runtime.
pub async fn run_perf(args: PerfPlan) -> Result<PerfReport, PerfError> {
    let config = build_config(&args)?;
    let producer = if config.is_transactional() {
        let producer = TransactionalProducer::new(config).await?;
        producer.init_transactions().await?;
        producer.begin_transaction().await?;
        AnyProducer::Transactional(producer)
    } else {
        AnyProducer::Idempotent(Producer::new(config).await?)
    };
    // Java fills the payload with random uppercase letters once and reuses it.
    let mut rng = rand::rng();
    let payload: Bytes = (0..args.record_size)
        .map(|_| rng.random_range(b'A'..=b'Z'))
        .collect::<Vec<u8>>()
        .into();
    let stats = Arc::new(Mutex::new(Stats::default()));
    let start = Instant::now();
    let mut window_start = start;
    let mut txn_start = start;
    let mut commits = 0u64;
    for sent in 0..args.num_records {
        throttle(&args, start, sent).await;
        let send_time = Instant::now();
        let delivery = producer
            .send(ProducerRecord::new(args.topic.clone(), payload.clone()))
            .await?;
        let stats_for_task = Arc::clone(&stats);
        tokio::spawn(async move {
            let ok = delivery.await.is_ok();
            if let Ok(mut s) = stats_for_task.lock() {
                s.record(send_time.elapsed(), ok);
            }
        });
        if let AnyProducer::Transactional(p) = &producer {
            if txn_start.elapsed() >= args.transaction_duration {
                p.commit_transaction().await?;
                commits += 1;
                p.begin_transaction().await?;
                txn_start = Instant::now();
            }
        }
        if args.print_progress && window_start.elapsed() >= Duration::from_secs(5) {
            print_window(&stats, window_start.elapsed(), args.record_size);
            window_start = Instant::now();
        }
    }
    match &producer {
        AnyProducer::Transactional(p) => {
            p.commit_transaction().await?;
            commits += 1;
            p.close().await?;
        }
        AnyProducer::Idempotent(p) => {
            p.flush().await?;
            p.close().await?;
        }
    }
    // Let the completion tasks record the last acknowledgements.
    for _ in 0..100 {
        let done = stats
            .lock()
            .map(|s| s.latencies_ms.len() as u64 + s.errors)
            .unwrap_or(args.num_records);
        if done >= args.num_records {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let mut stats = stats
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    Ok(report(&mut stats, elapsed, args.record_size, commits))
}

async fn throttle(args: &PerfPlan, start: Instant, sent: u64) {
    if args.throughput <= 0.0 {
        return;
    }
    let due = Duration::from_secs_f64(sent as f64 / args.throughput);
    let elapsed = start.elapsed();
    if due > elapsed {
        tokio::time::sleep(due - elapsed).await;
    }
}

fn print_window(stats: &Mutex<Stats>, elapsed: Duration, record_size: usize) {
    let Ok(mut s) = stats.lock() else { return };
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let rate = s.window_count as f64 / secs;
    let avg = if s.window_count == 0 {
        0.0
    } else {
        s.window_latency_sum as f64 / s.window_count as f64
    };
    println!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
        s.window_count,
        rate,
        rate * record_size as f64 / (1024.0 * 1024.0),
        avg,
        f64::from(s.window_max)
    );
    s.window_count = 0;
    s.window_latency_sum = 0;
    s.window_max = 0;
}

fn report(stats: &mut Stats, elapsed: Duration, record_size: usize, commits: u64) -> PerfReport {
    stats.latencies_ms.sort_unstable();
    let records = stats.latencies_ms.len() as u64;
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let records_per_sec = records as f64 / secs;
    let sum: u64 = stats.latencies_ms.iter().map(|l| u64::from(*l)).sum();
    PerfReport {
        records,
        errors: stats.errors,
        commits,
        elapsed,
        records_per_sec,
        mb_per_sec: records_per_sec * record_size as f64 / (1024.0 * 1024.0),
        avg_latency_ms: if records == 0 {
            0.0
        } else {
            sum as f64 / records as f64
        },
        max_latency_ms: stats.latencies_ms.last().map_or(0.0, |m| f64::from(*m)),
        percentiles_ms: [
            percentile(&stats.latencies_ms, 0.5),
            percentile(&stats.latencies_ms, 0.95),
            percentile(&stats.latencies_ms, 0.99),
            percentile(&stats.latencies_ms, 0.999),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_computes_percentiles_and_prints_the_java_summary_line() {
        let mut stats = Stats::default();
        for ms in 1..=1000u64 {
            stats.record(Duration::from_millis(ms), true);
        }
        stats.record(Duration::ZERO, false);
        let report = report(&mut stats, Duration::from_secs(2), 1024 * 1024, 3);
        assert_eq!(report.records, 1000);
        assert_eq!(report.errors, 1);
        assert_eq!(report.percentiles_ms, [501, 951, 991, 1000]);
        assert!((report.records_per_sec - 500.0).abs() < 1e-9);
        assert!((report.mb_per_sec - 500.0).abs() < 1e-9);
        assert_eq!(
            report.to_string(),
            "1000 records sent, 500.0 records/sec (500.00 MB/sec), 500.50 ms avg latency, 1000.00 ms max latency, \
             501 ms 50th, 951 ms 95th, 991 ms 99th, 1000 ms 99.9th."
        );
    }

    #[test]
    fn producer_props_use_config_names() {
        let args = PerfPlan {
            producer_props: vec![
                ("linger.ms".into(), "20".into()),
                ("bogus".into(), "1".into()),
            ],
            ..PerfPlan::default()
        };
        assert!(matches!(build_config(&args), Err(ConfigError::UnknownKey(key)) if key == "bogus"));
    }
}
