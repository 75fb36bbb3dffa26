//! `paylog bench`: runs the benchmarks on this machine and prints one Markdown table
//! (`--json` for machines). `--quick` takes under a minute, the full run under ten.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::bench::{self, Config, Sizes};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Smaller sizes: under a minute.
    #[arg(long, conflicts_with = "smoke")]
    pub quick: bool,
    /// Tiny sizes, one round: checks that every row runs (for tests).
    #[arg(long, hide = true)]
    pub smoke: bool,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Only these rows (1 to 5), e.g. `--rows 1,4`.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=5))]
    pub rows: Vec<u8>,
    /// Override the size of row 4's log (for profiling runs).
    #[arg(long, hide = true)]
    pub rebuild_events: Option<u64>,
    /// Override the seconds of each HTTP load run (for profiling runs).
    #[arg(long, hide = true)]
    pub http_secs: Option<f64>,
    /// Where the temp dirs go (default: the system's temp dir).
    #[arg(long)]
    pub scratch: Option<PathBuf>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let sizes = if args.smoke {
        Sizes::smoke()
    } else if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let mut sizes = sizes;
    if let Some(events) = args.rebuild_events {
        sizes.rebuild_events = events;
    }
    if let Some(secs) = args.http_secs {
        sizes.http_secs = secs;
    }
    let config = Config {
        sizes,
        rows: args.rows,
        scratch: args.scratch.unwrap_or_else(std::env::temp_dir),
        server_exe: std::env::current_exe().context("finding the paylog binary")?,
    };
    let report = bench::run(&config, |step| eprintln!("paylog bench: {step}…"));
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.markdown())?;
    }
    let failed = report.lines.iter().any(|l| l.paylog == "FAILED");
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
