//! `paylog events`: the log as JSON lines, one envelope per line, oldest first.
//!
//! Each line has the shape of a `paylog export` line: the envelope with the payload as
//! stored (JSON, at its recorded schema version), so this shows exactly what the log
//! holds; `paylog audit` shows decoded, upcast events.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use paylog_projections::audit::{Secrets, export_line};
use paylog_store::{EventStore, StoreLocation};

use crate::config::LogSource;

/// How many events one read fetches; memory stays bounded at any log size.
const PAGE: usize = 1024;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Where the event log and the views live.
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: std::path::PathBuf,

    #[command(flatten)]
    pub log: LogSource,

    /// First position to print (positions start at 1).
    #[arg(long, default_value_t = 1)]
    pub from: u64,

    /// Print only this stream (e.g. `order-<uuid>`), from its version `--from`.
    #[arg(long)]
    pub stream: Option<String>,

    /// Print password hashes as stored instead of redacted.
    #[arg(long)]
    pub include_password_hashes: bool,
}

pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let secrets = if args.include_password_hashes {
        Secrets::Included
    } else {
        Secrets::Redacted
    };
    let (runtime, store) = open_log(&args.data_dir, &args.log)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    runtime.block_on(async {
        let mut cursor = args.from.max(1);
        loop {
            let page = match &args.stream {
                Some(stream) => store.read_stream(stream, cursor, PAGE).await,
                None => store.read_all(cursor - 1, PAGE).await,
            }
            .context("reading the log")?;
            for event in &page {
                writeln!(out, "{}", export_line(event, secrets)?).context("writing to stdout")?;
            }
            let Some(last) = page.last() else { break };
            cursor = match &args.stream {
                Some(_) => last.stream_version + 1,
                None => last.position + 1,
            };
            if page.len() < PAGE {
                break;
            }
        }
        out.flush().context("writing to stdout")?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the event log for reading, with the runtime that reads it: the NATS stream
/// named by `source`, else the RocksDB under `data_dir`, refusing to create one where
/// none exists (a typo in `--data-dir` or `--nats-stream` should not silently print an
/// empty log). The open is read-only, so it works beside a running `paylog serve` and
/// shows the log as of now.
pub(crate) fn open_log(
    data_dir: &Path,
    source: &LogSource,
) -> anyhow::Result<(tokio::runtime::Runtime, Arc<dyn EventStore>)> {
    let runtime = super::runtime()?;
    let location = source.location(data_dir).map_err(anyhow::Error::msg)?;
    if let StoreLocation::Rocks(path) = &location
        && !path.join("CURRENT").exists()
    {
        anyhow::bail!("no event log at {} (is --data-dir right?)", path.display());
    }
    let what = match &location {
        StoreLocation::Rocks(path) => path.display().to_string(),
        StoreLocation::Nats(options) => {
            format!("stream {} on {}", options.stream, options.servers.join(","))
        }
    };
    let store = runtime
        .block_on(paylog_store::open_read_only(location))
        .with_context(|| format!("opening the event log ({what})"))?;
    Ok((runtime, store))
}
