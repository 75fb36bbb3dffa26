//! Fault tests of `paylog serve` on a NATS log: the real binary as child processes, a
//! 3-node JetStream cluster started by the test on its own loopback ports.
//!
//! - 16 writers place orders while the stream's leader is SIGKILLed (round 1), then a
//!   follower is SIGKILLed and restarted (round 2): every acknowledged order is in the
//!   log, no command committed twice, positions gapless, `paylog audit verify` clean,
//!   and orders are accepted again once a new leader is elected (the time it took is
//!   printed, never asserted).
//! - Two servers, one shop: two `paylog serve` processes on the same stream race for
//!   the last unit of a product; exactly one order wins.
//!
//! Every wait is a bounded loop; nothing asserts on time.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paylog_store::{EventStore, NatsOptions, NatsStore};
use serde_json::{Value, json};

use crate::cluster::Cluster;

const ADMIN: &str = "nats-fault-admin-token-0123456789";
const TOKEN_SECRET: &str = "nats-fault-token-secret-0123456789abcdef";
const WRITERS: usize = 16;
/// Orders acknowledged before a node is killed, and again after, in each round.
const ORDERS_PER_PHASE: usize = 32;
/// Polls (of [`POLL`]) while waiting for a phase's orders: 60 s.
const PHASE_POLLS: usize = 600;
const POLL: Duration = Duration::from_millis(100);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn store_url(cluster: &Cluster) -> String {
    let hosts: Vec<&str> = cluster
        .urls
        .iter()
        .map(|u| u.trim_start_matches("nats://"))
        .collect();
    format!("nats://{}", hosts.join(","))
}

struct Server {
    child: Child,
    base: String,
    /// Where its stderr goes, for a failing test's message.
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `paylog serve` on `stream` of the cluster, with its own data dir (its views) and
/// the simulator; its log goes to `<data_dir>.log`.
fn start(data_dir: &Path, url: &str, stream: &str) -> Server {
    let port = free_port();
    std::fs::create_dir_all(data_dir).expect("data dir");
    let log_path = data_dir.with_extension("log");
    let log = std::fs::File::create(&log_path).expect("server log file");
    let child = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--store", url, "--nats-stream", stream])
        // Every writer is 127.0.0.1: keep the edge's limits out of the fault test.
        .args(["--rate-limit-orders-per-minute", "0"])
        .args(["--rate-limit-login-per-minute", "0"])
        .args(["--rate-limit-register-per-minute", "0"])
        .args(["--max-open-orders-per-user", "1000000"])
        .env("PAYLOG_ADMIN_TOKEN", ADMIN)
        .env("PAYLOG_TOKEN_SECRET", TOKEN_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn paylog serve");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log: log_path,
    }
}

/// Polls `/readyz` until the server is ready (bounded: 60 s).
async fn wait_ready(http: &reqwest::Client, server: &mut Server) {
    for _ in 0..600 {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = std::fs::read_to_string(&server.log).unwrap_or_default();
            panic!("paylog serve exited: {status}\n{log}");
        }
        if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("paylog serve never became ready");
}

async fn login(http: &reqwest::Client, base: &str, name: &str) -> String {
    let r = http
        .post(format!("{base}/v1/auth/wechat"))
        .json(&json!({"code": format!("{name}.{}", uuid::Uuid::now_v7().simple())}))
        .send()
        .await
        .expect("login");
    let json: Value = r.json().await.expect("login JSON");
    json["token"].as_str().expect("token").to_owned()
}

async fn create_product(http: &reqwest::Client, base: &str, stock: u64) -> String {
    let r = http
        .post(format!("{base}/v1/admin/products"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "乌龙茶", "price_fen": 100, "stock": stock}))
        .send()
        .await
        .expect("create product");
    assert_eq!(r.status().as_u16(), 201);
    let json: Value = r.json().await.expect("product JSON");
    json["product_id"].as_str().expect("id").to_owned()
}

/// Places one order of one unit: `Some(order id)` when acknowledged (201).
async fn place(http: &reqwest::Client, base: &str, token: &str, product: &str) -> Option<String> {
    let r = http
        .post(format!("{base}/v1/orders"))
        .bearer_auth(token)
        .json(&json!({"items": [{"product_id": product, "quantity": 1}]}))
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 201 {
        return None;
    }
    let json: Value = r.json().await.ok()?;
    json["order_id"].as_str().map(str::to_owned)
}

/// Acknowledged orders with the instant each was acknowledged.
type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

/// Writers placing orders until `stop`; every acknowledged order is recorded.
fn spawn_writers(
    http: &reqwest::Client,
    base: &str,
    tokens: &[String],
    product: &str,
    acked: &Acked,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    tokens
        .iter()
        .map(|token| {
            let (http, base, token, product) = (
                http.clone(),
                base.to_owned(),
                token.clone(),
                product.to_owned(),
            );
            let (acked, stop) = (Arc::clone(acked), Arc::clone(stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match place(&http, &base, &token, &product).await {
                        Some(id) => acked.lock().expect("lock").push((id, Instant::now())),
                        // A refused or failed request (an election in progress): pause a
                        // little rather than spin.
                        None => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
        })
        .collect()
}

/// Waits (bounded) until `count` orders were acknowledged after `since`; returns the
/// instant of the first of them.
async fn wait_acked_after(acked: &Acked, since: Instant, count: usize, what: &str) -> Instant {
    for _ in 0..PHASE_POLLS {
        {
            let acked = acked.lock().expect("lock");
            let after: Vec<Instant> = acked
                .iter()
                .map(|(_, at)| *at)
                .filter(|at| *at > since)
                .collect();
            if after.len() >= count {
                return after.into_iter().min().unwrap_or(since);
            }
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{what}: fewer than {count} orders acknowledged within the bound");
}

/// The node leading `stream`, waiting (bounded) for one to be elected.
async fn leader(cluster: &Cluster, stream: &str) -> usize {
    for _ in 0..PHASE_POLLS {
        if let Some(i) = cluster.stream_leader(stream).await {
            return i;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("the stream {stream} never had a leader");
}

fn nats_options(cluster: &Cluster, stream: &str) -> NatsOptions {
    NatsOptions::new(cluster.urls.clone()).with_stream(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_survive_killing_the_stream_leader_and_a_follower() {
    const STREAM: &str = "FAULT";
    let mut cluster = Cluster::start().await;
    let url = store_url(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let mut server = start(&dir.path().join("a"), &url, STREAM);
    wait_ready(&http, &mut server).await;
    let base = server.base.clone();
    let mut tokens = Vec::new();
    for i in 0..WRITERS {
        tokens.push(login(&http, &base, &format!("writer{i}")).await);
    }
    let product = create_product(&http, &base, 1_000_000).await;
    let acked: Acked = Arc::default();

    // Round 1: the stream's leader dies mid-load.
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&http, &base, &tokens, &product, &acked, &stop);
    let started = Instant::now();
    wait_acked_after(&acked, started, ORDERS_PER_PHASE, "before the leader dies").await;
    let old_leader = leader(&cluster, STREAM).await;
    cluster.kill(old_leader);
    let killed = Instant::now();
    let first = wait_acked_after(&acked, killed, ORDERS_PER_PHASE, "after the leader died").await;
    let new_leader = leader(&cluster, STREAM).await;
    eprintln!(
        "leader n{old_leader} SIGKILLed; n{new_leader} leads; the first order after the kill was acknowledged {:?} later",
        first.duration_since(killed)
    );
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    cluster.restart(old_leader);

    // Round 2: a follower dies mid-load and comes back.
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&http, &base, &tokens, &product, &acked, &stop);
    let leader_now = leader(&cluster, STREAM).await;
    let follower = (leader_now + 1) % 3;
    wait_acked_after(
        &acked,
        Instant::now(),
        ORDERS_PER_PHASE,
        "before the follower dies",
    )
    .await;
    cluster.kill(follower);
    let killed = Instant::now();
    let first = wait_acked_after(&acked, killed, ORDERS_PER_PHASE, "after the follower died").await;
    eprintln!(
        "follower n{follower} SIGKILLed; the first order after the kill was acknowledged {:?} later",
        first.duration_since(killed)
    );
    cluster.restart(follower);
    wait_acked_after(
        &acked,
        Instant::now(),
        ORDERS_PER_PHASE,
        "after the follower came back",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    drop(server);

    // The log, read back from the cluster.
    let log = NatsStore::open_read_only(nats_options(&cluster, STREAM))
        .await
        .expect("open the log");
    let mut events = Vec::new();
    loop {
        let page = log
            .read_all(events.len() as u64, 1024)
            .await
            .expect("read the log");
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    // Positions gapless from 1.
    for (i, event) in events.iter().enumerate() {
        assert_eq!(
            event.position,
            i as u64 + 1,
            "a gap before position {}",
            i + 1
        );
    }
    // No command committed twice: each command's events are one contiguous run.
    let mut runs: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut previous = None;
    for event in &events {
        if previous != Some(event.command_id) {
            *runs.entry(event.command_id).or_default() += 1;
        }
        previous = Some(event.command_id);
    }
    let twice: Vec<_> = runs.iter().filter(|(_, runs)| **runs > 1).collect();
    assert!(
        twice.is_empty(),
        "commands committed more than once: {twice:?}"
    );
    // Every acknowledged order is in the log, placed exactly once.
    let mut placed: HashMap<String, usize> = HashMap::new();
    for event in events.iter().filter(|e| e.event_type == "OrderPlaced") {
        *placed.entry(event.stream_id.clone()).or_default() += 1;
    }
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    let ids: HashSet<&String> = acked.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), acked.len(), "an order id was acknowledged twice");
    for (id, _) in &acked {
        assert_eq!(
            placed.get(&format!("order-{id}")),
            Some(&1),
            "acknowledged order {id} is not in the log exactly once"
        );
    }
    eprintln!(
        "{} acknowledged orders, {} events, gapless, every command once",
        acked.len(),
        events.len()
    );

    let verify = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path().join("audit"))
        .args(["--store", &url, "--nats-stream", STREAM])
        .output()
        .expect("run paylog audit verify");
    assert!(
        verify.status.success(),
        "audit verify failed:\n{}\n{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_stream_race_for_the_last_unit_and_exactly_one_wins() {
    const STREAM: &str = "SHOP";
    const SHOPPERS_PER_SERVER: usize = 4;
    let cluster = Cluster::start().await;
    let url = store_url(&cluster);
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    // The second server starts on the stream the first created.
    let mut a = start(&dir.path().join("a"), &url, STREAM);
    wait_ready(&http, &mut a).await;
    let mut b = start(&dir.path().join("b"), &url, STREAM);
    wait_ready(&http, &mut b).await;
    let product = create_product(&http, &a.base, 1).await;
    let mut shoppers = Vec::new();
    for server in [&a, &b] {
        for i in 0..SHOPPERS_PER_SERVER {
            let token = login(&http, &server.base, &format!("racer{i}")).await;
            shoppers.push((server.base.clone(), token));
        }
    }
    let tries: Vec<_> = shoppers
        .into_iter()
        .map(|(base, token)| {
            let (http, product) = (http.clone(), product.clone());
            tokio::spawn(async move { place(&http, &base, &token, &product).await })
        })
        .collect();
    let mut won = Vec::new();
    for attempt in tries {
        if let Some(id) = attempt.await.expect("shopper") {
            won.push(id);
        }
    }
    assert_eq!(won.len(), 1, "orders placed for the one unit: {won:?}");

    let log = NatsStore::open_read_only(nats_options(&cluster, STREAM))
        .await
        .expect("open the log");
    let reserved = log
        .read_stream(&format!("product-{product}"), 1, 100)
        .await
        .expect("read the product")
        .iter()
        .filter(|e| e.event_type == "StockReserved")
        .count();
    assert_eq!(reserved, 1);
}
