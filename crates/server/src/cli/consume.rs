//! `kafkatx consume`: prints a topic's records and exits at its end.

use clap::{Args, ValueEnum};

use super::CliError;

/// Which records a consumer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationLevel {
    /// Only committed transactional records.
    #[value(name = "read_committed")]
    ReadCommitted,
    /// Every record, including those of open and aborted transactions.
    #[value(name = "read_uncommitted")]
    ReadUncommitted,
}

/// Flags of `kafkatx consume`.
#[derive(Debug, Clone, Args)]
pub struct ConsumeArgs {
    /// Brokers to bootstrap from, comma separated.
    #[arg(
        long,
        env = "KAFKATX_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// Topic to read.
    #[arg(long)]
    pub topic: String,
    /// Which records to show.
    #[arg(long, value_enum, default_value = "read_committed")]
    pub isolation_level: IsolationLevel,
    /// Start at the earliest offset instead of the end.
    #[arg(long)]
    pub from_beginning: bool,
}

/// Runs `kafkatx consume`.
pub async fn run(_args: ConsumeArgs) -> Result<(), CliError> {
    Err(CliError::NotImplemented("consume"))
}
