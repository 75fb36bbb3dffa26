//! The `paylog` subcommands; `main.rs` only parses and dispatches.
//!
//! One file per subcommand. Each returns `anyhow::Result<ExitCode>`: errors carry
//! context for people, and a command that found a problem (a failed verify) returns a
//! non-zero code without being an error.

pub mod audit;
pub mod bench;
pub mod demo;
pub mod events;
pub mod export;
pub mod import;
pub mod migrate;
pub mod reconcile;
pub mod replay;
pub mod serve;
pub mod wxpay;
pub mod wxpay_sim;
pub mod wxpay_v3;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// paylog: an event-sourced order and payment engine for WeChat mini-programs.
#[derive(Debug, Parser)]
#[command(name = "paylog", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (and the WeChat simulator when WeChat is not configured).
    Serve(Box<crate::config::ServeArgs>),
    /// The whole story over real HTTP against a temp dir and the simulator: log in,
    /// create a product, order, pay, notify (and a duplicate), partial refund.
    Demo(demo::DemoArgs),
    /// Print the event log as JSON lines.
    Events(events::EventsArgs),
    /// Rebuild every view from the log (`--verify`: compare with the live views first).
    Replay(replay::ReplayArgs),
    /// Replay for audits: an order's history (`--as-of`), or verify the whole log.
    Audit(audit::AuditArgs),
    /// Write the whole log as JSON lines to stdout (restorable with `import`).
    Export(export::ExportArgs),
    /// Restore an export from stdin into an empty data directory.
    Import(import::ImportArgs),
    /// Compare WeChat's daily bill of a Beijing day (default: yesterday) with the log;
    /// exit 0 only when they match.
    Reconcile(Box<reconcile::ReconcileArgs>),
    /// Copy a RocksDB log into an empty JetStream stream (positions, versions, ids and
    /// times preserved) and verify the copy.
    Migrate(migrate::MigrateArgs),
    /// WeChat Pay signing toolbox: v2 sign, verify, pay-params, decrypt-refund; and
    /// `wxpay v3 sign-request|verify|decrypt|pay-params|keygen` (stdin in).
    Wxpay {
        #[command(subcommand)]
        cmd: wxpay::WxpayCommand,
    },
    /// Run the local WeChat simulator (Pay v2 + jscode2session) on its own.
    WxpaySim(wxpay_sim::WxpaySimArgs),
    /// Benchmarks on this machine (temp dirs, loopback only): one Markdown table.
    Bench(bench::BenchArgs),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Events(args) => events::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
        Command::Reconcile(args) => reconcile::run(*args),
        Command::Migrate(args) => migrate::run(args),
        Command::Wxpay { cmd } => {
            wxpay::run(cmd, std::io::stdin().lock(), std::io::stdout().lock())
        }
        Command::WxpaySim(args) => wxpay_sim::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

/// A multi-threaded tokio runtime for the subcommands that need one.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
