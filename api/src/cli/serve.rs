//! `paylog serve`: the HTTP API on an embedded RocksDB (and the simulator if needed).

use std::process::ExitCode;

use crate::config::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("serve is not wired yet")
}
