//! `paylog demo`: the whole story over real HTTP, against a temporary data dir and
//! the built-in WeChat simulator — log in, create a product, order, pay, receive the
//! notify (and a duplicate), refund part of it, ship the rest (uploaded to WeChat's
//! order-shipping service), and record the receipt and settlement WeChat reports —
//! printing every step.
//!
//! [`run_demo`] is the library function (the tests call it); it fails on the first
//! step that misbehaves, so `paylog demo` exits non-zero then. `--wechat-pay v3`
//! ([`run_demo_on`]) tells the same story on WeChat Pay API v3: RSA `paySign`,
//! signed JSON notifies with encrypted resources, answered 204.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use reqwest::{Client, Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::{AppHandles, Application};
use crate::config::{
    DurabilityArg, LogSource, PayVersionArg, ServeArgs, StoreArgs, WechatArgs, WechatV3Args,
};

/// Flags of `paylog demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The WeChat Pay API the shop pays on.
    #[arg(long = "wechat-pay", value_enum, default_value_t = PayVersionArg::V2)]
    pub wechat_pay: PayVersionArg,
}

const ADMIN_TOKEN: &str = "demo-admin-token-not-for-production-use";

/// What the demo ended with, for callers that check it.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    /// The final order, as `GET /v1/orders/{id}` shows it.
    pub order: Value,
    /// `PaymentConfirmed` events in the order's stream (1 when all went well).
    pub payments_confirmed: usize,
    /// Notify deliveries acknowledged by paylog (the notify and its duplicate).
    pub notifies_acknowledged: usize,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let mut out = std::io::stdout();
        run_demo_on(&mut out, args.wechat_pay).await?;
        Ok(ExitCode::SUCCESS)
    })
}

struct Demo<'a> {
    /// `signType` of the `wx.requestPayment` parameters (MD5 on v2, RSA on v3).
    expected_sign_type: &'static str,
    http: Client,
    base: String,
    sim: String,
    handles: AppHandles,
    out: &'a mut (dyn Write + Send),
}

impl Demo<'_> {
    fn step(&mut self, title: &str) -> anyhow::Result<()> {
        writeln!(self.out, "\n==> {title}").context("writing to stdout")
    }

    fn show(&mut self, label: &str, value: &Value) -> anyhow::Result<()> {
        writeln!(self.out, "    {label}: {value}").context("writing to stdout")
    }

    async fn call(
        &self,
        method: Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the answer")?;
        ensure!(
            status == want,
            "{method} {url}: expected {want}, got {status}: {text}"
        );
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        self.call(method, format!("{}{path}", self.base), token, body, want)
            .await
    }

    /// Polls the order until it has `status` (bounded).
    async fn until_status(&self, token: &str, id: &str, status: &str) -> anyhow::Result<Value> {
        for _ in 0..300 {
            let order = self
                .api(
                    Method::GET,
                    &format!("/v1/orders/{id}"),
                    Some(token),
                    None,
                    StatusCode::OK,
                )
                .await?;
            if order["status"] == status {
                return Ok(order);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("order {id} never became {status}")
    }

    /// Waits until the simulator has finished every notify delivery.
    async fn deliveries(&self) -> anyhow::Result<Vec<Value>> {
        for _ in 0..300 {
            let state = self
                .call(
                    Method::GET,
                    format!("{}/sim/state", self.sim),
                    None,
                    None,
                    StatusCode::OK,
                )
                .await?;
            let deliveries = state["deliveries"].as_array().cloned().unwrap_or_default();
            if deliveries.iter().all(|d| d["finished"] == true) {
                return Ok(deliveries);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("the simulator's notify deliveries never finished")
    }
}

/// Runs the whole story and writes each step to `out`.
pub async fn run_demo(out: &mut (dyn Write + Send)) -> anyhow::Result<DemoOutcome> {
    run_demo_on(out, PayVersionArg::V2).await
}

/// [`run_demo`] on the given WeChat Pay API.
pub async fn run_demo_on(
    out: &mut (dyn Write + Send),
    api: PayVersionArg,
) -> anyhow::Result<DemoOutcome> {
    let dir = tempfile::tempdir().context("creating a temporary data dir")?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding a port")?;
    let listen = listener.local_addr().context("local address")?;
    let args = ServeArgs {
        store: StoreArgs {
            data_dir: dir.path().join("data"),
            durability: DurabilityArg::Sync,
            log: LogSource::default(),
            memory_budget_mib: crate::config::DEFAULT_MEMORY_BUDGET_MIB,
        },
        listen,
        wechat: WechatArgs {
            sign_type: "MD5".into(),
            v3: WechatV3Args {
                pay_version: api,
                ..WechatV3Args::default()
            },
            ..WechatArgs::default()
        },
        message_push: crate::config::MessagePushArgs::default(),
        admin_token: Some(SecretString::from(ADMIN_TOKEN)),
        token_secret: None,
        payment_timeout: Duration::from_secs(1800),
        reconcile_after: Duration::from_secs(300),
        reconcile_interval: Duration::from_secs(30),
        refund_notify_url: None,
        allow_simulator_on_public_address: false,
        password_hash_threads: None,
        password_hash_queue: crate::services::accounts::password::DEFAULT_HASH_QUEUE_LEN,
        max_open_orders_per_user: crate::services::ordering::DEFAULT_MAX_OPEN_ORDERS_PER_USER,
        header_read_timeout: std::time::Duration::from_secs(10),
        request_timeout: std::time::Duration::from_secs(30),
        max_connections: 1024,
        shutdown_deadline: std::time::Duration::from_secs(10),
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
    let app = Application::build(args, listener)
        .await
        .context("starting paylog")?;
    let handles = app.handles();
    let sim = handles
        .sim_url
        .clone()
        .context("the demo needs the built-in simulator")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let expected_sign_type = match api {
        PayVersionArg::V2 => "MD5",
        PayVersionArg::V3 => "RSA",
    };
    let mut demo = Demo {
        expected_sign_type,
        http: Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .context("HTTP client")?,
        base: format!("http://{listen}"),
        sim,
        handles,
        out,
    };
    let outcome = story(&mut demo).await;
    let _ = stop.send(());
    server.await.context("server task")?.context("server")?;
    outcome
}

async fn story(d: &mut Demo<'_>) -> anyhow::Result<DemoOutcome> {
    writeln!(
        d.out,
        "paylog demo: API on {}, WeChat simulator on {}",
        d.base, d.sim
    )?;

    d.step("log in with WeChat (wx.login code → POST /v1/auth/wechat)")?;
    let session = d
        .api(
            Method::POST,
            "/v1/auth/wechat",
            None,
            Some(json!({ "code": "demo-shopper.1" })),
            StatusCode::OK,
        )
        .await?;
    let token = session["token"].as_str().context("no token")?.to_owned();
    d.show("user_id", &session["user_id"])?;
    d.show("new_user", &session["new_user"])?;

    d.step("create a product (POST /v1/admin/products)")?;
    let product = d
        .api(
            Method::POST,
            "/v1/admin/products",
            Some(ADMIN_TOKEN),
            Some(json!({ "name": "Oolong tea 250g", "price_fen": 6800, "stock": 10 })),
            StatusCode::CREATED,
        )
        .await?;
    let product_id = product["product_id"]
        .as_str()
        .context("no product id")?
        .to_owned();
    d.show("product", &product)?;

    d.step("place an order for 2 (POST /v1/orders)")?;
    let items = json!({ "items": [{ "product_id": product_id, "quantity": 2 }] });
    let placed = d
        .api(
            Method::POST,
            "/v1/orders",
            Some(&token),
            Some(items),
            StatusCode::CREATED,
        )
        .await?;
    let order_id = placed["order_id"]
        .as_str()
        .context("no order id")?
        .to_owned();
    let out_trade_no = placed["out_trade_no"]
        .as_str()
        .context("no out_trade_no")?
        .to_owned();
    d.show("order", &placed)?;
    let stock = d
        .api(
            Method::GET,
            &format!("/v1/products/{product_id}"),
            None,
            None,
            StatusCode::OK,
        )
        .await?;
    ensure!(
        stock["stock"] == 8,
        "stock should be 8 after the order: {stock}"
    );
    d.show("stock left", &stock["stock"])?;

    d.step("a delivery arrives: add stock with a reason (POST /v1/admin/products/{id}/stock)")?;
    let delivered = d
        .api(
            Method::POST,
            &format!("/v1/admin/products/{product_id}/stock"),
            Some(ADMIN_TOKEN),
            Some(json!({ "delta": 5, "reason": "delivery from the tea garden, note 8812" })),
            StatusCode::OK,
        )
        .await?;
    ensure!(
        delivered["stock"] == 13,
        "stock should be 13 after the delivery: {delivered}"
    );
    d.show("stock now", &delivered["stock"])?;

    d.step("pay (POST /v1/orders/{id}/pay → wx.requestPayment parameters)")?;
    let params = d
        .api(
            Method::POST,
            &format!("/v1/orders/{order_id}/pay"),
            Some(&token),
            None,
            StatusCode::OK,
        )
        .await?;
    d.show("requestPayment", &params)?;
    ensure!(
        params["signType"] == d.expected_sign_type,
        "signType should be {}: {params}",
        d.expected_sign_type
    );

    d.step("the shopper pays at WeChat; WeChat notifies paylog, then sends a duplicate")?;
    let paid = d
        .call(
            Method::POST,
            format!("{}/sim/pay", d.sim),
            None,
            Some(json!({ "out_trade_no": out_trade_no, "duplicates": 1 })),
            StatusCode::OK,
        )
        .await?;
    d.show("transaction_id", &paid["transaction_id"])?;
    let order = d.until_status(&token, &order_id, "Paid").await?;
    d.show("status", &order["status"])?;
    let deliveries = d.deliveries().await?;
    let attempts: Vec<Value> = deliveries
        .iter()
        .flat_map(|x| x["attempts"].as_array().cloned().unwrap_or_default())
        .collect();
    let acknowledged = attempts
        .iter()
        .filter(|a| a["acknowledged"] == true)
        .count();
    ensure!(
        acknowledged == 2,
        "the notify and its duplicate should both be acknowledged: {attempts:?}"
    );
    let confirmed = payments_confirmed(&d.handles, &order_id).await?;
    ensure!(
        confirmed == 1,
        "one PaymentConfirmed in the log, found {confirmed}"
    );
    d.show("notifies acknowledged", &json!(acknowledged))?;
    d.show("PaymentConfirmed events in the log", &json!(confirmed))?;

    d.step("refund one of the two (POST /v1/admin/orders/{id}/refund)")?;
    let refund = d
        .api(
            Method::POST,
            &format!("/v1/admin/orders/{order_id}/refund"),
            Some(ADMIN_TOKEN),
            Some(json!({ "amount_fen": 6800, "reason": "one box arrived damaged" })),
            StatusCode::ACCEPTED,
        )
        .await?;
    d.show("refund", &refund)?;
    let order = d
        .until_status(&token, &order_id, "PartiallyRefunded")
        .await?;
    ensure!(
        order["refunded_fen"] == 6800,
        "refunded_fen should be 6800: {order}"
    );

    d.step("ship the other box (POST /v1/admin/orders/{id}/ship → uploaded to WeChat)")?;
    let shipped = d
        .api(
            Method::POST,
            &format!("/v1/admin/orders/{order_id}/ship"),
            Some(ADMIN_TOKEN),
            Some(json!({
                "logistics_type": "express",
                "delivery_mode": "unified",
                "parcels": [{
                    "tracking_no": "SF1234567890123",
                    "express_company": "SF",
                    "item_desc": "Oolong tea 250g*1"
                }]
            })),
            StatusCode::OK,
        )
        .await?;
    ensure!(
        shipped["upload"] == "uploaded",
        "WeChat should have the shipping info: {shipped}"
    );
    d.show("upload", &shipped["upload"])?;

    d.step("the shopper confirms receipt, WeChat settles; paylog asks get_order (POST …/shipping/sync)")?;
    let transaction_id = paid["transaction_id"].clone();
    for control in ["confirm-receipt", "settle"] {
        d.call(
            Method::POST,
            format!("{}/sim/{control}", d.sim),
            None,
            Some(json!({ "transaction_id": transaction_id })),
            StatusCode::NO_CONTENT,
        )
        .await?;
    }
    let synced = d
        .api(
            Method::POST,
            &format!("/v1/admin/orders/{order_id}/shipping/sync"),
            Some(ADMIN_TOKEN),
            None,
            StatusCode::OK,
        )
        .await?;
    ensure!(
        synced["shipping"]["settled_at"].is_string(),
        "the order should be settled: {synced}"
    );
    d.show("settled_at", &synced["shipping"]["settled_at"])?;
    let order = d
        .api(
            Method::GET,
            &format!("/v1/orders/{order_id}"),
            Some(&token),
            None,
            StatusCode::OK,
        )
        .await?;

    d.step("the final order (GET /v1/orders/{id})")?;
    let pretty = serde_json::to_string_pretty(&order).context("formatting")?;
    writeln!(d.out, "{pretty}")?;
    writeln!(d.out, "\ndemo finished: every step behaved")?;
    Ok(DemoOutcome {
        order,
        payments_confirmed: confirmed,
        notifies_acknowledged: acknowledged,
    })
}

async fn payments_confirmed(handles: &AppHandles, order_id: &str) -> anyhow::Result<usize> {
    let events = handles
        .store
        .read_stream(&format!("order-{order_id}"), 1, 10_000)
        .await
        .context("reading the log")?;
    Ok(events
        .iter()
        .filter(|e| e.event_type == "PaymentConfirmed")
        .count())
}
