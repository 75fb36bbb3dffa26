//! `paylog import`: restores an export (JSON lines on stdin) into an EMPTY data dir,
//! preserving positions, stream versions, `recorded_at` and command/correlation ids.
//! Then it builds the views from the imported log, so the data dir is complete:
//! `paylog serve` serves it and `paylog replay --verify` compares against real views.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use paylog_projections::audit::import_line;
use paylog_store::RocksStore;

use crate::config::LogSource;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An empty (or not yet existing) data directory.
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.data_dir;
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            anyhow::bail!(
                "{} is not empty: import only into an empty data directory",
                dir.display()
            );
        }
    }
    let path = dir.join("log");
    let mut importer = RocksStore::importer(&path)
        .with_context(|| format!("creating the event log at {}", path.display()))?;
    let stdin = std::io::stdin();
    for (index, line) in stdin.lock().lines().enumerate() {
        let number = index + 1;
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let event = import_line(&line).with_context(|| format!("line {number}"))?;
        importer
            .push(event)
            .with_context(|| format!("line {number}"))?;
    }
    let stats = importer.finish().context("finishing the import")?;
    eprintln!(
        "imported {} events ({} streams, {} commands) into {}",
        stats.events,
        stats.streams,
        stats.commands,
        path.display()
    );
    let (runtime, store) = super::events::open_log(dir, &LogSource::default())?;
    let views = super::replay::open_views(dir)?;
    let built = runtime
        .block_on(paylog_projections::rebuild(&*store, &views, |_| {}))
        .context("building the views from the imported log")?;
    eprintln!("built the views up to position {}", built.position);
    Ok(ExitCode::SUCCESS)
}
