//! `paylog events`: the log as JSON lines.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub store: crate::config::StoreArgs,
}

pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("events is not wired yet")
}
