//! N transactional producers, each in a tight loop of begin, two keyless records, commit: the
//! same work as the Java reference program in `bench/java/TxnLoop.java`, so the two measure
//! what one producer reused at once can do on a broker.
//!
//! ```sh
//! cargo run --release -p kafkatx-txn --example txn_loop -- 127.0.0.1:9092 TOPIC PRODUCERS SECONDS
//! ```

use std::time::{Duration, Instant};

use kafkatx_txn::{ProducerConfig, ProducerRecord, TransactionalProducer, TxnError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // RUST_LOG=kafkatx_txn=debug shows every request and answer with its time.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let bootstrap = arg(0, "127.0.0.1:9092");
    let topic = arg(1, "txn-loop");
    let producers: usize = arg(2, "1").parse()?;
    let seconds: u64 = arg(3, "10").parse()?;
    let prefix = format!("txn-loop-{}", std::process::id());

    let mut tasks = Vec::new();
    for i in 0..producers {
        let config = ProducerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .transactional_id(format!("{prefix}-{i}"))
            .set("compression.type", "zstd")?
            .build()?;
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            run_one(config, &topic, Duration::from_secs(seconds)).await
        }));
    }
    let mut total = Stages::default();
    for task in tasks {
        total.add(&task.await??);
    }
    let count = total.transactions.max(1) as f64;
    println!(
        "producers={producers} transactions={} per_second={:.1} slowest_ms={:.2} \
         open_us={:.1} commit_us={:.1}",
        total.transactions,
        total.transactions as f64 / seconds as f64,
        total.slowest.as_secs_f64() * 1e3,
        total.open.as_secs_f64() * 1e6 / count,
        total.commit.as_secs_f64() * 1e6 / count,
    );
    Ok(())
}

/// Where one producer's loop spent its time: `open` is begin and the two sends (work of the
/// client alone), `commit` the commit call (the flush, Produce and EndTxn round trips).
#[derive(Debug, Default)]
struct Stages {
    transactions: u64,
    slowest: Duration,
    open: Duration,
    commit: Duration,
}

impl Stages {
    fn add(&mut self, other: &Stages) {
        self.transactions += other.transactions;
        self.slowest = self.slowest.max(other.slowest);
        self.open += other.open;
        self.commit += other.commit;
    }
}

async fn run_one(
    config: ProducerConfig,
    topic: &str,
    duration: Duration,
) -> Result<Stages, TxnError> {
    let producer = TransactionalProducer::new(config).await?;
    producer.init_transactions().await?;
    let end = Instant::now() + duration;
    let mut stages = Stages::default();
    let pause = std::env::var("TXN_LOOP_PAUSE_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_micros);
    while Instant::now() < end {
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        let count = stages.transactions;
        let started = Instant::now();
        producer.begin_transaction().await?;
        let first = producer
            .send(ProducerRecord::new(topic, format!("a-{count}")))
            .await?;
        let second = producer
            .send(ProducerRecord::new(topic, format!("b-{count}")))
            .await?;
        let opened = Instant::now();
        producer.commit_transaction().await?;
        first.await?;
        second.await?;
        let ended = Instant::now();
        stages.open += opened - started;
        stages.commit += ended - opened;
        stages.slowest = stages.slowest.max(ended - started);
        stages.transactions += 1;
    }
    let metrics = producer.metrics();
    eprintln!("{metrics:?}");
    producer.close().await?;
    Ok(stages)
}
