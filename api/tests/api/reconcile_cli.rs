//! `paylog reconcile` as the real binary, beside a live server on the same data dir,
//! against the simulator: a day that matches exits 0; a bill with every kind of
//! difference exits non-zero and names each (in text and JSON); a malformed bill and
//! bad input are one-line errors.

use std::process::Output;
use std::time::Duration;

use chrono::Utc;
use paylog_api::app::Application;
use paylog_api::config::{DurabilityArg, LogSource, ServeArgs, StoreArgs, WechatArgs};
use paylog_core::wxpay::bill::beijing_day;
use paylog_sim::SimConfig;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const ADMIN: &str = "reconcile-test-admin-token-0123456789";

struct Shop {
    base: String,
    sim_url: String,
    sim: SimConfig,
    data_dir: std::path::PathBuf,
    http: reqwest::Client,
}

impl Shop {
    async fn call(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let answer = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = answer.status();
        let json: Value = answer.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {json}");
        json
    }

    async fn sim(&self, path: &str, body: Value) {
        let answer = self
            .http
            .post(format!("{}{path}", self.sim_url))
            .json(&body)
            .send()
            .await
            .expect("sim");
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }

    async fn wait_for(&self, token: &str, id: &str, status: &str) {
        for _ in 0..500 {
            let order = self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/orders/{id}"),
                    token,
                    Value::Null,
                )
                .await;
            if order["status"] == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("order {id} never reached {status}");
    }

    /// A paid order of `total` fen: (token, order id, out_trade_no).
    async fn paid_order(&self, total: u64) -> (String, String, String) {
        let code = format!("bill.{}", uuid::Uuid::now_v7().simple());
        let login = self
            .http
            .post(format!("{}/v1/auth/wechat", self.base))
            .json(&json!({ "code": code }))
            .send()
            .await
            .expect("login");
        let token = login.json::<Value>().await.expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned();
        let product = self
            .call(
                reqwest::Method::POST,
                "/v1/admin/products",
                ADMIN,
                json!({ "name": "Tea", "price_fen": total, "stock": 5 }),
            )
            .await;
        let items = json!({ "items": [{ "product_id": product["product_id"], "quantity": 1 }] });
        let order = self
            .call(reqwest::Method::POST, "/v1/orders", &token, items)
            .await;
        let id = order["order_id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        self.call(
            reqwest::Method::POST,
            &format!("/v1/orders/{id}/pay"),
            &token,
            Value::Null,
        )
        .await;
        self.sim("/sim/pay", json!({ "out_trade_no": no })).await;
        self.wait_for(&token, &id, "Paid").await;
        (token, id, no)
    }

    /// `paylog reconcile ARGS` with the server's settings.
    async fn reconcile(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_paylog"))
            .arg("reconcile")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .env("PAYLOG_WECHAT_APPID", &self.sim.appid)
            .env("PAYLOG_WECHAT_MCH_ID", &self.sim.mch_id)
            .env("PAYLOG_WECHAT_API_KEY", self.sim.api_key.expose_secret())
            .env("PAYLOG_WECHAT_PAY_URL", &self.sim_url)
            .output()
            .await
            .expect("run paylog")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_exits_zero_only_when_the_day_matches_and_names_every_difference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim_config = SimConfig {
        time_scale: 0.001,
        ..SimConfig::demo()
    };
    let sim = paylog_sim::start(
        TcpListener::bind("127.0.0.1:0").await.expect("bind sim"),
        sim_config.clone(),
    )
    .await
    .expect("sim");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let listen = listener.local_addr().expect("address");
    let data_dir = dir.path().join("data");
    let args = ServeArgs {
        store: StoreArgs {
            data_dir: data_dir.clone(),
            durability: DurabilityArg::Sync,
            log: LogSource::default(),
            memory_budget_mib: paylog_api::config::DEFAULT_MEMORY_BUDGET_MIB,
        },
        listen,
        wechat: WechatArgs {
            appid: Some(sim_config.appid.clone()),
            secret: Some(sim_config.app_secret.clone()),
            mch_id: Some(sim_config.mch_id.clone()),
            api_key: Some(sim_config.api_key.clone()),
            sign_type: "MD5".into(),
            pay_url: Some(sim.base_url().to_owned()),
            api_url: Some(sim.base_url().to_owned()),
            notify_url: Some(format!("http://{listen}/v1/wechat/pay/notify")),
            ..WechatArgs::default()
        },
        message_push: paylog_api::config::MessagePushArgs::default(),
        admin_token: Some(SecretString::from(ADMIN)),
        token_secret: Some(SecretString::from("reconcile-test-token-secret-0123456789")),
        payment_timeout: Duration::from_secs(1800),
        reconcile_after: Duration::from_secs(300),
        reconcile_interval: Duration::from_secs(3600),
        refund_notify_url: None,
        allow_simulator_on_public_address: false,
        password_hash_threads: Some(1),
        password_hash_queue: 8,
        max_open_orders_per_user: 100,
        header_read_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        max_connections: 64,
        shutdown_deadline: Duration::from_secs(1),
        ready_max_lag_events: 1000,
        rate_limit_login_per_minute: 0,
        rate_limit_register_per_minute: 0,
        rate_limit_orders_per_minute: 0,
        trusted_proxies: Vec::new(),
        reconcile_daily_at: None,
        upload_retry_interval: Duration::from_secs(30),
        settlement_check_after: Duration::from_secs(72 * 3600),
        ship_template_id: None,
    };
    let app = Application::build(args, listener).await.expect("build app");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    let shop = Shop {
        base: format!("http://{listen}"),
        sim_url: sim.base_url().to_owned(),
        sim: sim_config.clone(),
        data_dir,
        http: reqwest::Client::new(),
    };
    let date = beijing_day(Utc::now()).to_string();

    // A day that matches.
    let (_, _, first) = shop.paid_order(990).await;
    let out = shop.reconcile(&["--date", &date]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("the day matches"),
        "{}",
        text(&out.stdout)
    );

    // Every kind of difference.
    let (_, _, amount) = shop.paid_order(200).await;
    let (token, id, refunded) = shop.paid_order(300).await;
    let refund = shop
        .call(
            reqwest::Method::POST,
            &format!("/v1/admin/orders/{id}/refund"),
            ADMIN,
            json!({ "amount_fen": 100 }),
        )
        .await;
    shop.wait_for(&token, &id, "PartiallyRefunded").await;
    let out_refund_no = refund["out_refund_no"].as_str().expect("number").to_owned();
    let stranger = "fedcba9876543210fedcba9876543210";
    for fault in [
        json!({ "kind": "drop_payment", "out_trade_no": first }),
        json!({ "kind": "payment_amount", "out_trade_no": amount, "amount": 199 }),
        json!({ "kind": "refund_status", "out_refund_no": out_refund_no, "status": "REFUNDCLOSE" }),
        json!({ "kind": "extra_payment", "out_trade_no": stranger, "amount": 5000 }),
    ] {
        let mut fault = fault;
        fault["date"] = json!(date);
        shop.sim("/sim/bill-fault", fault).await;
    }
    let out = shop.reconcile(&["--date", &date]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", text(&out.stderr));
    for (kind, no) in [
        ("missing from the bill", first.as_str()),
        (
            "amount differs: bill 1.99 yuan, log 2.00 yuan",
            amount.as_str(),
        ),
        ("status differs: bill REFUNDCLOSE", refunded.as_str()),
        ("missing from the log", stranger),
    ] {
        assert!(
            stdout.lines().any(|l| l.contains(kind) && l.contains(no)),
            "{kind} of {no} not named in:\n{stdout}"
        );
    }
    assert!(stdout.contains("ANOMALY"), "{stdout}");
    let out = shop.reconcile(&["--date", &date, "--json"]).await;
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["matches"], false);
    let mut kinds: Vec<&str> = report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "amount_differs",
            "missing_from_bill",
            "missing_from_log",
            "status_differs"
        ]
    );

    // Bad input and a malformed bill: one line, non-zero, nothing changed.
    for bad in [&["--date", "2026-02-30"][..], &["--date", "tomorrow"][..]] {
        let out = shop.reconcile(bad).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("is not a date"), "{stderr}");
    }
    shop.sim(
        "/sim/bill-fault",
        json!({ "date": date, "kind": "malformed" }),
    )
    .await;
    let out = shop.reconcile(&["--date", &date]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    let unconfigured = tokio::process::Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["reconcile", "--data-dir"])
        .arg(&shop.data_dir)
        .env_remove("PAYLOG_WECHAT_APPID")
        .output()
        .await
        .expect("run paylog");
    assert_eq!(unconfigured.status.code(), Some(1));
    assert!(text(&unconfigured.stderr).contains("PAYLOG_WECHAT_APPID"));

    let _ = stop_tx.send(());
    server.await.expect("server task").expect("stopped cleanly");
    sim.shutdown().await;
}
