//! `paylog bench`: runs the benchmarks on this machine and prints one Markdown table
//! (`--json` for machines). `--quick` takes under a minute, the full run under ten.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use paylog_bench::{self as bench, Config, NatsLog, Sizes, Target};
use paylog_core::UserId;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::app::Application;
use crate::config::ServeArgs;
use crate::services::accounts::token::TokenKeys;

/// How long a bench server may take to fold a new shop into its views.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// The real paylog server, in-process, for the bench's HTTP rows.
#[derive(Debug)]
struct InProcess;

impl Target for InProcess {
    fn start(
        &self,
        data_dir: PathBuf,
        nats: Option<NatsLog>,
        token_secret: String,
        stop: oneshot::Receiver<()>,
    ) -> BoxFuture<'static, anyhow::Result<(SocketAddr, BoxFuture<'static, ()>)>> {
        async move {
            // Parsed like `paylog serve`'s flags, so that defaults stay the binary's.
            let mut args = ServeArgs::from_flags([
                "--data-dir".as_ref(),
                data_dir.as_os_str(),
                "--listen".as_ref(),
                "127.0.0.1:0".as_ref(),
                "--token-secret".as_ref(),
                token_secret.as_ref(),
                // A few simulated shoppers place many orders each: the anti-hoarding
                // limit would measure refusals, not the engine. `0` turns it off
                // (a huge limit would still count each shopper's open orders, a
                // scan of thousands of view rows per order here).
                "--max-open-orders-per-user".as_ref(),
                "0".as_ref(),
                // Every simulated shopper comes from 127.0.0.1: per-address rate limits
                // would measure refusals too.
                "--rate-limit-orders-per-minute".as_ref(),
                "0".as_ref(),
                "--rate-limit-login-per-minute".as_ref(),
                "0".as_ref(),
                "--rate-limit-register-per-minute".as_ref(),
                "0".as_ref(),
            ])?;
            if let Some(nats) = nats {
                args.store.log.store = Some(nats.url);
                args.store.log.nats_stream = nats.stream;
            }
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let app = Application::build(args, listener).await?;
            let handles = app.handles();
            let head = handles.store.head();
            if !handles.views.wait_for(head, CATCH_UP_TIMEOUT).await {
                anyhow::bail!("the views did not catch up with the new shop");
            }
            let serving = async move {
                if let Err(e) = app
                    .run_until_stopped(async {
                        let _ = stop.await;
                    })
                    .await
                {
                    tracing::error!(error = %e, "bench server failed");
                }
            }
            .boxed();
            Ok((handles.addr, serving))
        }
        .boxed()
    }

    fn token(&self, token_secret: &str, user: UserId) -> anyhow::Result<String> {
        let keys = TokenKeys::new(&SecretString::from(token_secret));
        Ok(keys.issue(user)?)
    }
}

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
    /// Only these rows (1 to 9), e.g. `--rows 1,4`.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u8).range(1..=9))]
    pub rows: Vec<u8>,
    /// Row 7's NATS cluster, `nats://host:port,…` (default: a 3-node cluster on free
    /// loopback ports started with .ci/nats-cluster.sh for the run).
    #[arg(long)]
    pub nats: Option<String>,
    /// Override the size of row 4's log (for profiling runs).
    #[arg(long, hide = true)]
    pub rebuild_events: Option<u64>,
    /// Override the seconds of each HTTP load run (for profiling runs).
    #[arg(long, hide = true)]
    pub http_secs: Option<f64>,
    /// Override the seconds of row 4's live-projector load (for profiling runs).
    #[arg(long, hide = true)]
    pub live_secs: Option<f64>,
    /// Rebuild only the log with these payloads in row 4: `binary` or `json` (for
    /// profiling runs; both by default).
    #[arg(long, hide = true)]
    pub rebuild_payloads: Option<String>,
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
    if let Some(secs) = args.live_secs {
        sizes.live_secs = secs;
    }
    match args.rebuild_payloads.as_deref() {
        None => {}
        Some("binary") => sizes.rebuild_payloads = paylog_bench::RebuildPayloads::Binary,
        Some("json") => sizes.rebuild_payloads = paylog_bench::RebuildPayloads::Json,
        Some(other) => anyhow::bail!("--rebuild-payloads is binary or json, not {other:?}"),
    }
    let config = Config {
        sizes,
        rows: args.rows,
        scratch: args.scratch.unwrap_or_else(std::env::temp_dir),
        server_exe: std::env::current_exe().context("finding the paylog binary")?,
        target: Arc::new(InProcess),
        nats: args.nats,
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
