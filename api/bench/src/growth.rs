//! Row 5, growth: PlaceOrder latency and the server's peak RSS with the log already
//! holding 0, 1M and 5M events.
//!
//! The server here is the real binary, `paylog serve`, as a child process on a
//! loopback port, so that its peak RSS (`VmHWM` in `/proc/<pid>/status`) is its own
//! and not the load generator's. Between stages the child is stopped (SIGTERM, a
//! clean shutdown), the log is grown by appending a generated shop history straight
//! through the store, and a new child is started; it catches its views up with the
//! log before it is measured. The stages cannot alternate (a log only grows), so each
//! stage is compared with the empty log's numbers from the same run.
//!
//! Row 8 reuses the last stage's log and views: a fresh child is started on them
//! (several times) and timed from spawn until `/healthz` says its views are at the
//! log's head, i.e. until it serves. Views are persisted with their checkpoint, so this
//! prices opening the databases, not a replay.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paylog_store::{Durability, EventStore, RocksStore, StoreOptions};

use super::Sizes;
use super::child::Server;
use super::fill::{self, Generator, append_all};
use super::load::{self, Load, MakeRequest};
use super::report::{Line, median, mib, micros, rate};
use super::server::{self, TOKEN_SECRET};
use crate::Target;

/// Clients placing orders while latency is measured.
const CLIENTS: usize = 16;

/// How long a child may take to open the log and catch its views up.
const READY_TIMEOUT: Duration = Duration::from_secs(900);

/// How long to wait, at most, for a caught-up child to finish its background work.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Row 5's targets: throughput kept, and memory flat at any log size.
const MIN_THROUGHPUT_RATIO: f64 = 0.9;
const MAX_RSS_BYTES: f64 = 256.0 * 1024.0 * 1024.0;
const MAX_RSS_GROWTH: f64 = 1.25;

/// Row 8's target: serving this soon after start on the grown log.
const MAX_START_SECS: f64 = 2.0;

/// One stage's medians.
struct Stage {
    events: u64,
    per_sec: f64,
    p50: f64,
    p99: f64,
    peak_rss: f64,
    /// Right after the catch-up (and its flushes), before any load.
    rss_caught_up: f64,
    /// After the load: what the server holds once caught up and serving.
    rss: f64,
    ready_secs: f64,
    idle_secs: f64,
}

pub fn run(
    sizes: &Sizes,
    scratch: &Path,
    server_exe: &Path,
    target: &dyn Target,
) -> anyhow::Result<Vec<Line>> {
    let dir = tempfile::tempdir_in(scratch)?;
    let log = dir.path().join("log");
    let runtime = super::runtime()?;
    let (mut generator, creation) = Generator::new(CLIENTS, CLIENTS)?;
    let shop = generator.shop();
    let tokens = shop
        .users
        .iter()
        .map(|u| target.token(TOKEN_SECRET, *u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut stages = Vec::new();
    for (n, &target) in sizes.growth_events.iter().enumerate() {
        generator = runtime.block_on(async {
            let options = StoreOptions {
                durability: Durability::Buffered,
                ..StoreOptions::default()
            };
            let rocks = Arc::new(RocksStore::open(&log, options)?);
            let store: Arc<dyn EventStore> = rocks.clone();
            if n == 0 {
                append_all(&store, creation.clone()).await?;
            }
            let generator = fill::fill(Arc::clone(&store), generator, target).await?;
            rocks.close().await;
            Ok::<_, anyhow::Error>(generator)
        })?;
        let mut child = Server::start(server_exe, dir.path(), &n.to_string(), &[], &[])?;
        let stage = runtime.block_on(measure(&mut child, sizes, &shop, &tokens));
        let stopped = child.stop();
        let stage = stage?;
        stopped?;
        tracing::info!(events = stage.events, p50 = stage.p50, "growth stage");
        stages.push(stage);
    }
    let mut lines = lines(&stages);
    lines.push(runtime.block_on(start_up(sizes, server_exe, dir.path()))?);
    Ok(lines)
}

/// Row 8: fresh servers on the last stage's log and views, timed until they serve.
async fn start_up(sizes: &Sizes, server_exe: &Path, data_dir: &Path) -> anyhow::Result<Line> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let (mut times, mut rss) = (Vec::new(), Vec::new());
    let mut events = 0;
    for round in 0..sizes.rounds {
        let started = Instant::now();
        let mut child = Server::start(server_exe, data_dir, &format!("start-{round}"), &[], &[])?;
        let ready = child.wait_ready(&http, READY_TIMEOUT).await;
        let secs = started.elapsed().as_secs_f64();
        let measured = ready.and_then(|head| Ok((head, child.rss()?)));
        let stopped = child.stop();
        let (head, bytes) = measured?;
        stopped?;
        events = head;
        times.push(secs);
        rss.push(bytes);
    }
    let secs = median(&times);
    let rss = median(&rss);
    let mut line = Line::new(
        8,
        format!("Start-up of paylog serve on a {events}-event log"),
    );
    line.paylog = format!("serving after {secs:.2} s");
    line.target = format!("serving within {MAX_START_SECS:.0} s (views persisted)");
    line.met = Some(secs <= MAX_START_SECS);
    line.detail = format!(
        "spawn → /healthz with views at the log's head; views already caught up by a previous server; RSS after catch-up {}",
        mib(rss)
    );
    line.value("events", events as f64)
        .value("start_secs", secs)
        .value("rss_after_catch_up_bytes", rss);
    Ok(line)
}

async fn measure(
    child: &mut Server,
    sizes: &Sizes,
    shop: &fill::Shop,
    tokens: &[String],
) -> anyhow::Result<Stage> {
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let events = child.wait_ready(&http, READY_TIMEOUT).await?;
    let ready_secs = started.elapsed().as_secs_f64();
    // Catching up leaves RocksDB flushing and compacting for a while; measuring then
    // would price the catch-up, not the command. Wait (bounded) until the server idles.
    let quiet = Instant::now();
    child.wait_until_idle(IDLE_TIMEOUT).await?;
    let idle_secs = quiet.elapsed().as_secs_f64();
    let rss_caught_up = child.rss()?;
    let per_task: Vec<(String, bytes::Bytes)> = (0..CLIENTS)
        .map(|task| {
            let (_, product) = server::client_identity(shop, task);
            (
                tokens[task % tokens.len()].clone(),
                server::order_body(product),
            )
        })
        .collect();
    let addr = child.addr;
    let make: MakeRequest = Arc::new(move |task, _| {
        let (token, body) = &per_task[task % per_task.len()];
        server::place_order(addr, token, body.clone())
    });
    let load = Load {
        addr,
        clients: CLIENTS,
        duration: Duration::from_secs_f64(sizes.http_secs),
        max_requests: sizes.http_max_requests,
        keep_bodies: false,
        success_marker: None,
    };
    let mut rounds = Vec::new();
    for _ in 0..sizes.rounds {
        let outcome = load::run(&load, Arc::clone(&make)).await?;
        if outcome.failed > 0 {
            anyhow::bail!(
                "{} orders failed: {}",
                outcome.failed,
                outcome.first_failure.unwrap_or_default()
            );
        }
        rounds.push(outcome);
    }
    let col = |f: &dyn Fn(&load::Outcome) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    Ok(Stage {
        events,
        per_sec: col(&|r| r.per_sec()),
        p50: col(&|r| r.percentile_us(0.5)),
        p99: col(&|r| r.percentile_us(0.99)),
        peak_rss: child.peak_rss()?,
        rss_caught_up,
        rss: child.rss()?,
        ready_secs,
        idle_secs,
    })
}

fn lines(stages: &[Stage]) -> Vec<Line> {
    let Some(empty) = stages.first() else {
        return Vec::new();
    };
    stages
        .iter()
        .map(|s| {
            let mut line = Line::new(
                5,
                format!(
                    "Growth: PlaceOrder ({CLIENTS} clients) with {} events in the log",
                    s.events
                ),
            );
            line.paylog = format!(
                "p50 {} · p99 {} · {} orders/s",
                micros(s.p50),
                micros(s.p99),
                rate(s.per_sec)
            );
            line.baseline = format!(
                "empty log: p50 {} · p99 {} · {} orders/s",
                micros(empty.p50),
                micros(empty.p99),
                rate(empty.per_sec)
            );
            let ratio = s.per_sec / empty.per_sec;
            let rss_growth = s.rss_caught_up / empty.rss_caught_up;
            line.ratio = Some(ratio);
            line.target = format!(
                "≥ {:.0}% of the empty log's orders/s; RSS after catch-up ≤ {} and ≤ {MAX_RSS_GROWTH}× the empty log's",
                MIN_THROUGHPUT_RATIO * 100.0,
                mib(MAX_RSS_BYTES)
            );
            line.met = Some(
                ratio >= MIN_THROUGHPUT_RATIO
                    && s.rss_caught_up <= MAX_RSS_BYTES
                    && rss_growth <= MAX_RSS_GROWTH,
            );
            line.detail = format!(
                "server RSS after catch-up {} ({:.2}× the empty log's), peak {} (catch-up included), {} after the load; views caught up in {:.1} s, then idle after {:.1} s",
                mib(s.rss_caught_up),
                rss_growth,
                mib(s.peak_rss),
                mib(s.rss),
                s.ready_secs,
                s.idle_secs
            );
            line.value("events", s.events as f64)
                .value("orders_per_sec", s.per_sec)
                .value("p50_us", s.p50)
                .value("p99_us", s.p99)
                .value("peak_rss_bytes", s.peak_rss)
                .value("rss_after_catch_up_bytes", s.rss_caught_up)
                .value("rss_after_load_bytes", s.rss)
                .value("ratio", ratio);
            line
        })
        .collect()
}
