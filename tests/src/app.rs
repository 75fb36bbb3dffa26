//! [`spawn_app`]: the real server on 127.0.0.1:0 with its own temp data dir and its
//! own WeChat simulator, and [`TestApp`] with one typed method per endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_engine::Clock;

use paylog_api::app::AppHandles;
use paylog_api::config::{
    DurabilityArg, LogSource, MessagePushArgs, PayVersionArg, PushModeArg, ServeArgs, StoreArgs,
    WechatArgs, WechatV3Args,
};
use paylog_sim::{self as sim, SimConfig, SimHandle};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cluster::Cluster;

/// The admin token every test app is configured with (unless disabled).
/// The message push token and EncodingAESKey every test server is configured with.
pub const PUSH_TOKEN: &str = "paylogpushtoken0";
pub const PUSH_AES_KEY: &str = "pAyLoGtEsTeNcOdInGaEsKeY0123456789abcdefghi";
/// `--settlement-check-after` of every test app.
pub const SETTLEMENT_CHECK_AFTER: Duration = Duration::from_secs(72 * 3600);
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghij";

/// The app's clock: the machine's, plus however far a test moved it forward, so a
/// test reaches a timeout by moving time instead of sleeping past it.
#[derive(Debug, Default)]
pub struct TestClock {
    ahead: Mutex<chrono::Duration>,
}

impl TestClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).expect("a test-sized duration");
        let mut ahead = self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        *ahead += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let ahead = *self.ahead.lock().unwrap_or_else(|p| p.into_inner());
        Utc::now() + ahead
    }
}

/// How a test app differs from the defaults.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub payment_timeout: Duration,
    pub reconcile_after: Duration,
    /// The background reconciler's interval (long by default: tests call
    /// [`TestApp::reconcile_once`] themselves).
    pub reconcile_interval: Duration,
    pub admin_token: Option<String>,
    /// The simulator's notify retry schedule scale (0.001: 15 s → 15 ms).
    pub sim_time_scale: f64,
    /// Unpaid orders one user may hold (high by default: tests place many orders).
    pub max_open_orders_per_user: usize,
    /// New payments on WeChat Pay API v3 (`PAYLOG_WECHAT_PAY_VERSION=v3`) with the
    /// simulator's v3 credentials, written to key files as a merchant would
    /// configure them. The v2 key stays configured (orders prepaid on v2).
    pub wechat_pay_v3: bool,
    /// A shop on v3 credentials only (implies `wechat_pay_v3`): no v2 API key, so
    /// any v2 call would fail at the simulator with a sign error.
    pub v3_only: bool,
    /// v3 in platform-certificate mode (implies `wechat_pay_v3`): the simulator
    /// signs with its platform certificate, the shop has no public key and
    /// downloads `/v3/certificates` at start-up.
    pub v3_platform_certificates: bool,
    /// The daily bill's reconciliation time (Beijing); off by default.
    pub reconcile_daily_at: Option<chrono::NaiveTime>,
    /// The merchant's client certificate, as the server is given it.
    pub client_cert: ClientCert,
    /// The background uploader's interval (long by default: tests call
    /// [`TestApp::upload_once`] themselves).
    pub upload_retry_interval: Duration,
    /// `--ship-template-id`: the subscribe message sent when an order ships.
    pub ship_template_id: Option<paylog_api::config::TemplateId>,
    /// The message push's mode (token [`PUSH_TOKEN`], key [`PUSH_AES_KEY`]).
    pub push_mode: PushModeArg,
}

/// Which form of the merchant's client certificate a test app is configured with.
#[derive(Debug, Clone, Default)]
pub enum ClientCert {
    /// None (the simulator does not ask for one).
    #[default]
    None,
    /// `PAYLOG_WECHAT_CLIENT_CERT` + `PAYLOG_WECHAT_CLIENT_KEY`.
    Pem { cert: PathBuf, key: PathBuf },
    /// `PAYLOG_WECHAT_CLIENT_P12` (password = the merchant id).
    P12(PathBuf),
}

/// The TEST-ONLY client certificates committed with the WeChat client's tests
/// (`api/wechat/tests/data/client_cert/`, made by its `make.sh`).
pub fn test_client_cert_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api/wechat/tests/data/client_cert")
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            payment_timeout: Duration::from_secs(1800),
            reconcile_after: Duration::ZERO,
            reconcile_interval: Duration::from_secs(3600),
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            sim_time_scale: 0.001,
            max_open_orders_per_user: 10_000,
            wechat_pay_v3: false,
            v3_only: false,
            v3_platform_certificates: false,
            reconcile_daily_at: None,
            client_cert: ClientCert::None,
            upload_retry_interval: Duration::from_secs(3600),
            ship_template_id: None,
            push_mode: PushModeArg::Safe,
        }
    }
}

/// An HTTP answer: status, JSON body (`Null` if not JSON), raw text and headers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// A string field of the JSON body (empty if absent).
    pub fn str(&self, field: &str) -> String {
        self.json[field].as_str().unwrap_or_default().to_owned()
    }

    /// The `error.code` of an error body.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }
}

/// A running server and everything a test needs to drive and inspect it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub handles: AppHandles,
    pub sim: SimHandle,
    pub sim_config: SimConfig,
    pub data_dir: PathBuf,
    /// The clock of every request, the payments and the reconciler.
    pub clock: Arc<TestClock>,
    /// The NATS log, when the app runs on one (kept alive as long as the app).
    pub nats: Option<NatsLog>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), paylog_api::error::Error>>>,
    _dir: TempDir,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp").field("addr", &self.addr).finish()
    }
}

/// v3 settings for the simulator's demo merchant: its private key and the
/// simulator's WeChat Pay public key written to PEM files beside `data_dir`.
pub fn v3_args(data_dir: &std::path::Path, c: &SimConfig) -> WechatV3Args {
    let v3 = c.v3.as_ref().expect("the simulator has v3 keys");
    let dir = data_dir.with_file_name("v3-keys");
    std::fs::create_dir_all(&dir).expect("key dir");
    let key = dir.join("apiclient_key.pem");
    std::fs::write(&key, paylog_sim::v3::DEMO_MERCHANT_PRIVATE_KEY_PEM).expect("write key");
    let public_key = dir.join("pub_key.pem");
    std::fs::write(&public_key, v3.public_key_pem().expect("pem")).expect("write public key");
    WechatV3Args {
        pay_version: PayVersionArg::V3,
        mch_private_key: Some(key),
        mch_serial: Some(v3.merchant_serial.to_string()),
        apiv3_key: Some(SecretString::from(paylog_sim::v3::DEMO_APIV3_KEY)),
        public_key: Some(public_key),
        public_key_id: Some(v3.public_key_id.to_string()),
        platform_certificates: Vec::new(),
        download_platform_certificates: false,
        v3_notify_url: None,
    }
}

/// Settings as `paylog serve` would parse them, pointing at `sim`.
pub fn serve_args(
    data_dir: PathBuf,
    listen: SocketAddr,
    sim: Option<(&SimHandle, &SimConfig)>,
    config: &TestConfig,
) -> ServeArgs {
    let (client_cert, client_key, client_p12) = match &config.client_cert {
        ClientCert::None => (None, None, None),
        ClientCert::Pem { cert, key } => (Some(cert.clone()), Some(key.clone()), None),
        ClientCert::P12(p12) => (None, None, Some(p12.clone())),
    };
    let wechat = match sim {
        Some((handle, c)) => WechatArgs {
            appid: Some(c.appid.clone()),
            secret: Some(c.app_secret.clone()),
            mch_id: Some(c.mch_id.clone()),
            api_key: (!config.v3_only).then(|| c.api_key.clone()),
            sign_type: "MD5".into(),
            pay_url: Some(handle.base_url().to_owned()),
            api_url: Some(handle.base_url().to_owned()),
            notify_url: Some(format!("http://{listen}/v1/wechat/pay/notify")),
            client_cert,
            client_key,
            client_p12,
            v3: if config.v3_platform_certificates {
                WechatV3Args {
                    public_key: None,
                    public_key_id: None,
                    download_platform_certificates: true,
                    ..v3_args(&data_dir, c)
                }
            } else if config.wechat_pay_v3 || config.v3_only {
                v3_args(&data_dir, c)
            } else {
                WechatV3Args::default()
            },
        },
        None => WechatArgs {
            sign_type: "MD5".into(),
            ..WechatArgs::default()
        },
    };
    ServeArgs {
        store: StoreArgs {
            data_dir,
            // Tests take the same durable path as production.
            durability: DurabilityArg::Sync,
            log: LogSource::default(),
            memory_budget_mib: paylog_api::config::DEFAULT_MEMORY_BUDGET_MIB,
        },
        listen,
        wechat,
        message_push: MessagePushArgs {
            token: Some(SecretString::from(PUSH_TOKEN)),
            aes_key: Some(SecretString::from(PUSH_AES_KEY)),
            mode: config.push_mode,
        },
        admin_token: config.admin_token.clone().map(SecretString::from),
        token_secret: Some(SecretString::from("test-token-secret-0123456789abcdef")),
        payment_timeout: config.payment_timeout,
        reconcile_after: config.reconcile_after,
        reconcile_interval: config.reconcile_interval,
        refund_notify_url: None,
        allow_simulator_on_public_address: false,
        password_hash_threads: None,
        password_hash_queue: paylog_api::services::accounts::password::DEFAULT_HASH_QUEUE_LEN,
        max_open_orders_per_user: config.max_open_orders_per_user,
        header_read_timeout: std::time::Duration::from_secs(10),
        request_timeout: std::time::Duration::from_secs(30),
        max_connections: 1024,
        shutdown_deadline: std::time::Duration::from_secs(10),
        ready_max_lag_events: 1000,
        rate_limit_login_per_minute: 0,
        rate_limit_register_per_minute: 0,
        rate_limit_orders_per_minute: 0,
        trusted_proxies: Vec::new(),
        reconcile_daily_at: config.reconcile_daily_at,
        upload_retry_interval: config.upload_retry_interval,
        settlement_check_after: SETTLEMENT_CHECK_AFTER,
        ship_template_id: config.ship_template_id.clone(),
    }
}

/// The server with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

/// The server with `config`.
pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    spawn(config, None).await
}

/// A log on the tests' NATS cluster: the cluster (shared by the tests running at the
/// same time, stopped when the last one drops it) and this app's own JetStream stream.
#[derive(Debug, Clone)]
pub struct NatsLog {
    pub cluster: Arc<Cluster>,
    pub stream: String,
}

impl NatsLog {
    /// A fresh stream on the shared 3-node cluster.
    pub async fn fresh() -> NatsLog {
        NatsLog {
            cluster: crate::cluster::shared().await,
            stream: format!("T{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// `--store`, `--nats-stream` and `--replicas` for this log.
    pub fn source(&self) -> LogSource {
        LogSource {
            store: Some(format!(
                "nats://{}",
                self.cluster
                    .urls
                    .iter()
                    .map(|u| u.trim_start_matches("nats://"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            nats_stream: self.stream.clone(),
            replicas: 3,
        }
    }
}

/// The server with default test settings, its log on a fresh stream of a 3-node NATS
/// cluster (views in its temp data dir).
pub async fn spawn_app_on_nats() -> TestApp {
    spawn(TestConfig::default(), Some(NatsLog::fresh().await)).await
}

/// Another server on `log` (e.g. [`TestApp::nats`] of a running one): two processes
/// serving one shop, each with its own views and simulator.
pub async fn spawn_app_on(log: NatsLog, config: TestConfig) -> TestApp {
    spawn(config, Some(log)).await
}

async fn spawn(config: TestConfig, nats: Option<NatsLog>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    // One clock for the server and its WeChat: moving time past an order's expiry
    // expires it at both.
    let clock = Arc::new(TestClock::default());
    let sim_clock = Arc::clone(&clock);
    let mut sim_config = SimConfig {
        time_scale: config.sim_time_scale,
        clock: Some(sim::SimClock::new(move || sim_clock.now())),
        ..SimConfig::demo()
    };
    if config.v3_platform_certificates
        && let Some(v3) = sim_config.v3.as_mut()
    {
        v3.platform_certificate =
            Some(paylog_sim::SimPlatformCertificate::demo().expect("the demo certificate"));
    }
    let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sim");
    let sim = sim::start(sim_listener, sim_config.clone())
        .await
        .expect("start simulator");
    start_app(dir, data_dir, sim, sim_config, clock, config, nats).await
}

/// The server on `data_dir` (inside `dir`) talking to `sim`.
async fn start_app(
    dir: TempDir,
    data_dir: PathBuf,
    sim: SimHandle,
    sim_config: SimConfig,
    clock: Arc<TestClock>,
    config: TestConfig,
    nats: Option<NatsLog>,
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let addr = listener.local_addr().expect("app address");
    let mut args = serve_args(data_dir.clone(), addr, Some((&sim, &sim_config)), &config);
    if let Some(log) = &nats {
        args.store.log = log.source();
    }
    let app = paylog_api::app::Application::build_with_clock(args, listener, clock.clone())
        .await
        .expect("build app");
    let handles = app.handles();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        handles,
        sim,
        sim_config,
        data_dir,
        clock,
        nats,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

impl TestApp {
    /// Any request; `body` is sent as JSON when given.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header("authorization", bearer(token));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req.send().await.expect("request sent")).await
    }

    /// An admin POST with an `Idempotency-Key`.
    pub async fn admin_post_with_key(&self, path: &str, key: &str, body: Value) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", bearer(ADMIN_TOKEN))
            .header("idempotency-key", key)
            .json(&body);
        answer(req.send().await.expect("request sent")).await
    }

    /// A raw request with a given content type and body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.header("authorization", bearer(token));
        }
        answer(req.send().await.expect("request sent")).await
    }

    // --- ops ---------------------------------------------------------------------

    pub async fn health(&self) -> Answer {
        self.request(Method::GET, "/healthz", None, None).await
    }

    pub async fn metrics(&self) -> Answer {
        self.request(Method::GET, "/metrics", None, None).await
    }

    pub async fn openapi(&self) -> Answer {
        self.request(Method::GET, "/openapi.json", None, None).await
    }

    // --- auth --------------------------------------------------------------------

    pub async fn wechat_login(&self, code: &str) -> Answer {
        self.request(
            Method::POST,
            "/v1/auth/wechat",
            None,
            Some(json!({ "code": code })),
        )
        .await
    }

    pub async fn register(&self, username: &str, password: &str) -> Answer {
        let body = json!({ "username": username, "password": password });
        self.request(Method::POST, "/v1/register", None, Some(body))
            .await
    }

    pub async fn password_login(&self, username: &str, password: &str) -> Answer {
        let body = json!({ "username": username, "password": password });
        self.request(Method::POST, "/v1/auth/password", None, Some(body))
            .await
    }

    /// Logs in a WeChat user (a fresh single-use code each time) and returns the token.
    pub async fn shopper(&self, name: &str) -> String {
        let code = format!("{name}.{}", uuid::Uuid::now_v7().simple());
        let answer = self.wechat_login(&code).await;
        assert_eq!(answer.status, 200, "login failed: {}", answer.text);
        answer.str("token")
    }

    // --- products ----------------------------------------------------------------

    pub async fn products(&self, query: &str) -> Answer {
        self.request(Method::GET, &format!("/v1/products{query}"), None, None)
            .await
    }

    pub async fn product(&self, id: &str) -> Answer {
        self.request(Method::GET, &format!("/v1/products/{id}"), None, None)
            .await
    }

    pub async fn create_product_as(
        &self,
        admin: Option<&str>,
        name: &str,
        price_fen: u64,
        stock: u64,
    ) -> Answer {
        let body = json!({ "name": name, "price_fen": price_fen, "stock": stock });
        self.request(Method::POST, "/v1/admin/products", admin, Some(body))
            .await
    }

    /// Creates a product as the admin and returns its id.
    pub async fn create_product(&self, name: &str, price_fen: u64, stock: u64) -> String {
        let answer = self
            .create_product_as(Some(ADMIN_TOKEN), name, price_fen, stock)
            .await;
        assert_eq!(answer.status, 201, "create product: {}", answer.text);
        answer.str("product_id")
    }

    /// Adjusts stock by `delta` with a plain reason.
    pub async fn adjust_stock(&self, id: &str, delta: i64) -> Answer {
        self.adjust_stock_with(id, json!({ "delta": delta, "reason": "delivery" }))
            .await
    }

    /// Posts `body` as it is to the stock-adjust endpoint (to test its checks).
    pub async fn adjust_stock_with(&self, id: &str, body: serde_json::Value) -> Answer {
        self.request(
            Method::POST,
            &format!("/v1/admin/products/{id}/stock"),
            Some(ADMIN_TOKEN),
            Some(body),
        )
        .await
    }

    /// The product's live stock.
    pub async fn stock(&self, id: &str) -> u64 {
        self.product(id).await.json["stock"]
            .as_u64()
            .unwrap_or(u64::MAX)
    }

    // --- orders ------------------------------------------------------------------

    pub async fn place_order(
        &self,
        token: &str,
        items: &[(&str, u32)],
        key: Option<&str>,
    ) -> Answer {
        let items: Vec<Value> = items
            .iter()
            .map(|(id, q)| json!({ "product_id": id, "quantity": q }))
            .collect();
        let mut req = self
            .http
            .post(format!("{}/v1/orders", self.base))
            .header("authorization", bearer(token))
            .json(&json!({ "items": items }));
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        answer(req.send().await.expect("request sent")).await
    }

    pub async fn orders(&self, token: &str, query: &str) -> Answer {
        self.request(
            Method::GET,
            &format!("/v1/orders{query}"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn order(&self, token: &str, id: &str) -> Answer {
        self.request(Method::GET, &format!("/v1/orders/{id}"), Some(token), None)
            .await
    }

    pub async fn cancel_order(&self, token: &str, id: &str) -> Answer {
        self.request(
            Method::POST,
            &format!("/v1/orders/{id}/cancel"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn pay(&self, token: &str, id: &str) -> Answer {
        self.request(
            Method::POST,
            &format!("/v1/orders/{id}/pay"),
            Some(token),
            None,
        )
        .await
    }

    pub async fn refund(&self, id: &str, amount_fen: u64, reason: &str) -> Answer {
        let body = json!({ "amount_fen": amount_fen, "reason": reason });
        self.request(
            Method::POST,
            &format!("/v1/admin/orders/{id}/refund"),
            Some(ADMIN_TOKEN),
            Some(body),
        )
        .await
    }

    /// Polls the order until its status is `status` (bounded; panics if it never is).
    pub async fn wait_for_status(&self, token: &str, id: &str, status: &str) -> Answer {
        let mut last = None;
        for _ in 0..500 {
            let answer = self.order(token, id).await;
            if answer.json["status"] == status {
                return answer;
            }
            last = Some(answer);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("order {id} never reached {status}: {last:?}");
    }

    // --- WeChat ------------------------------------------------------------------

    pub async fn pay_notify(&self, xml: &str) -> Answer {
        self.raw(
            Method::POST,
            "/v1/wechat/pay/notify",
            None,
            "text/xml",
            xml.as_bytes().to_vec(),
        )
        .await
    }

    pub async fn refund_notify(&self, xml: &str) -> Answer {
        self.raw(
            Method::POST,
            "/v1/wechat/refund/notify",
            None,
            "text/xml",
            xml.as_bytes().to_vec(),
        )
        .await
    }

    /// The simulated user pays at WeChat; `plan` adds e.g. `"notify": false`,
    /// `"duplicates": 2`, `"wrong_amount": true`.
    pub async fn sim_pay(&self, out_trade_no: &str, plan: Value) -> Answer {
        let mut body = json!({ "out_trade_no": out_trade_no });
        if let (Some(body), Some(plan)) = (body.as_object_mut(), plan.as_object()) {
            body.extend(plan.clone());
        }
        let req = self
            .http
            .post(format!("{}/sim/pay", self.sim.base_url()))
            .json(&body);
        answer(req.send().await.expect("sim reachable")).await
    }

    /// Posts `body` to one of the simulator's control endpoints (`/sim/bill-fault`,
    /// `/sim/refund-outcome`, …); a refusal fails the test.
    pub async fn sim_control(&self, path: &str, body: Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .expect("sim reachable");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    /// The simulator's orders and deliveries.
    pub fn sim_state(&self) -> Value {
        self.sim.state_json()
    }

    /// Waits until every notify delivery the simulator started has finished.
    pub async fn sim_deliveries_done(&self) -> Value {
        for _ in 0..500 {
            let state = self.sim_state();
            let done = state["deliveries"]
                .as_array()
                .is_some_and(|d| d.iter().all(|d| d["finished"] == true));
            if done {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("simulator deliveries never finished: {}", self.sim_state());
    }

    /// The merchant API key (to sign forged or crafted notifies).
    pub fn api_key(&self) -> String {
        self.sim_config.api_key.expose_secret().to_owned()
    }

    // --- the log -----------------------------------------------------------------

    /// Event types of one stream, in order (e.g. `order-<uuid>`).
    pub async fn stream_events(&self, stream_id: &str) -> Vec<String> {
        let events = self
            .handles
            .store
            .read_stream(stream_id, 1, 100_000)
            .await
            .expect("read stream");
        events.into_iter().map(|e| e.event_type).collect()
    }

    /// How many events of `event_type` the order's stream holds.
    pub async fn count_order_events(&self, order_id: &str, event_type: &str) -> usize {
        self.stream_events(&format!("order-{order_id}"))
            .await
            .iter()
            .filter(|t| *t == event_type)
            .count()
    }

    /// The log's head position.
    pub fn log_head(&self) -> u64 {
        self.handles.store.head()
    }

    /// One reconciler pass.
    pub async fn reconcile_once(&self) -> paylog_api::services::payments::ReconcileReport {
        self.handles
            .reconciler
            .run_once()
            .await
            .expect("reconciler run")
    }

    /// One pass of the settlement checker.
    pub async fn settlement_check_once(
        &self,
    ) -> paylog_api::services::settlement_check::CheckReport {
        self.handles
            .settlement_check
            .run_once()
            .await
            .expect("settlement check run")
    }

    /// One pass of the background uploader of shipping information.
    pub async fn upload_once(&self) -> paylog_api::services::uploader::UploadReport {
        self.handles
            .uploader
            .run_once()
            .await
            .expect("uploader run")
    }

    /// Stops the server and starts another one on the same data and the same
    /// simulator with `config` (e.g. switched from WeChat Pay v2 to v3).
    pub async fn restart_with(mut self, config: TestConfig) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = server.await.expect("server task");
            assert!(stopped.is_ok(), "server stopped with {stopped:?}");
        }
        let TestApp {
            sim,
            sim_config,
            data_dir,
            _dir,
            handles,
            http,
            clock,
            nats,
            ..
        } = self;
        // The handles hold the store open; the new server needs its lock.
        drop((handles, http));
        // The simulator keeps the clock it was given: the new server shares it.
        start_app(_dir, data_dir, sim, sim_config, clock, config, nats).await
    }

    /// Stops the server (draining requests, closing the log) and waits for it; returns
    /// the temp dir so that a test can start another server on the same data.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = server.await.expect("server task");
            assert!(stopped.is_ok(), "server stopped with {stopped:?}");
        }
        let sim = self.sim;
        sim.shutdown().await;
        self._dir
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        json,
        text,
        headers,
    }
}
