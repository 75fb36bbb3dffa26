//! `paylog serve`: the HTTP API on an embedded RocksDB, or on a NATS JetStream cluster
//! with `--store nats://…` (and the simulator if needed).
//!
//! Logs go to stderr (`RUST_LOG` filters, default `info`). SIGTERM or Ctrl-C stops
//! accepting connections, drains in-flight requests, then closes the log cleanly.

use std::process::ExitCode;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

use crate::app::Application;
use crate::config::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    super::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let app = Application::build(args, listener)
            .await
            .context("starting paylog")?;
        app.run_until_stopped(shutdown_signal())
            .await
            .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Another subscriber may already be installed (tests); then keep it.
    // Colours only for a person at a terminal: escape codes in a log file or a pipe
    // break grep and log shippers.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
