//! A local WeChat simulator that speaks the real v2 protocol over HTTP.
//!
//! It serves the pay endpoints (`/pay/unifiedorder`, `/pay/orderquery`,
//! `/pay/closeorder`, `/secapi/pay/refund`, `/pay/refundquery`, `/pay/downloadbill`) and login
//! (`/sns/jscode2session`) under WeChat's paths and field names, verifies every
//! request's sign, keeps per-order state and signs everything it answers. A
//! control API under `/sim/` plays the user and the network: see [`control`].
//!
//! It also plays the mini-program's message push ([`push`]): a control call makes
//! it push a signed (optionally encrypted) settlement event to the configured URL.
//!
//! Notifies are delivered on WeChat's retry schedule scaled by
//! [`SimConfig::time_scale`] until the receiver answers `SUCCESS`.

pub mod bill;
mod control;
mod deliver;
mod login;
pub mod notify;
mod pay;
pub mod push;
mod refund;
pub mod shipping;
mod state;
pub mod v3;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use paylog_core::wxpay::{ApiKey, MAX_BODY_BYTES};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use state::{
    Attempt, Delivery, DeliveryPlan, NotifyKind, SimApi, SimOrder, SimPayment, SimRefund, SimState,
    TradeState,
};
pub use v3::{SimPlatformCertificate, SimV3Config};

/// Who the simulated merchant is and how fast simulated time runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub appid: String,
    pub mch_id: String,
    pub api_key: SecretString,
    pub app_secret: SecretString,
    /// Multiplies WeChat's notify retry delays (0.001 turns 15 s into 15 ms).
    pub time_scale: f64,
    /// Sign answers and notifies with this key instead of `api_key`: a
    /// misbehaving (or impostor) WeChat, to prove that clients refuse it.
    pub response_key: Option<SecretString>,
    /// The API v3 side: WeChat Pay key pair and id, APIv3 key, the merchant's
    /// certificate serial and public key. `None` (only if the committed demo keys
    /// failed to load) makes every v3 call answer 500 `SYSTEM_ERROR`.
    pub v3: Option<SimV3Config>,
    /// "Now" at this WeChat (order expiry, payment and refund times); the machine's
    /// clock when `None`. Tests hand it the server's clock, so moving time past an
    /// order's `time_expire` expires it here too.
    pub clock: Option<SimClock>,
}

/// The simulator's source of "now" (see [`SimConfig::clock`]).
#[derive(Clone)]
pub struct SimClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl SimClock {
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimClock")
    }
}

impl SimConfig {
    /// v3 uses the committed TEST-ONLY demo keys ([`SimV3Config::demo`]); replace
    /// `v3` to use others.
    pub fn new(appid: &str, mch_id: &str, api_key: SecretString, app_secret: SecretString) -> Self {
        Self {
            appid: appid.into(),
            mch_id: mch_id.into(),
            api_key,
            app_secret,
            time_scale: 1.0,
            response_key: None,
            clock: None,
            v3: SimV3Config::demo()
                .inspect_err(|e| tracing::error!(error = %e, "the demo v3 keys do not load"))
                .ok(),
        }
    }

    /// Fixed demo credentials, for `paylog serve` without WeChat settings.
    pub fn demo() -> Self {
        Self::new(
            "wx0000000000000sim",
            "1900000109",
            SecretString::from("paylogsimulatorkey00000000000000"),
            SecretString::from("paylogsimulatorsecret"),
        )
    }
}

/// Shared simulator state behind every handler.
#[derive(Debug)]
pub(crate) struct Sim {
    config: SimConfig,
    /// Checks requests (MD5 unless the request names its sign_type).
    request_key: ApiKey,
    /// Signs answers, notifies and refund `req_info`.
    response_key: ApiKey,
    state: Mutex<SimState>,
    /// The mini-program server API: access token and order shipping.
    shipping: Mutex<shipping::ShippingState>,
    /// The message push: the console's settings and what was pushed.
    push: Mutex<push::PushState>,
    http: reqwest::Client,
    shutdown: watch::Receiver<bool>,
}

impl Sim {
    /// The state lock. A panic while holding it would be a simulator bug; the
    /// data is still consistent enough to serve, so poisoning is ignored.
    fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// "Now" at this WeChat.
    fn now(&self) -> DateTime<Utc> {
        self.config
            .clock
            .as_ref()
            .map_or_else(Utc::now, SimClock::now)
    }

    /// The shipping lock; poisoning ignored as for [`Sim::state`]. Never taken
    /// while holding the state lock's guard across it.
    fn shipping(&self) -> MutexGuard<'_, shipping::ShippingState> {
        self.shipping.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The push lock; poisoning ignored as for [`Sim::state`]. Never held across
    /// another lock.
    fn push(&self) -> MutexGuard<'_, push::PushState> {
        self.push.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn scaled(&self, secs: u64) -> Duration {
        Duration::from_secs_f64(secs as f64 * self.config.time_scale)
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    base_url: String,
    sim: Arc<Sim>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated merchant's credentials: a client configured with them talks to
    /// this simulator as a merchant talks to WeChat.
    pub fn config(&self) -> &SimConfig {
        &self.sim.config
    }

    /// A JSON snapshot of orders and deliveries (the same as `GET /sim/state`).
    pub fn state_json(&self) -> serde_json::Value {
        let mut state = self.sim.state();
        state.expire(self.sim.now());
        serde_json::to_value(&*state).unwrap_or_default()
    }

    /// The shipping service's state (tokens handed out, shipments, refusals).
    pub fn shipping_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.sim.shipping()).unwrap_or_default()
    }

    /// Stops serving and stops pending notify deliveries.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts the simulator on `listener` (bind port 0 in tests).
pub async fn start(listener: TcpListener, config: SimConfig) -> std::io::Result<SimHandle> {
    if !(config.time_scale.is_finite() && config.time_scale >= 0.0) {
        return Err(std::io::Error::other(
            "time_scale must be a finite number ≥ 0",
        ));
    }
    let addr = listener.local_addr()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    let (tx, rx) = watch::channel(false);
    let response_key = config
        .response_key
        .as_ref()
        .unwrap_or(&config.api_key)
        .expose_secret()
        .to_owned();
    let sim = Arc::new(Sim {
        request_key: ApiKey::new(config.api_key.expose_secret()),
        response_key: ApiKey::new(response_key),
        config,
        state: Mutex::new(SimState::default()),
        shipping: Mutex::default(),
        push: Mutex::default(),
        http,
        shutdown: rx.clone(),
    });
    let app = router(sim.clone());
    let mut stop = rx;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "WeChat simulator stopped");
        }
    });
    tracing::info!(%addr, "WeChat simulator listening");
    Ok(SimHandle {
        addr,
        base_url: format!("http://{addr}"),
        sim,
        shutdown: tx,
        task,
    })
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/pay/unifiedorder", post(pay::unified_order))
        .route("/pay/orderquery", post(pay::order_query))
        .route("/pay/closeorder", post(pay::close_order))
        .route("/secapi/pay/refund", post(refund::refund))
        .route("/pay/refundquery", post(refund::refund_query))
        .route("/pay/downloadbill", post(bill::download_bill))
        .route("/sns/jscode2session", get(login::jscode2session))
        .route("/cgi-bin/stable_token", post(shipping::stable_token))
        .route(
            "/wxa/sec/order/upload_shipping_info",
            post(shipping::upload_shipping_info),
        )
        .route("/wxa/sec/order/get_order", post(shipping::get_order))
        .route("/cgi-bin/token", get(shipping::token))
        .route(
            "/wxa/sec/order/is_trade_managed",
            post(shipping::is_trade_managed),
        )
        .route(
            "/cgi-bin/express/delivery/open_msg/get_delivery_list",
            post(shipping::get_delivery_list),
        )
        .route(
            "/cgi-bin/message/subscribe/send",
            post(shipping::send_subscribe_message),
        )
        .route("/sim/subscribe-fault", post(shipping::subscribe_fault))
        .route("/sim/expire-token", post(shipping::expire_token))
        .route(
            "/sim/stable-token-fault",
            post(shipping::stable_token_fault),
        )
        .route("/sim/shipping-fault", post(shipping::shipping_fault))
        .route(
            "/sim/shipping-lost-answer",
            post(shipping::shipping_lost_answer),
        )
        .route("/sim/confirm-receipt", post(shipping::confirm_receipt))
        .route("/sim/settle", post(shipping::settle))
        .route("/sim/push/config", post(push::configure))
        .route("/sim/push/settlement", post(push::settlement))
        .route("/sim/pay", post(control::pay))
        .route("/sim/pay-again", post(control::pay_again))
        .route("/sim/refuse-code", post(control::refuse_code))
        .route("/sim/refund-faults", post(control::refund_faults))
        .route("/sim/refund-outcome", post(control::refund_outcome))
        .route("/sim/state", get(control::state))
        .route("/sim/bill-fault", post(bill::add_fault))
        .merge(v3::routes())
        // A little over the parser's own limit, so it is the parser that says why.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES * 2))
        .with_state(sim)
}
