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

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paylog_store::{Durability, EventStore, RocksStore, StoreOptions};
use serde::Deserialize;

use super::Sizes;
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

/// Below this share of one core over half a second, a child counts as idle.
const IDLE_CPU: f64 = 0.05;

#[derive(Debug, Deserialize)]
struct Health {
    log_head: u64,
    views_position: u64,
}

/// One stage's medians.
struct Stage {
    events: u64,
    per_sec: f64,
    p50: f64,
    p99: f64,
    peak_rss: f64,
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
        let mut child = Server::start(server_exe, dir.path(), n)?;
        let stage = runtime.block_on(measure(&mut child, sizes, &shop, &tokens));
        let stopped = child.stop();
        let stage = stage?;
        stopped?;
        tracing::info!(events = stage.events, p50 = stage.p50, "growth stage");
        stages.push(stage);
    }
    Ok(lines(&stages))
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
    let events = loop {
        if let Some(status) = child.exited()? {
            anyhow::bail!(
                "paylog serve exited with {status} (see {})",
                child.log.display()
            );
        }
        if let Ok(response) = http
            .get(format!("http://{}/healthz", child.addr))
            .send()
            .await
            && let Ok(health) = response.json::<Health>().await
            && health.views_position >= health.log_head
        {
            break health.log_head;
        }
        anyhow::ensure!(
            started.elapsed() < READY_TIMEOUT,
            "paylog serve was not ready in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ready_secs = started.elapsed().as_secs_f64();
    // Catching up leaves RocksDB flushing and compacting for a while; measuring then
    // would price the catch-up, not the command. Wait (bounded) until the server idles.
    let quiet = Instant::now();
    child.wait_until_idle(IDLE_TIMEOUT).await?;
    let idle_secs = quiet.elapsed().as_secs_f64();
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
            line.ratio = Some(ratio);
            line.target = "flat: ≥ 80% of the empty log's orders/s".into();
            line.met = Some(ratio >= 0.8);
            line.detail = format!(
                "server RSS peak {} (catch-up included), {} after the load; views caught up in {:.1} s, then idle after {:.1} s",
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
                .value("rss_after_load_bytes", s.rss)
                .value("ratio", ratio);
            line
        })
        .collect()
}

/// `paylog serve` as a child process on a free loopback port.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(exe: &Path, data_dir: &Path, stage: usize) -> anyhow::Result<Self> {
        // The port is free now; the race with another process taking it before the
        // child binds is harmless (the child fails and the bench says so).
        let addr = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let log = data_dir.join(format!("serve-{stage}.log"));
        let child = Command::new(exe)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--token-secret")
            .arg(TOKEN_SECRET)
            // A few simulated shoppers place many orders each: the anti-hoarding limit
            // would measure refusals, not the engine.
            .args(["--max-open-orders-per-user", "1000000000"])
            // Every simulated shopper comes from 127.0.0.1: per-address rate limits
            // would measure refusals too.
            .args(["--rate-limit-orders-per-minute", "0"])
            .args(["--rate-limit-login-per-minute", "0"])
            .args(["--rate-limit-register-per-minute", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Self { child, addr, log })
    }

    fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// The child's peak resident set (`VmHWM`), bytes.
    fn peak_rss(&self) -> anyhow::Result<f64> {
        self.status_kib("VmHWM:").map(|kib| kib * 1024.0)
    }

    /// The child's resident set now (`VmRSS`), bytes.
    fn rss(&self) -> anyhow::Result<f64> {
        self.status_kib("VmRSS:").map(|kib| kib * 1024.0)
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{}/status", self.child.id()))
    }

    /// CPU seconds the child has used (user + system), from `/proc/<pid>/stat`.
    fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses and may hold spaces).
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{}/stat", self.child.id()))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        let ticks = |i: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(i)
                .ok_or_else(|| anyhow::anyhow!("short /proc/{}/stat", self.child.id()))?
                .parse::<f64>()?)
        };
        // USER_HZ is 100 on Linux for every architecture paylog runs on.
        Ok((ticks(11)? + ticks(12)?) / 100.0)
    }

    /// Waits until two half-second samples in a row show the child below [`IDLE_CPU`].
    async fn wait_until_idle(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut quiet = 0;
        let mut last = self.cpu_secs()?;
        while quiet < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.cpu_secs()?;
            quiet = if now - last < IDLE_CPU * 0.5 {
                quiet + 1
            } else {
                0
            };
            last = now;
        }
        Ok(())
    }

    /// SIGTERM (a clean shutdown), then SIGKILL if it has not exited in 30 s.
    fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed stage must not leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
