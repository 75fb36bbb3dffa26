//! Row 6, hostile traffic: a flood of password logins for users that do not exist
//! (each one still costs an argon2id hash, so that an unknown user answers as slowly
//! as a known one) while one shopper places and pays orders.
//!
//! Measured three ways, each on a fresh `paylog serve` child process (its peak RSS is
//! then its own):
//! - **unbounded**: hashing as it was before the bound, a pool as large as tokio's
//!   blocking pool (512 threads) with a queue that never fills;
//! - **hash pool**: the defaults, one hashing thread per core and a short queue
//!   (503 + `Retry-After` beyond it), but no per-address login limit: a flood from
//!   many addresses, which a rate limit keyed by address cannot stop;
//! - **hash pool + rate limit**: the defaults as shipped.
//!
//! The flood's clients retry at once whatever they are told (an attacker ignores
//! `Retry-After`). The shopper's requests must keep succeeding; the flood must get
//! only 401, 429 or 503. The integration test `login_flood` runs [`run_once`] with the
//! defaults and asserts exactly that, plus a peak RSS under [`MAX_PEAK_RSS_BYTES`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::Sizes;
use super::child::Server;
use super::report::{Line, mib, micros};

/// The flood: this many password logins in flight at once.
pub const FLOOD_CLIENTS: usize = 500;

/// The ceiling on the server's peak RSS during the flood (the 1 GiB).
pub const MAX_PEAK_RSS_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

/// The admin token of the flooded server (temp data, never production).
const ADMIN_TOKEN: &str = "paylog-bench-admin-token-not-for-production-use";

/// How long a child may take to open its empty log.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A bound on any one request of the flood or the shopper (the server's own request
/// timeout is 30 s; a request that outlives this counts as a transport failure).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);

/// A bound on the shopper's requests in one run, whatever the duration.
const MAX_SHOPPER_REQUESTS: u64 = 100_000;

/// The login rate limit of the defaults as shipped (`--rate-limit-login-per-minute`).
const SHIPPED_LOGIN_LIMIT_PER_MINUTE: &str = "30";

/// How the server defends itself in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defence {
    Unbounded,
    HashPool,
    HashPoolAndRateLimit,
}

impl Defence {
    pub const ALL: [Defence; 3] = [
        Defence::Unbounded,
        Defence::HashPool,
        Defence::HashPoolAndRateLimit,
    ];

    fn label(self) -> &'static str {
        match self {
            Defence::Unbounded => "unbounded hashing (before)",
            Defence::HashPool => "bounded hash pool, no login rate limit",
            Defence::HashPoolAndRateLimit => "bounded hash pool + login rate limit (shipped)",
        }
    }

    fn flags(self) -> Vec<&'static str> {
        match self {
            // As many hashing threads as tokio's blocking pool had, and no queue bound.
            Defence::Unbounded => vec![
                "--password-hash-threads",
                "512",
                "--password-hash-queue",
                "1000000",
            ],
            Defence::HashPool => vec![],
            Defence::HashPoolAndRateLimit => vec![
                "--rate-limit-login-per-minute",
                SHIPPED_LOGIN_LIMIT_PER_MINUTE,
            ],
        }
    }
}

/// What one flood did.
#[derive(Debug)]
pub struct Outcome {
    pub defence: Defence,
    /// The shopper's requests (PlaceOrder, then its payment notify) that succeeded.
    pub shopper_ok: u64,
    pub shopper_failed: u64,
    /// The first failure's status and body, to say why.
    pub shopper_first_failure: Option<String>,
    /// Latency of the shopper's successful requests, microseconds.
    pub shopper_latency: Histogram<u64>,
    /// The flood's answers by HTTP status; 0 counts transport failures.
    pub flood_statuses: BTreeMap<u16, u64>,
    pub peak_rss_bytes: f64,
    /// Whether the server still answered `/livez` after the flood.
    pub alive_after: bool,
    /// Whether the server's log (stderr) holds a panic.
    pub panicked: bool,
}

impl Outcome {
    pub fn shopper_p(&self, q: f64) -> f64 {
        if self.shopper_latency.is_empty() {
            return f64::NAN;
        }
        self.shopper_latency.value_at_quantile(q) as f64
    }

    /// Flood answers that are not a refusal the issue allows (401, 429, 503).
    pub fn unexpected_flood_answers(&self) -> u64 {
        self.flood_statuses
            .iter()
            .filter(|(status, _)| !matches!(status, 401 | 429 | 503))
            .map(|(_, n)| n)
            .sum()
    }
}

pub fn run(sizes: &Sizes, scratch: &Path, server_exe: &Path) -> anyhow::Result<Vec<Line>> {
    let duration = Duration::from_secs_f64(sizes.flood_secs);
    let mut outcomes = Vec::new();
    for defence in Defence::ALL {
        outcomes.push(run_once(
            server_exe,
            scratch,
            defence,
            sizes.flood_clients,
            duration,
        )?);
    }
    Ok(lines(sizes.flood_clients, &outcomes))
}

/// Starts a fresh server with `defence`, floods it with `clients` concurrent password
/// logins for `duration` while one shopper places and pays orders, and stops it.
pub fn run_once(
    server_exe: &Path,
    scratch: &Path,
    defence: Defence,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir_in(scratch)?;
    let runtime = super::runtime()?;
    let mut server = Server::start(
        server_exe,
        dir.path(),
        "flood",
        &defence.flags(),
        &[("PAYLOG_ADMIN_TOKEN", ADMIN_TOKEN)],
    )?;
    let result = runtime.block_on(flood(&mut server, defence, clients, duration));
    let log = server.log.clone();
    server.stop()?;
    let mut outcome = result?;
    outcome.panicked = std::fs::read_to_string(&log)?.contains("panicked");
    Ok(outcome)
}

async fn flood(
    server: &mut Server,
    defence: Defence,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .pool_max_idle_per_host(clients + 1)
        .build()?;
    server.wait_ready(&http, READY_TIMEOUT).await?;
    let base = format!("http://{}", server.addr);
    let shopper = Shopper::sign_up(&http, &base).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = (0..clients)
        .map(|task| tokio::spawn(flooder(http.clone(), base.clone(), task, stop.clone())))
        .collect();
    let shopping = tokio::spawn(shopper.shop(http.clone(), base.clone(), stop.clone()));
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut flood_statuses = BTreeMap::new();
    for task in flooders {
        for (status, n) in task.await? {
            *flood_statuses.entry(status).or_insert(0) += n;
        }
    }
    let shopped = shopping.await??;
    let peak_rss_bytes = server.peak_rss()?;
    let alive_after = http
        .get(format!("{base}/livez"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    Ok(Outcome {
        defence,
        shopper_ok: shopped.ok,
        shopper_failed: shopped.failed,
        shopper_first_failure: shopped.first_failure,
        shopper_latency: shopped.latency,
        flood_statuses,
        peak_rss_bytes,
        alive_after,
        panicked: false,
    })
}

/// One flooding client: password logins for users that do not exist, one after
/// another, until told to stop. Its answers by status (0: transport failure).
async fn flooder(
    http: reqwest::Client,
    base: String,
    task: usize,
    stop: Arc<AtomicBool>,
) -> BTreeMap<u16, u64> {
    let mut statuses = BTreeMap::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let status = http
            .post(format!("{base}/v1/auth/password"))
            .json(&json!({
                "username": format!("flood-{task}-{n}"),
                "password": "not-the-password-0123",
            }))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        *statuses.entry(status).or_insert(0) += 1;
        n += 1;
    }
    statuses
}

/// The shopper the flood must not hurt: a WeChat user (no password hash) buying one
/// product again and again, each order paid by its notify.
struct Shopper {
    token: String,
    product: String,
}

struct Shopped {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    latency: Histogram<u64>,
}

impl Shopper {
    async fn sign_up(http: &reqwest::Client, base: &str) -> anyhow::Result<Self> {
        let product: Value = http
            .post(format!("{base}/v1/admin/products"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "flood-proof tea", "price_fen": 100, "stock": 1_000_000_000u64}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let login: Value = http
            .post(format!("{base}/v1/auth/wechat"))
            .json(&json!({"code": format!("shopper.{}", uuid::Uuid::now_v7().simple())}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let field = |v: &Value, name: &str| {
            v[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no {name} in {v}"))
        };
        Ok(Self {
            token: field(&login, "token")?,
            product: field(&product, "product_id")?,
        })
    }

    async fn shop(
        self,
        http: reqwest::Client,
        base: String,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<Shopped> {
        let mut shopped = Shopped {
            ok: 0,
            failed: 0,
            first_failure: None,
            // 1 µs to 60 s, three significant digits.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        };
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) && shopped.ok + shopped.failed < MAX_SHOPPER_REQUESTS {
            let started = Instant::now();
            let placed = http
                .post(format!("{base}/v1/orders"))
                .bearer_auth(&self.token)
                .json(&json!({"items": [{"product_id": self.product, "quantity": 1}]}))
                .send()
                .await;
            let order = match placed {
                Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                    shopped.record_ok(started)?;
                    r.json::<Value>().await?
                }
                other => {
                    shopped.record_failure(other).await;
                    continue;
                }
            };
            let notify = super::server::signed_notify(
                order["out_trade_no"].as_str().unwrap_or_default(),
                order["total_fen"].as_u64().unwrap_or_default(),
                n,
            )?;
            n += 1;
            let started = Instant::now();
            let paid = http
                .post(format!("{base}/v1/wechat/pay/notify"))
                .header("content-type", "text/xml")
                .body(notify)
                .send()
                .await;
            match paid {
                Ok(r) if r.status().is_success() => {
                    let body = r.text().await.unwrap_or_default();
                    if body.contains("SUCCESS") {
                        shopped.record_ok(started)?;
                    } else {
                        shopped.note_failure(format!("notify answered {body}"));
                    }
                }
                other => shopped.record_failure(other).await,
            }
        }
        Ok(shopped)
    }
}

impl Shopped {
    fn record_ok(&mut self, started: Instant) -> anyhow::Result<()> {
        self.ok += 1;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.latency.record(micros.clamp(1, 60_000_000))?;
        Ok(())
    }

    async fn record_failure(&mut self, answer: reqwest::Result<reqwest::Response>) {
        let why = match answer {
            Ok(r) => {
                let status = r.status();
                format!("{status} {}", r.text().await.unwrap_or_default())
            }
            Err(e) => format!("transport: {e}"),
        };
        self.note_failure(why);
    }

    fn note_failure(&mut self, why: String) {
        self.failed += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(why.chars().take(160).collect());
        }
    }
}

fn lines(clients: usize, outcomes: &[Outcome]) -> Vec<Line> {
    let before = outcomes.iter().find(|o| o.defence == Defence::Unbounded);
    outcomes
        .iter()
        .map(|o| {
            let mut line = Line::new(
                6,
                format!(
                    "Login flood ({clients} at once) + one shopper: {}",
                    o.defence.label()
                ),
            );
            line.paylog = format!(
                "shopper p99 {} · peak RSS {}",
                micros(o.shopper_p(0.99)),
                mib(o.peak_rss_bytes)
            );
            if let Some(before) = before.filter(|_| o.defence != Defence::Unbounded) {
                line.baseline = format!(
                    "before: p99 {} · peak RSS {}",
                    micros(before.shopper_p(0.99)),
                    mib(before.peak_rss_bytes)
                );
                line.ratio = Some(o.shopper_p(0.99) / before.shopper_p(0.99));
                line.target =
                    "shopper never fails; peak RSS < 1 GiB; flood gets only 401/429/503".into();
                line.met = Some(
                    o.shopper_failed == 0
                        && o.shopper_ok > 0
                        && o.peak_rss_bytes < MAX_PEAK_RSS_BYTES
                        && o.unexpected_flood_answers() == 0
                        && o.alive_after
                        && !o.panicked,
                );
            }
            let statuses: Vec<String> = o
                .flood_statuses
                .iter()
                .map(|(status, n)| match status {
                    0 => format!("{n} transport errors"),
                    s => format!("{n}× {s}"),
                })
                .collect();
            line.detail = format!(
                "shopper: {} ok, {} failed{}, p50 {}; flood: {}",
                o.shopper_ok,
                o.shopper_failed,
                o.shopper_first_failure
                    .as_deref()
                    .map(|f| format!(" (first: {f})"))
                    .unwrap_or_default(),
                micros(o.shopper_p(0.5)),
                statuses.join(", ")
            );
            line.value("shopper_ok", o.shopper_ok as f64)
                .value("shopper_failed", o.shopper_failed as f64)
                .value("shopper_p50_us", o.shopper_p(0.5))
                .value("shopper_p99_us", o.shopper_p(0.99))
                .value("peak_rss_bytes", o.peak_rss_bytes);
            line
        })
        .collect()
}
