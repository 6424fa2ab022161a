//! The `kafkatx` binary: parses flags, sets up logging and a runtime, runs the subcommand.

use std::process::ExitCode;

use clap::Parser;
use kafkatx_server::cli::{self, Cli, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(&cli.log) {
        eprintln!("kafkatx: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kafkatx: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "kafkatx failed");
            eprintln!("kafkatx: {e}");
            ExitCode::FAILURE
        }
    }
}
