//! `paylog bench`: where paylog stands against the raw limits of this machine.
//!
//! One run prints one Markdown table (or JSON). Every comparison measures its two
//! sides in the same run, alternating round by round on the same data, and reports
//! medians, so that noise from a busy machine cancels in the ratios. Everything lives
//! in temp dirs; load goes to 127.0.0.1 only and is bounded in time and count.
//!
//! - `append.rs`: row 1, durable append vs raw synced `WriteBatch`es;
//! - `http.rs` (with `server.rs`, `load.rs`): rows 2 and 3, PlaceOrder and payment
//!   notifies over HTTP, with a bare axum echo as the ceiling;
//! - `rebuild.rs`: row 4, projection rebuild vs a raw scan of the log;
//! - `nats.rs`: row 7, durable append and PlaceOrder over HTTP with the log on a
//!   3-node loopback NATS cluster, beside RocksDB in the same run;
//! - `growth.rs`: row 5, PlaceOrder latency and server RSS as the log grows, and
//!   row 8, the start-up of a server on the grown log (views persisted);
//! - `flood.rs` (with `child.rs`): row 6, a flood of password logins against one
//!   shopper, before and after the bounded hash pool and the login rate limit;
//! - `external.rs`: row 9, PlaceOrder against `paylog serve` as a child process,
//!   driven by `wrk` from outside (and the echo the same way);
//! - `fill.rs`: realistic logs generated through the domain code, appended fast;
//! - `report.rs`: the table, medians, units.

mod append;
mod child;
mod external;
mod fill;
pub mod flood;
mod growth;
mod http;
mod live;
mod load;
mod nats;
mod rebuild;
mod report;
mod server;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use paylog_core::UserId;

pub use rebuild::Payloads as RebuildPayloads;
pub use report::{Line, Report};

/// How big a run is.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub mode: &'static str,
    pub rounds: usize,
    /// Row 1: events appended per round (spread over 64 appenders).
    pub append_events: usize,
    /// Rows 2, 3, 5: seconds per load run, and a bound on its requests.
    pub http_secs: f64,
    pub http_max_requests: u64,
    /// Row 4: events in the rebuilt log.
    pub rebuild_events: u64,
    /// Row 4, live projector: seconds of offered load.
    pub live_secs: f64,
    /// Row 4: which payload encodings are rebuilt (both but for profiling runs).
    pub rebuild_payloads: RebuildPayloads,
    /// Row 5: events in the log at each stage.
    pub growth_events: Vec<u64>,
    /// Row 6: concurrent flooding logins, and seconds of flood per defence.
    pub flood_clients: usize,
    pub flood_secs: f64,
}

impl Sizes {
    /// The full run: the sizes, under ten minutes.
    pub fn full() -> Self {
        Self {
            mode: "full",
            rounds: 3,
            append_events: 192_000,
            http_secs: 4.0,
            http_max_requests: 2_000_000,
            rebuild_events: 1_000_000,
            live_secs: 6.0,
            rebuild_payloads: RebuildPayloads::Both,
            growth_events: vec![0, 1_000_000, 5_000_000],
            flood_clients: flood::FLOOD_CLIENTS,
            flood_secs: 10.0,
        }
    }

    /// Under a minute.
    pub fn quick() -> Self {
        Self {
            mode: "quick",
            rounds: 3,
            append_events: 19_200,
            http_secs: 0.7,
            http_max_requests: 200_000,
            rebuild_events: 100_000,
            live_secs: 2.0,
            rebuild_payloads: RebuildPayloads::Both,
            growth_events: vec![0, 50_000, 200_000],
            flood_clients: flood::FLOOD_CLIENTS,
            flood_secs: 3.0,
        }
    }

    /// Tiny sizes for the smoke test: every row, a few seconds.
    pub fn smoke() -> Self {
        Self {
            mode: "smoke",
            rounds: 1,
            append_events: 640,
            http_secs: 0.2,
            http_max_requests: 2_000,
            rebuild_events: 3_000,
            live_secs: 0.3,
            rebuild_payloads: RebuildPayloads::Both,
            growth_events: vec![0, 3_000],
            // Enough to fill the hash pool's queue; the unbounded run would otherwise
            // take gigabytes in a smoke test.
            flood_clients: 24,
            flood_secs: 0.5,
        }
    }
}

/// The paylog server rows 2 and 3 measure, supplied by the binary that runs the
/// bench: the bench sits below the application crate (which runs `paylog bench`),
/// so it reaches the server through this trait instead of importing it.
pub trait Target: Send + Sync {
    /// Starts the real server (durable appends, the built-in WeChat simulator) on
    /// `data_dir` (its log there, or on `nats` when given), listening on 127.0.0.1 port 0 and signing bearer tokens with
    /// `token_secret`. Resolves once its views caught up with the log, to its address
    /// and the future that serves until `stop` fires.
    fn start(
        &self,
        data_dir: PathBuf,
        nats: Option<NatsLog>,
        token_secret: String,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) -> BoxFuture<'static, anyhow::Result<(SocketAddr, BoxFuture<'static, ()>)>>;

    /// A bearer token for `user`, as a server started with `token_secret` signs it.
    fn token(&self, token_secret: &str, user: UserId) -> anyhow::Result<String>;
}

/// A log on a NATS cluster: `--store URL --nats-stream STREAM`.
#[derive(Debug, Clone)]
pub struct NatsLog {
    pub url: String,
    pub stream: String,
}

/// What to run, and where.
#[derive(Clone)]
pub struct Config {
    pub sizes: Sizes,
    /// Only these rows (1 to 9); empty means all.
    pub rows: Vec<u8>,
    /// Where the temp dirs go (the system's temp dir by default).
    pub scratch: PathBuf,
    /// The `paylog` binary that row 5 starts as `paylog serve`.
    pub server_exe: PathBuf,
    /// The in-process server of rows 2, 3 and 7.
    pub target: Arc<dyn Target>,
    /// Row 7's NATS cluster (`nats://…`); without it row 7 starts a 3-node loopback
    /// cluster with `.ci/nats-cluster.sh`.
    pub nats: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("sizes", &self.sizes)
            .field("rows", &self.rows)
            .field("scratch", &self.scratch)
            .field("server_exe", &self.server_exe)
            .field("nats", &self.nats)
            .finish_non_exhaustive()
    }
}

/// Runs the rows and collects their lines. A row that fails is reported as a line
/// saying so, and the others still run.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Report {
    let started = Instant::now();
    let wanted = |row: u8| config.rows.is_empty() || config.rows.contains(&row);
    let sizes = &config.sizes;
    let scratch = config.scratch.as_path();
    let mut lines = Vec::new();
    let mut row = |n: u8, name: &str, result: anyhow::Result<Vec<Line>>| match result {
        Ok(mut l) => lines.append(&mut l),
        Err(e) => {
            let mut line = Line::new(n, name);
            line.paylog = "FAILED".into();
            line.detail = format!("{e:#}");
            lines.push(line);
        }
    };
    if wanted(1) {
        progress("row 1: durable append");
        row(
            1,
            "Durable append",
            append::run(sizes, scratch).map(|l| vec![l]),
        );
    }
    if wanted(2) || wanted(3) {
        progress("rows 2 and 3: PlaceOrder and notifies over HTTP");
        row(
            2,
            "PlaceOrder over HTTP",
            http::run(sizes, scratch, config.target.as_ref()),
        );
    }
    if wanted(4) {
        progress("row 4: projection rebuild");
        row(4, "Projection rebuild", rebuild::run(sizes, scratch));
        progress("row 4: the live projector under 25k orders/s");
        row(
            4,
            "Live projector",
            live::run(sizes, scratch).map(|l| vec![l]),
        );
    }
    if wanted(5) || wanted(8) {
        progress("rows 5 and 8: growth, and start-up on the grown log");
        row(
            5,
            "Growth",
            growth::run(sizes, scratch, &config.server_exe, config.target.as_ref()),
        );
    }
    if wanted(6) {
        progress("row 6: login flood");
        row(
            6,
            "Login flood",
            flood::run(sizes, scratch, &config.server_exe),
        );
    }
    if wanted(7) {
        progress("row 7: the log on a 3-node NATS cluster beside RocksDB");
        row(
            7,
            "NATS beside RocksDB",
            nats::run(
                sizes,
                scratch,
                config.target.as_ref(),
                config.nats.as_deref(),
            ),
        );
    }
    if wanted(9) {
        progress("row 9: PlaceOrder over HTTP, external load (wrk)");
        row(
            9,
            "PlaceOrder over HTTP, external load (wrk)",
            external::run(sizes, scratch, &config.server_exe, config.target.as_ref()),
        );
    }
    // Row 8 is measured on row 5's filled log; a run asked for one of them keeps only
    // the lines it asked for.
    lines.retain(|l| wanted(l.row) || l.paylog == "FAILED");
    let comparable = report::optimised_build();
    Report {
        mode: sizes.mode.to_owned(),
        profile: if comparable { "release" } else { "dev" }.to_owned(),
        comparable,
        rounds: sizes.rounds,
        lines,
        elapsed_secs: started.elapsed().as_secs_f64(),
    }
}

/// A two-worker runtime: what `paylog serve` gets on this two-core machine.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
