//! The `paylog` binary: parses the command line and hands over to [`paylog_api::cli`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = paylog_api::cli::Cli::parse();
    match paylog_api::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // One line per cause, outermost first, so the reason is readable in a terminal.
            eprintln!("paylog: {err:#}");
            ExitCode::FAILURE
        }
    }
}
