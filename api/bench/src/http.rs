//! Rows 2 and 3: PlaceOrder over HTTP against a bare axum echo, and signed payment
//! notifies, both through the real server on loopback.
//!
//! Row 2 alternates the two sides round by round at each concurrency (1, 16, 64
//! clients): paylog for `http_secs`, then the echo with the same body for `http_secs`.
//! The orders placed at 64 clients become row 3's work: each gets one signed
//! `SUCCESS` notify, so every notify pays a distinct order (signature check, order
//! lookup, `ConfirmPayment` decided and durably appended, views updated).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use serde::Deserialize;

use super::Sizes;
use super::load::{self, Load, MakeRequest, Outcome};
use super::report::{Line, median, mib, micros, rate};
use super::server::{self, Servers};

use crate::Target;

/// The concurrencies of row 2.
pub const CLIENTS: [usize; 3] = [1, 16, 64];

/// The fields of a placed order a notify needs.
#[derive(Debug, Deserialize)]
struct Placed {
    out_trade_no: String,
    total_fen: u64,
}

pub fn run(sizes: &Sizes, scratch: &Path, target: &dyn Target) -> anyhow::Result<Vec<Line>> {
    let dir = tempfile::tempdir_in(scratch)?;
    let servers = Servers::start(dir.path(), 64, 64, target)?;
    // The server runs in this process: its RSS after catch-up is the process's, before
    // the load generator allocates anything.
    let rss = super::child::own_rss()?;
    let client_rt = super::runtime()?;
    let result = client_rt
        .block_on(measure(&servers, sizes))
        .map(|mut lines| {
            for line in &mut lines {
                line.detail.push_str(&format!(
                    "; RSS after catch-up {} (bench process, server in-process)",
                    mib(rss)
                ));
                line.value("rss_after_catch_up_bytes", rss);
            }
            lines
        });
    servers.stop();
    result
}

async fn measure(servers: &Servers, sizes: &Sizes) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();
    let mut placed = Vec::new();
    for clients in CLIENTS {
        let mut rounds: Vec<(Outcome, Outcome)> = Vec::new();
        for _ in 0..sizes.rounds {
            let keep = clients == 64;
            let orders =
                load::run(&load(servers.paylog, clients, sizes, keep), orders(servers)).await?;
            let echo =
                load::run(&load(servers.echo, clients, sizes, false), echoes(servers)).await?;
            if keep {
                for body in &orders.bodies {
                    placed.push(serde_json::from_slice::<Placed>(body)?);
                }
            }
            rounds.push((orders, echo));
        }
        lines.push(order_line(clients, &rounds));
    }
    lines.push(notify_line(servers, sizes, placed).await?);
    Ok(lines)
}

pub(crate) fn load(
    addr: std::net::SocketAddr,
    clients: usize,
    sizes: &Sizes,
    keep_bodies: bool,
) -> Load {
    Load {
        addr,
        clients,
        duration: Duration::from_secs_f64(sizes.http_secs),
        max_requests: sizes.http_max_requests,
        keep_bodies,
        success_marker: None,
    }
}

/// Each client places one-unit orders of its own product as its own user.
pub(crate) fn orders(servers: &Servers) -> MakeRequest {
    let addr = servers.paylog;
    let per_task: Vec<(String, Bytes)> = (0..64)
        .map(|task| {
            let (_, product) = server::client_identity(&servers.shop, task);
            (
                servers.tokens[task % servers.tokens.len()].clone(),
                server::order_body(product),
            )
        })
        .collect();
    Arc::new(move |task, _| {
        let (token, body) = &per_task[task % per_task.len()];
        server::place_order(addr, token, body.clone())
    })
}

fn echoes(servers: &Servers) -> MakeRequest {
    let addr = servers.echo;
    let body = server::order_body(servers.shop.products[0]);
    Arc::new(move |_, _| server::echo(addr, body.clone()))
}

fn order_line(clients: usize, rounds: &[(Outcome, Outcome)]) -> Line {
    let col =
        |f: &dyn Fn(&(Outcome, Outcome)) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let paylog = col(&|r| r.0.per_sec());
    let echo = col(&|r| r.1.per_sec());
    let ratio = col(&|r| r.0.per_sec() / r.1.per_sec());
    let (p50, p99, p999) = (
        col(&|r| r.0.percentile_us(0.5)),
        col(&|r| r.0.percentile_us(0.99)),
        col(&|r| r.0.percentile_us(0.999)),
    );
    let failed: u64 = rounds.iter().map(|r| r.0.failed).sum();
    let mut line = Line::new(
        2,
        format!(
            "PlaceOrder over HTTP, {clients} client{}",
            if clients == 1 { "" } else { "s" }
        ),
    );
    line.paylog = format!("{} orders/s", rate(paylog));
    line.baseline = format!("axum JSON echo: {} req/s", rate(echo));
    line.ratio = Some(ratio);
    if clients == 64 {
        line.target = "≥ 25k orders/s, p99 < 10 ms, ≥ 22% of echo".into();
        line.met = Some(paylog >= 25_000.0 && p99 < 10_000.0 && ratio >= 0.22);
    } else if clients == 1 {
        line.target = "p50 ≤ 400 µs".into();
        line.met = Some(p50 <= 400.0);
    }
    line.detail = format!(
        "p50 {} · p99 {} · p99.9 {}; echo p99 {}{}",
        micros(p50),
        micros(p99),
        micros(p999),
        micros(col(&|r| r.1.percentile_us(0.99))),
        failure_note(
            failed,
            rounds.iter().find_map(|r| r.0.first_failure.as_deref())
        )
    );
    line.value("orders_per_sec", paylog)
        .value("echo_per_sec", echo)
        .value("ratio", ratio)
        .value("p50_us", p50)
        .value("p99_us", p99)
        .value("p999_us", p999)
        .value("failed", failed as f64);
    line
}

fn failure_note(failed: u64, first: Option<&str>) -> String {
    match first {
        Some(first) if failed > 0 => {
            let first: String = first.chars().take(120).collect();
            format!("; {failed} failed (first: {first})")
        }
        _ => String::new(),
    }
}

/// Row 3: every placed order gets its signed payment notify, rounds on disjoint orders.
async fn notify_line(
    servers: &Servers,
    sizes: &Sizes,
    placed: Vec<Placed>,
) -> anyhow::Result<Line> {
    let bodies: Vec<Bytes> = placed
        .iter()
        .enumerate()
        .map(|(n, order)| server::signed_notify(&order.out_trade_no, order.total_fen, n as u64))
        .collect::<anyhow::Result<_>>()?;
    let per_round = bodies.len() / sizes.rounds.max(1);
    if per_round == 0 {
        anyhow::bail!("no orders were placed, so there is nothing to notify");
    }
    let clients = 64;
    let mut rounds = Vec::new();
    for part in bodies.chunks(per_round).take(sizes.rounds) {
        let part: Arc<Vec<Bytes>> = Arc::new(part.to_vec());
        let addr = servers.paylog;
        let make: MakeRequest = Arc::new(move |task, sent| {
            let index = task + sent as usize * clients;
            part.get(index).and_then(|body| notify(addr, body.clone()))
        });
        let mut load = load(addr, clients, sizes, false);
        load.success_marker = Some(b"SUCCESS");
        rounds.push(load::run(&load, make).await?);
    }
    let col = |f: &dyn Fn(&Outcome) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let per_sec = col(&|r| r.per_sec());
    let failed: u64 = rounds.iter().map(|r| r.failed).sum();
    let mut line = Line::new(
        3,
        "Payment notify over HTTP, 64 senders, one per distinct order",
    );
    line.paylog = format!("{} notifies/s", rate(per_sec));
    line.target = "≥ 25k notifies/s".into();
    line.met = Some(per_sec >= 25_000.0);
    line.detail = format!(
        "MD5 sign verified, ConfirmPayment appended (fsync), views updated; p50 {} · p99 {} · p99.9 {}; {} notifies/round{}",
        micros(col(&|r| r.percentile_us(0.5))),
        micros(col(&|r| r.percentile_us(0.99))),
        micros(col(&|r| r.percentile_us(0.999))),
        per_round,
        failure_note(
            failed,
            rounds.iter().find_map(|r| r.first_failure.as_deref())
        )
    );
    line.value("notifies_per_sec", per_sec)
        .value("p50_us", col(&|r| r.percentile_us(0.5)))
        .value("p99_us", col(&|r| r.percentile_us(0.99)))
        .value("failed", failed as f64);
    Ok(line)
}

fn notify(addr: std::net::SocketAddr, body: Bytes) -> Option<Request<Full<Bytes>>> {
    Request::post("/v1/wechat/pay/notify")
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "text/xml")
        .body(Full::new(body))
        .ok()
}
