//! `paylog replay`: rebuilds every view from position 0 into a fresh generation, with
//! a progress bar and a closing events/s figure. `--verify` first compares the rebuilt
//! views with the live ones and exits non-zero on any difference (keeping the live ones).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::LogSource;
use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use paylog_projections::{Views, rebuild_staged};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Where the event log and the views live.
    #[arg(long, env = "PAYLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub log: LogSource,

    /// Compare the rebuilt views with the live ones; exit non-zero on any difference.
    #[arg(long)]
    pub verify: bool,

    /// How many differences to print at most.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let (runtime, store) = super::events::open_log(&args.data_dir, &args.log)?;
    let views = open_views(&args.data_dir)?;
    runtime.block_on(async {
        let bar = ProgressBar::new(store.head());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} replay [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .context("progress bar template")?
            .progress_chars("=> "),
        );
        let staged = rebuild_staged(&*store, &views, |p| {
            bar.set_length(p.head);
            bar.set_position(p.position);
        })
        .await
        .context("rebuilding the views")?;
        bar.finish_and_clear();
        let stats = staged.stats();
        println!(
            "rebuilt {} events up to position {} in {:.2} s ({:.0} events/s)",
            stats.events,
            stats.position,
            stats.elapsed.as_secs_f64(),
            stats.events_per_second()
        );
        if args.verify {
            let differences = staged.diff(args.show.max(1)).context("comparing views")?;
            if !differences.is_empty() {
                println!(
                    "the rebuilt views differ from the live ones (first {}):",
                    differences.len()
                );
                for difference in &differences {
                    println!("  {difference}");
                }
                staged.discard().context("discarding the rebuilt views")?;
                println!("kept the live views");
                return Ok(ExitCode::FAILURE);
            }
            println!("the rebuilt views are identical to the live ones");
        }
        let stats = staged
            .activate(&*store)
            .await
            .context("swapping in the rebuilt views")?;
        println!("generation {} now serves the views", stats.generation);
        Ok(ExitCode::SUCCESS)
    })
}

/// Opens `<data_dir>/views`, explaining the likely cause when the server holds it.
pub(crate) fn open_views(data_dir: &std::path::Path) -> anyhow::Result<Views> {
    let path = data_dir.join("views");
    Views::open(&path).with_context(|| {
        format!(
            "opening the views at {} (is `paylog serve` running on it?)",
            path.display()
        )
    })
}
