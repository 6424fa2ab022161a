//! The `kafkatx` command line: `serve` and `hash-key` here; `perf`, `consume` and `load` come
//! from `kafkatx-tools`.
//!
//! Every flag has an environment variable (`KAFKATX_*`), so containers configure the binary
//! without a wrapper script.

pub mod hash_key;
pub mod logging;
pub mod serve;

use clap::{Parser, Subcommand};
use kafkatx_tools::{ToolError, consume, load, perf};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The Kafka backend (the producer pool) could not start.
    #[error(transparent)]
    Backend(#[from] crate::backend::kafka::StartError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The gateway's TLS files cannot be used.
    #[error("{0}")]
    Tls(crate::http::tls::ServerTlsError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// Logging could not be initialised.
    #[error("cannot initialise logging: {0}")]
    Logging(String),
    /// Flags that do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(String),
    /// `kafkatx perf`, `consume` or `load` failed.
    #[error(transparent)]
    Tool(#[from] ToolError),
}

/// A pure-Rust Kafka transactional gateway and tools.
#[derive(Debug, Parser)]
#[command(name = "kafkatx", version, about)]
pub struct Cli {
    /// Logging options, accepted by every subcommand.
    #[command(flatten)]
    pub log: logging::LogArgs,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP gateway on a pool of transactional producers.
    Serve(serve::ServeArgs),
    /// Measure transactional produce throughput (ProducerPerformance-compatible flags).
    Perf(perf::PerfArgs),
    /// Print the records of a topic and exit at its end.
    Consume(consume::ConsumeArgs),
    /// Generate HTTP load against a gateway (or the sarama server) and check exactly-once delivery.
    Load(load::LoadArgs),
    /// Print the `--api-keys` line of an API key read from stdin (only its SHA-256 digest).
    HashKey(hash_key::HashKeyArgs),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Perf(args) => Ok(perf::run(args).await?),
        Command::Consume(args) => Ok(consume::run(args).await?),
        Command::Load(args) => {
            let stop = crate::shutdown::termination_signal().map_err(CliError::Signals)?;
            Ok(load::run(args, stop).await?)
        }
        Command::HashKey(args) => hash_key::run(args).await,
    }
}
