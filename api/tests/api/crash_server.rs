//! Crash test: the real `paylog serve` binary as a child process, driven over HTTP by
//! concurrent shoppers, SIGKILLed at random moments and restarted on the same data dir.
//!
//! Every command the server acknowledged (a 2xx, or `SUCCESS` to a notify) must be
//! there after the restarts, and `paylog audit verify` must pass on the data dir.
//! Bounded: a few rounds, each killed within a couple of seconds.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paylog_core::wxpay::{ApiKey, SignType};
use paylog_sim::SimConfig;
use paylog_sim::notify::PayNotice;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const ADMIN: &str = "crash-test-admin-token-0123456789";
const ROUNDS: usize = 4;
const SHOPPERS: usize = 3;

/// The `paylog` binary cargo built for this package's integration tests (cargo sets
/// `CARGO_BIN_EXE_<name>` only for the integration tests of the package that owns the
/// binary, which is why this test lives in `paylog-api`'s test binary).
fn paylog_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_paylog"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server {
    child: Child,
    base: String,
}

fn start(bin: &Path, data_dir: &Path, port: u16) -> Server {
    let child = Command::new(bin)
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        // Every shopper is 127.0.0.1: keep the edge's limits out of the crash test.
        .args(["--rate-limit-orders-per-minute", "0"])
        .args(["--rate-limit-login-per-minute", "0"])
        .args(["--rate-limit-register-per-minute", "0"])
        .args(["--max-open-orders-per-user", "1000000"])
        .env("PAYLOG_ADMIN_TOKEN", ADMIN)
        .env(
            "PAYLOG_TOKEN_SECRET",
            "crash-test-token-secret-0123456789abcdef",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paylog serve");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Polls `/healthz` until it answers 200 (bounded: 60 s).
async fn wait_healthy(http: &reqwest::Client, server: &mut Server) {
    for _ in 0..600 {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("paylog serve exited: {status}");
        }
        if let Ok(r) = http.get(format!("{}/healthz", server.base)).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("paylog serve never became healthy");
}

fn kill(server: &mut Server) {
    // `Child::kill` is SIGKILL on Unix: no shutdown code runs.
    let _ = server.child.kill();
    let _ = server.child.wait();
}

/// What the server acknowledged.
#[derive(Debug, Default)]
struct Acked {
    /// (order id, owner's token, what must be true of it)
    orders: Vec<(String, String, Expect)>,
    products: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Exists,
    Paid,
    Cancelled,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> Option<(u16, Value)> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let json = r.json().await.unwrap_or(Value::Null);
    Some((status, json))
}

/// One shopper's loop: place an order, then pay it, cancel it or leave it. Stops at
/// the first transport error (the server was killed).
async fn shopper(
    http: reqwest::Client,
    base: String,
    token: String,
    product: String,
    seed: u64,
    acked: Arc<Mutex<Acked>>,
) {
    let sim = SimConfig::demo();
    for i in 0u64.. {
        let Some((status, order)) = post(
            &http,
            format!("{base}/v1/orders"),
            &token,
            json!({"items": [{"product_id": product, "quantity": 1}]}),
        )
        .await
        else {
            return;
        };
        if status != 201 {
            continue;
        }
        let order_id = order["order_id"].as_str().unwrap_or_default().to_owned();
        let total = order["total_fen"].as_u64().unwrap_or(100);
        let mut expect = Expect::Exists;
        match (seed + i) % 3 {
            0 => {
                let xml = PayNotice {
                    appid: sim.appid.clone(),
                    mch_id: sim.mch_id.clone(),
                    nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".to_owned(),
                    openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned(),
                    out_trade_no: order_id.replace('-', ""),
                    transaction_id: format!("42000{seed}{i:010}"),
                    total_fee: total,
                    time_end: "20260101120000".to_owned(),
                    attach: String::new(),
                }
                .signed(&ApiKey::new(sim.api_key.expose_secret()), SignType::Md5)
                .expect("signs");
                let Ok(r) = http
                    .post(format!("{base}/v1/wechat/pay/notify"))
                    .header("content-type", "text/xml")
                    .body(xml)
                    .send()
                    .await
                else {
                    acked
                        .lock()
                        .expect("lock")
                        .orders
                        .push((order_id, token.clone(), expect));
                    return;
                };
                if r.text().await.is_ok_and(|t| t.contains("SUCCESS")) {
                    expect = Expect::Paid;
                }
            }
            1 => {
                match post(
                    &http,
                    format!("{base}/v1/orders/{order_id}/cancel"),
                    &token,
                    json!({}),
                )
                .await
                {
                    Some((200..=299, _)) => expect = Expect::Cancelled,
                    Some(_) => {}
                    None => {
                        acked
                            .lock()
                            .expect("lock")
                            .orders
                            .push((order_id, token.clone(), expect));
                        return;
                    }
                }
            }
            _ => {}
        }
        acked
            .lock()
            .expect("lock")
            .orders
            .push((order_id, token.clone(), expect));
    }
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

/// Reads an order back, waiting (bounded) for the views to catch up after a restart.
async fn order_status(http: &reqwest::Client, base: &str, token: &str, id: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        let r = http
            .get(format!("{base}/v1/orders/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("server up");
        let status = r.status().as_u16();
        let json: Value = r.json().await.unwrap_or(Value::Null);
        if status == 200 {
            return json["status"].as_str().unwrap_or_default().to_owned();
        }
        last = format!("{status} {json}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("acknowledged order {id} is gone after the crashes: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commands_survive_sigkill() {
    let bin = paylog_bin();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut tokens = Vec::new();

    for round in 0..ROUNDS {
        let mut server = start(&bin, &data, free_port());
        wait_healthy(&http, &mut server).await;
        let base = server.base.clone();
        if round == 0 {
            for i in 0..SHOPPERS {
                tokens.push(login(&http, &base, &format!("crash{i}")).await);
            }
            let (status, product) = post(
                &http,
                format!("{base}/v1/admin/products"),
                ADMIN,
                json!({"name": "乌龙茶", "price_fen": 100, "stock": 100_000}),
            )
            .await
            .expect("create product");
            assert_eq!(status, 201, "{product}");
            let id = product["product_id"].as_str().expect("id").to_owned();
            acked.lock().expect("lock").products.push(id);
        }
        let product = acked.lock().expect("lock").products[0].clone();
        let tasks: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                tokio::spawn(shopper(
                    http.clone(),
                    base.clone(),
                    token.clone(),
                    product.clone(),
                    (round * SHOPPERS + i) as u64,
                    acked.clone(),
                ))
            })
            .collect();
        // A random moment: 300 ms to 2 s into the round.
        let nanos = u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0),
        );
        tokio::time::sleep(Duration::from_millis(300 + nanos % 1700)).await;
        kill(&mut server);
        for task in tasks {
            task.await.expect("shopper task");
        }
    }

    // Restart once more and read back everything that was acknowledged.
    let mut server = start(&bin, &data, free_port());
    wait_healthy(&http, &mut server).await;
    let orders = std::mem::take(&mut acked.lock().expect("lock").orders);
    assert!(!orders.is_empty(), "the shoppers got nothing acknowledged");
    let (mut paid, mut cancelled) = (0, 0);
    for (id, token, expect) in &orders {
        let status = order_status(&http, &server.base, token, id).await;
        match expect {
            Expect::Exists => {}
            Expect::Paid => {
                paid += 1;
                assert_eq!(status, "Paid", "order {id} was acknowledged as paid");
            }
            Expect::Cancelled => {
                cancelled += 1;
                assert_eq!(
                    status, "Cancelled",
                    "order {id} was acknowledged as cancelled"
                );
            }
        }
    }
    kill(&mut server);
    eprintln!(
        "{} acknowledged orders ({paid} paid, {cancelled} cancelled) survived {ROUNDS} SIGKILLs",
        orders.len()
    );

    let verify = Command::new(&bin)
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run paylog audit verify");
    assert!(
        verify.status.success(),
        "audit verify failed:\n{}\n{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
