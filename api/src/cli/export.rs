//! `paylog export`: the whole log as JSON lines on stdout, one envelope per line, in a
//! form `paylog import` restores exactly (see `paylog_projections::audit::exchange`)
//! when `--include-password-hashes` is given; without it password hashes are redacted.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::LogSource;
use anyhow::Context as _;
use clap::Args;
use paylog_projections::audit::{Secrets, export_line};

/// Events read per call: memory stays bounded at any log size.
const PAGE: usize = 4096;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub log: LogSource,

    /// Export password hashes as stored. Without it they are redacted, and the export
    /// is for reading only: `paylog import` restores only a full export.
    #[arg(long)]
    pub include_password_hashes: bool,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let secrets = if args.include_password_hashes {
        Secrets::Included
    } else {
        Secrets::Redacted
    };
    let (runtime, store) = super::events::open_log(&args.data_dir, &args.log)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let count = runtime.block_on(async {
        let mut after = 0;
        let mut count = 0u64;
        loop {
            let page = store
                .read_all(after, PAGE)
                .await
                .context("reading the log")?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for event in &page {
                let line = export_line(event, secrets).context("exporting an event")?;
                writeln!(out, "{line}").context("writing to stdout")?;
                count += 1;
            }
        }
        out.flush().context("writing to stdout")?;
        anyhow::Ok(count)
    })?;
    eprintln!("exported {count} events");
    Ok(ExitCode::SUCCESS)
}
