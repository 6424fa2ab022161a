//! `kafkatx load`: an HTTP load generator for the gateway (and the seed server).

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::CliError;

/// Which endpoint the load hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    /// `GET /errors/{id}`
    Errors,
    /// `GET /warnings/{id}`
    Warnings,
    /// `POST /v1/topics/{topic}/records`
    Records,
}

/// Flags of `kafkatx load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the gateway.
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    pub url: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Stop after this many requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Stop after this long (seconds).
    #[arg(long, value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Endpoint to call.
    #[arg(long, value_enum, default_value = "errors")]
    pub endpoint: Endpoint,
    /// Verify afterwards that every acknowledged record is committed.
    #[arg(long)]
    pub check: bool,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|e| format!("{text:?} is not a whole number of seconds: {e}"))
}

/// Runs `kafkatx load`.
pub async fn run(_args: LoadArgs) -> Result<(), CliError> {
    Err(CliError::NotImplemented("load"))
}
