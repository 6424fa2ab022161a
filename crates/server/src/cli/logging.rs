//! Log output: human-readable by default, JSON lines with `--log-format json`.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

use super::CliError;

/// Shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain text for terminals and `docker logs`.
    Human,
    /// One JSON object per line, with the request span's fields, for log pipelines.
    Json,
}

/// Logging flags shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "KAFKATX_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    pub log_format: LogFormat,
    /// Which events to log, in `tracing` env-filter syntax (e.g. `info,kafkatx_txn=debug`).
    #[arg(long, global = true, env = "KAFKATX_LOG", default_value = "info")]
    pub log_filter: String,
}

/// Installs the global subscriber; logs go to stderr so that `consume` can print records on stdout.
pub fn init(args: &LogArgs) -> Result<(), CliError> {
    let filter = EnvFilter::try_new(&args.log_filter)
        .map_err(|e| CliError::Logging(format!("bad --log-filter {:?}: {e}", args.log_filter)))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match args.log_format {
        LogFormat::Human => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    installed.map_err(|e| CliError::Logging(e.to_string()))
}
