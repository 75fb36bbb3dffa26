//! The HTTP load generator: N tasks, one keep-alive HTTP/1.1 connection each, on
//! 127.0.0.1 only, bounded in time and in requests.
//!
//! It speaks through hyper's bare client connection (no pool, no redirects, no TLS) so
//! that as little of the shared two cores as possible goes to the client side. Latency
//! is measured per request, from just before sending to the last byte of the answer,
//! into an HDR histogram in microseconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The request a task sends next, given its index and how many it sent before;
/// `None` ends that task (it ran out of work).
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Option<Request<Full<Bytes>>> + Send + Sync>;

/// How hard and how long to push.
#[derive(Clone)]
pub struct Load {
    pub addr: SocketAddr,
    pub clients: usize,
    pub duration: Duration,
    /// A bound on the whole run's requests, whatever the duration.
    pub max_requests: u64,
    /// Keep the bodies of successful answers (e.g. the orders placed).
    pub keep_bodies: bool,
    /// A 2xx answer counts as a success only if its body contains this (WeChat's
    /// notify replies are 200 either way; `SUCCESS` is in the XML).
    pub success_marker: Option<&'static [u8]>,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    /// The first failure's status and body, to say why.
    pub first_failure: Option<String>,
    pub elapsed: Duration,
    /// Latency of successful requests, microseconds.
    pub latency: Histogram<u64>,
    pub bodies: Vec<Bytes>,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile_us(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return f64::NAN;
        }
        self.latency.value_at_quantile(q) as f64
    }
}

struct TaskResult {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    latency: Histogram<u64>,
    bodies: Vec<Bytes>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s, three significant digits.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Runs `load` with requests from `make`; must be called inside a tokio runtime.
pub async fn run(load: &Load, make: MakeRequest) -> anyhow::Result<Outcome> {
    if !load.addr.ip().is_loopback() {
        anyhow::bail!(
            "the load generator only targets 127.0.0.1, not {}",
            load.addr
        );
    }
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut tasks = Vec::with_capacity(load.clients);
    for task in 0..load.clients {
        let (make, issued, load) = (Arc::clone(&make), Arc::clone(&issued), load.clone());
        tasks.push(tokio::spawn(async move {
            client(task, &load, deadline, &issued, make).await
        }));
    }
    let mut total = TaskResult {
        ok: 0,
        failed: 0,
        first_failure: None,
        latency: histogram()?,
        bodies: Vec::new(),
    };
    for task in tasks {
        let r = task.await??;
        total.ok += r.ok;
        total.failed += r.failed;
        total.first_failure = total.first_failure.or(r.first_failure);
        total.latency.add(&r.latency)?;
        total.bodies.extend(r.bodies);
    }
    Ok(Outcome {
        ok: total.ok,
        failed: total.failed,
        first_failure: total.first_failure,
        elapsed: started.elapsed(),
        latency: total.latency,
        bodies: total.bodies,
    })
}

/// One client: one connection, requests back to back until the deadline, the
/// global request bound, or the end of its work.
async fn client(
    task: usize,
    load: &Load,
    deadline: Instant,
    issued: &AtomicU64,
    make: MakeRequest,
) -> anyhow::Result<TaskResult> {
    let stream = TcpStream::connect(load.addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let mut result = TaskResult {
        ok: 0,
        failed: 0,
        first_failure: None,
        latency: histogram()?,
        bodies: Vec::new(),
    };
    let mut sent = 0u64;
    while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < load.max_requests {
        let Some(request) = make(task, sent) else {
            break;
        };
        sent += 1;
        sender.ready().await?;
        let begun = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        let micros = begun.elapsed().as_micros().max(1) as u64;
        let marked = load
            .success_marker
            .is_none_or(|m| body.windows(m.len()).any(|w| w == m));
        if status.is_success() && marked {
            result.ok += 1;
            result.latency.saturating_record(micros);
            if load.keep_bodies {
                result.bodies.push(body);
            }
        } else {
            result.failed += 1;
            if result.first_failure.is_none() {
                result.first_failure =
                    Some(format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
        }
    }
    drop(sender);
    let _ = driver.await;
    Ok(result)
}
