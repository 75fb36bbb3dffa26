//! Row 9: PlaceOrder over HTTP with the load generated outside the server's process.
//!
//! Rows 2 and 3 run their load generator inside the bench process, on the same two
//! cores as the server's runtime: what they measure is the server *and* the client
//! sharing one process's scheduling. Here the real binary, `paylog serve`, runs as a
//! child process and `wrk` (a C load generator, one event loop per thread) drives it
//! with a Lua script posting PlaceOrder; the bare axum echo, served by the bench
//! process on its own two-worker runtime, is driven by the same `wrk` in alternation.
//! Both sides still share the machine's two cores with `wrk`, but no longer a tokio
//! runtime with their client.
//!
//! `wrk` is a system package (`apt-get install wrk`); without it the row says it was
//! skipped and why, and the other rows run.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::net::TcpListener;

use super::Sizes;
use super::child::Server;
use super::fill::{Generator, append_all};
use super::report::{Line, median, micros, rate};
use super::server::{self, TOKEN_SECRET};
use crate::Target;

/// Connections of each measurement (one `wrk` thread per core).
const CLIENTS: [usize; 2] = [1, 64];

/// Users and products of the shop: one (user, product) pair per connection of the
/// biggest run, so that concurrent orders rarely queue on one product's stream.
const SHOP: usize = 64;

/// How long the child may take to open its log and catch its views up.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Slack beyond `wrk`'s own duration before it is considered hung.
const WRK_GRACE: Duration = Duration::from_secs(30);

/// What the Lua script's `done` prints, parsed.
#[derive(Debug, Clone, Copy)]
struct Run {
    requests: f64,
    secs: f64,
    errors: f64,
    p50: f64,
    p99: f64,
}

impl Run {
    fn per_sec(&self) -> f64 {
        (self.requests - self.errors).max(0.0) / self.secs.max(1e-9)
    }
}

/// The `wrk` on the `PATH`, if any.
fn wrk() -> Option<PathBuf> {
    let status = Command::new("wrk").arg("--version").output().ok()?;
    // `wrk --version` prints its banner and exits non-zero: being found is enough.
    drop(status);
    Some(PathBuf::from("wrk"))
}

pub fn run(
    sizes: &Sizes,
    scratch: &Path,
    server_exe: &Path,
    target: &dyn Target,
) -> anyhow::Result<Vec<Line>> {
    let Some(wrk) = wrk() else {
        let mut line = Line::new(9, "PlaceOrder over HTTP, external load (wrk)");
        line.paylog = "skipped".into();
        line.detail = "wrk is not installed (Debian: apt-get install wrk)".into();
        return Ok(vec![line]);
    };
    let dir = tempfile::tempdir_in(scratch)?;
    let runtime = super::runtime()?;
    let (generator, creation) = Generator::new(SHOP, SHOP)?;
    let shop = generator.shop();
    runtime.block_on(async {
        let store: std::sync::Arc<dyn paylog_store::EventStore> = std::sync::Arc::new(
            paylog_store::RocksStore::open(dir.path().join("log"), Default::default())?,
        );
        append_all(&store, creation).await?;
        store.close().await;
        anyhow::Ok(())
    })?;
    let mut orders_script = String::from("local pairs_ = {\n");
    for task in 0..SHOP {
        let (user, product) = server::client_identity(&shop, task);
        let token = target.token(TOKEN_SECRET, user)?;
        let body = server::order_body(product);
        writeln!(
            orders_script,
            "  {{ \"Bearer {token}\", [[{}]] }},",
            String::from_utf8_lossy(&body)
        )?;
    }
    orders_script.push_str("}\n");
    orders_script.push_str(LUA_ORDERS);
    orders_script.push_str(LUA_DONE);
    let orders_lua = dir.path().join("orders.lua");
    std::fs::write(&orders_lua, orders_script)?;
    let echo_lua = dir.path().join("echo.lua");
    std::fs::write(
        &echo_lua,
        format!(
            "local body = [[{}]]\n{LUA_ECHO}{LUA_DONE}",
            String::from_utf8_lossy(&server::order_body(shop.products[0]))
        ),
    )?;

    // The echo: in this process, on its own runtime, idle but for wrk's requests.
    let (stop_echo, stopped_echo) = tokio::sync::oneshot::channel::<()>();
    let echo_addr: SocketAddr = runtime.block_on(async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, server::echo_router())
                .with_graceful_shutdown(async {
                    let _ = stopped_echo.await;
                })
                .await;
        });
        anyhow::Ok(addr)
    })?;

    let mut child = Server::start(server_exe, dir.path(), "wrk", &[], &[])?;
    let result = runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        child.wait_ready(&http, READY_TIMEOUT).await?;
        anyhow::Ok(())
    });
    let measured = result.and_then(|()| {
        // Whole seconds: wrk's `-d` takes no fractions.
        let secs = sizes.http_secs.ceil().max(1.0) as u64;
        let mut lines = Vec::new();
        for clients in CLIENTS {
            let mut rounds = Vec::new();
            for _ in 0..sizes.rounds {
                let orders = run_wrk(&wrk, clients, secs, &orders_lua, child.addr, "/v1/orders")?;
                let echo = run_wrk(&wrk, clients, secs, &echo_lua, echo_addr, "/echo")?;
                rounds.push((orders, echo));
            }
            lines.push(line(clients, &rounds));
        }
        Ok(lines)
    });
    let stopped = child.stop();
    let _ = stop_echo.send(());
    let lines = measured?;
    stopped?;
    Ok(lines)
}

fn run_wrk(
    wrk: &Path,
    clients: usize,
    secs: u64,
    script: &Path,
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<Run> {
    if !addr.ip().is_loopback() {
        anyhow::bail!("wrk only targets 127.0.0.1, not {addr}");
    }
    let threads = clients.min(2);
    let output = Command::new(wrk)
        .arg(format!("-t{threads}"))
        .arg(format!("-c{clients}"))
        .arg(format!("-d{secs}s"))
        .arg(format!("--timeout={}s", WRK_GRACE.as_secs()))
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}{path}"))
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PAYLOG-WRK "))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "wrk printed no summary ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [requests, micros, errors, p50, p99] = fields[..] else {
        anyhow::bail!("wrk's summary has {} fields, not 5", fields.len());
    };
    Ok(Run {
        requests,
        secs: micros / 1e6,
        errors,
        p50,
        p99,
    })
}

fn line(clients: usize, rounds: &[(Run, Run)]) -> Line {
    let col = |f: &dyn Fn(&(Run, Run)) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let paylog = col(&|r| r.0.per_sec());
    let echo = col(&|r| r.1.per_sec());
    let ratio = col(&|r| r.0.per_sec() / r.1.per_sec().max(1e-9));
    let (p50, p99) = (col(&|r| r.0.p50), col(&|r| r.0.p99));
    let errors: f64 = rounds.iter().map(|r| r.0.errors).sum();
    let mut line = Line::new(
        9,
        format!(
            "PlaceOrder over HTTP, external load (wrk), {clients} connection{}",
            if clients == 1 { "" } else { "s" }
        ),
    );
    line.paylog = format!("{} orders/s", rate(paylog));
    line.baseline = format!("axum JSON echo (wrk): {} req/s", rate(echo));
    line.ratio = Some(ratio);
    line.detail = format!(
        "paylog serve as a child process; p50 {} · p99 {}; echo p99 {}{}",
        micros(p50),
        micros(p99),
        micros(col(&|r| r.1.p99)),
        if errors > 0.0 {
            format!("; {errors} non-2xx or socket errors")
        } else {
            String::new()
        }
    );
    line.value("orders_per_sec", paylog)
        .value("echo_per_sec", echo)
        .value("ratio", ratio)
        .value("p50_us", p50)
        .value("p99_us", p99)
        .value("errors", errors);
    line
}

/// Cycles through the (token, body) pairs declared above it; each thread starts at
/// its own offset.
const LUA_ORDERS: &str = r#"
local threads = 0
function setup(thread)
  thread:set("offset", threads * 32)
  threads = threads + 1
end
local requests = {}
local n = 0
function init(args)
  for i, p in ipairs(pairs_) do
    requests[i] = wrk.format("POST", nil, { ["Authorization"] = p[1], ["Content-Type"] = "application/json" }, p[2])
  end
  n = offset or 0
end
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end
"#;

/// The one line the bench parses: requests, microseconds, errors (socket errors and
/// statuses ≥ 400), p50 and p99 latency in microseconds.
const LUA_DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PAYLOG-WRK %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// The echo's script: the same body every time.
const LUA_ECHO: &str = r#"
function request()
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
"#;
