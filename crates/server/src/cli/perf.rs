//! `kafkatx perf`: transactional produce throughput, with the flags of Kafka's
//! `ProducerPerformance` so that the same scripts drive both.

use clap::Args;
use kafkatx_wire::compression::Compression;

use super::CliError;

/// Flags of `kafkatx perf`.
#[derive(Debug, Clone, Args)]
pub struct PerfArgs {
    /// Brokers to bootstrap from, comma separated.
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
    /// Records per second to aim for; -1 means no limit.
    #[arg(long, allow_negative_numbers = true, default_value_t = -1)]
    pub throughput: i64,
    /// Transactional id of the producer.
    #[arg(long, default_value = "kafkatx-perf")]
    pub transactional_id: String,
    /// How long each transaction stays open before it is committed.
    #[arg(long, default_value_t = 3000)]
    pub transaction_duration_ms: u64,
    /// Record batch compression.
    #[arg(long, env = "KAFKATX_COMPRESSION", default_value = "zstd")]
    pub compression: Compression,
}

/// Runs `kafkatx perf`.
pub async fn run(_args: PerfArgs) -> Result<(), CliError> {
    Err(CliError::NotImplemented("perf"))
}
