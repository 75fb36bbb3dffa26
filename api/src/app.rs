//! [`Application`]: the composition root. It builds the whole server from
//! [`ServeArgs`] on a bound listener: the store, the views and their projector, the
//! engine, the WeChat client (or an in-process simulator when WeChat is not
//! configured), the services, the reconciler, the shipping uploader, the settlement checker and the router.
//!
//! `paylog serve` and the tests use the same code: build on a listener (port 0 in
//! tests), read the handles they need, run until a shutdown future resolves. The
//! accept loop is our own (hyper's HTTP/1 builder): a header-read timeout, a
//! connection limit, a per-request timeout, and a graceful shutdown that drains
//! in-flight requests for at most the shutdown deadline, then drops what remains.
//! Then it stops the reconciler, the uploader, the projector and the store's writer,
//! and the simulator if one was started.
//!
//! Data layout: the log at `<data_dir>/log` (or on a NATS JetStream cluster with
//! `--store nats://…`, where several processes may serve the same log), the views at
//! `<data_dir>/views` (always local: each process follows the log into its own), the
//! daily bill's reconciliation reports at `<data_dir>/reconciliation/`.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use paylog_projections::{Projector, ProjectorHandle, Views};
use paylog_store::{Durability, EventStore, RocksStore, StoreLocation, StoreOptions};
use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use paylog_core::wxpay::SignType;
use paylog_engine::{Clock, Engine, SystemClock};
use paylog_sim::{SimConfig, SimHandle};
use paylog_wechat::{ClientIdentity, WechatClient, WechatConfig, WechatV3Client, WechatV3Config};

use crate::config::{
    DurabilityArg, PayVersionArg, ServeArgs, WechatArgs, absolute_http_url,
    derive_refund_notify_url,
};
use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::rate_limit::{self, RateLimitSettings, RateLimits};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::services::Settle;
use crate::services::accounts::Accounts;
use crate::services::accounts::password::HashPool;
use crate::services::accounts::token::TokenKeys;
use crate::services::audit::Audit;
use crate::services::catalog::Catalog;
use crate::services::health::Health;
use crate::services::message_push::MessagePush;
use crate::services::ordering::Ordering;
use crate::services::payments::{Payments, Reconciler};
use crate::services::reconciliation::BillReconciliation;
use crate::services::settlement_check::SettlementChecker;
use crate::services::shipping::Shipping;
use crate::services::uploader::Uploader;

/// Where the daily bill's reconciliation reports are kept, under the data dir.
pub const RECONCILIATION_DIR: &str = "reconciliation";

/// A built server, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Arc<dyn EventStore>,
    projector: ProjectorHandle,
    handles: AppHandles,
    sim: Option<SimHandle>,
    edge: EdgeLimits,
    /// The v3 client whose platform certificates are kept fresh
    /// (`PAYLOG_WECHAT_DOWNLOAD_PLATFORM_CERTIFICATES`).
    certificates: Option<WechatV3Client>,
}

/// How often the downloaded platform certificates are looked at.
const CERTIFICATE_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// Downloaded again once none stays valid this much longer: WeChat publishes the
/// next certificate well before the current one expires.
const CERTIFICATE_REFRESH_MARGIN: chrono::Duration = chrono::Duration::days(7);

/// Keeps the downloaded platform certificates fresh until `stop`; a failed
/// download is logged and tried again at the next check (the old ones stay).
fn spawn_certificate_refresh(
    client: WechatV3Client,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if client.certificates_due(CERTIFICATE_REFRESH_MARGIN) {
                match client.refresh_certificates().await {
                    Ok(n) => tracing::info!(certificates = n, "platform certificates refreshed"),
                    Err(e) => tracing::error!(
                        alert = "platform_certificates_refresh_failed",
                        error = %e,
                        "could not refresh the WeChat Pay platform certificates; retrying later"
                    ),
                }
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(CERTIFICATE_CHECK_INTERVAL) => {}
            }
        }
    })
}

/// The limits of the accept loop (see [`Application::run_until_stopped`]).
#[derive(Debug, Clone, Copy)]
struct EdgeLimits {
    header_read_timeout: Duration,
    max_connections: usize,
    shutdown_deadline: Duration,
}

/// What tests and the demo may hold on to while the server runs.
#[derive(Clone)]
pub struct AppHandles {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The event log (to check state through the log, not only HTTP).
    pub store: Arc<dyn EventStore>,
    pub views: Views,
    pub reconciler: Reconciler,
    /// The background uploader of shipping information (tests run it themselves).
    pub uploader: Uploader,
    /// The settlement checker (tests run it themselves).
    pub settlement_check: SettlementChecker,
    /// The daily bill's reconciliation (tests run its daily step themselves).
    pub bill: BillReconciliation,
    /// The in-process simulator's base URL, when WeChat was not configured.
    pub sim_url: Option<String>,
}

impl std::fmt::Debug for AppHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppHandles")
            .field("addr", &self.addr)
            .field("head", &self.store.head())
            .field("sim_url", &self.sim_url)
            .finish()
    }
}

impl Application {
    /// Opens the store (under `args.store.data_dir`, or the NATS stream `--store`
    /// names) and the views (under the data dir), starts the projector
    /// (and the simulator when WeChat is not configured) and builds the router.
    pub async fn build(args: ServeArgs, listener: TcpListener) -> Result<Self, Error> {
        Self::build_with_clock(args, listener, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with "now" taken from `clock` by every request, the
    /// payments and the reconciler (tests move time instead of sleeping).
    pub async fn build_with_clock(
        args: ServeArgs,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Startup(format!("listener address: {e}")))?;
        args.check_secrets().map_err(Error::Startup)?;
        check_simulator_address(&args, addr)?;
        sign_policy(&args.wechat)?;
        // The message push settings are checked before anything is opened too (the
        // appid they are bound to is known once the WeChat configuration is).
        args.message_push.settings("").map_err(Error::Startup)?;
        // Settings that name files or URLs are checked before anything is opened.
        let client_identity = client_identity(&args.wechat)?;
        require_client_identity(&args.wechat, client_identity.is_some())?;
        let refund_notify_url = refund_notify_url(&args)?;
        // Every v3 credential is checked before anything is opened.
        let v3_merchant = if args.wechat.is_unconfigured() {
            None
        } else {
            let w = &args.wechat;
            w.v3.merchant(w.appid.as_deref(), w.mch_id.as_deref(), w.api_key.as_ref())
                .map_err(Error::Startup)?
        };
        args.store.configure_memory();
        let data_dir = args.store.data_dir.clone();
        let durability = match args.store.durability {
            DurabilityArg::Sync => Durability::Sync,
            DurabilityArg::Buffered => Durability::Buffered,
        };
        let location = args.store.log.location(&data_dir).map_err(Error::Startup)?;
        let (rocks, views) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| Error::Startup(format!("creating {}: {e}", data_dir.display())))?;
            let rocks = match location {
                StoreLocation::Rocks(path) => {
                    let options = StoreOptions {
                        durability,
                        ..StoreOptions::default()
                    };
                    Ok(Arc::new(RocksStore::open(path, options)?))
                }
                other => Err(other),
            };
            let views = Views::open(data_dir.join("views"))?;
            Ok::<_, Error>((rocks, views))
        })
        .await
        .map_err(|e| Error::Startup(format!("opening the data dir: {e}")))??;
        // The views stay in the data dir whatever the log's backend: on a shared NATS
        // log each process keeps its own, following the log by subscription.
        let store: Arc<dyn EventStore> = match rocks {
            Ok(rocks) => rocks,
            Err(location) => paylog_store::open(location)
                .await
                .map_err(|e| Error::Startup(format!("opening the event log: {e}")))?,
        };
        let log: Arc<dyn EventStore> = Arc::clone(&store);
        rebuild_views_ahead_of_the_log(&*log, &views).await?;
        let projector = Projector::spawn(Arc::clone(&log), views.clone());

        let (mut wechat_config, sim) = wechat_config(&args, addr).await?;
        wechat_config.client_identity = client_identity;
        if let Some(url) = refund_notify_url {
            wechat_config.refund_notify_url = Some(url);
        }
        let wechat_v3 = wechat_v3_client(
            &args,
            v3_merchant,
            &wechat_config,
            sim.as_ref(),
            Arc::clone(&clock),
        )?;
        let certificates = match &wechat_v3 {
            Some(v3) if args.wechat.v3.download_platform_certificates => {
                let n = v3.refresh_certificates().await.map_err(|e| {
                    Error::Startup(format!(
                        "PAYLOG_WECHAT_DOWNLOAD_PLATFORM_CERTIFICATES: GET /v3/certificates failed: {e}"
                    ))
                })?;
                tracing::info!(
                    certificates = n,
                    "WeChat Pay platform certificates downloaded"
                );
                Some(v3.clone())
            }
            _ => None,
        };
        let push_settings = args
            .message_push
            .settings(&wechat_config.appid)
            .map_err(Error::Startup)?;
        let wechat = WechatClient::new(wechat_config)
            .map_err(|e| Error::Startup(format!("WeChat client: {e}")))?;
        let token_secret = args.token_secret.clone().unwrap_or_else(|| {
            tracing::warn!("no PAYLOG_TOKEN_SECRET: tokens will not survive a restart");
            SecretString::from(random_string(48))
        });
        let metrics = Arc::new(Metrics::new());
        let engine = Engine::new(Arc::clone(&log));
        let settle = Settle::new(views.clone(), Arc::clone(&metrics));
        let mut payments = Payments::new(
            engine.clone(),
            wechat.clone(),
            Arc::clone(&metrics),
            Arc::clone(&clock),
        );
        if let Some(v3) = wechat_v3 {
            payments = payments.with_v3(v3, args.wechat.v3.pay_version.api());
        }
        let reconciler = Reconciler::new(
            payments.clone(),
            views.clone(),
            args.reconcile_after,
            args.reconcile_interval,
        );
        let bill = BillReconciliation::new(
            Arc::clone(&log),
            payments.clone(),
            Arc::clone(&clock),
            Some(args.store.data_dir.join(RECONCILIATION_DIR)),
            args.reconcile_daily_at,
        );
        if let Some(at) = args.reconcile_daily_at {
            tracing::info!(%at, "the daily bill is reconciled every day at this Beijing time");
        }
        if args.admin_token.is_none() {
            tracing::info!("no PAYLOG_ADMIN_TOKEN: the admin API is disabled");
        }
        let shipping = Shipping::new(
            engine.clone(),
            views.clone(),
            wechat.clone(),
            settle.clone(),
            Arc::clone(&clock),
        )
        .with_ship_template(
            args.ship_template_id
                .as_ref()
                .map(|t| t.as_str().to_owned()),
        );
        let uploader = Uploader::new(
            shipping.clone(),
            views.clone(),
            Arc::clone(&clock),
            args.upload_retry_interval,
        );
        let settlement_check = SettlementChecker::new(
            shipping.clone(),
            views.clone(),
            Arc::clone(&clock),
            args.settlement_check_after,
        );
        let message_push = MessagePush::new(
            push_settings,
            engine.clone(),
            shipping.clone(),
            settle.clone(),
            Arc::clone(&metrics),
            Arc::clone(&clock),
        );
        let tokens = Arc::new(TokenKeys::new(&token_secret));
        let state = AppState {
            accounts: Accounts::new(
                engine.clone(),
                wechat,
                tokens,
                settle.clone(),
                HashPool::new(
                    args.password_hash_threads.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                    args.password_hash_queue,
                )?,
            ),
            catalog: Catalog::new(engine.clone(), views.clone(), settle.clone()),
            ordering: Ordering::new(
                engine,
                views.clone(),
                payments.clone(),
                settle,
                args.payment_timeout,
                args.max_open_orders_per_user,
            )?,
            payments,
            shipping,
            message_push,
            bill: bill.clone(),
            audit: Audit::new(Arc::clone(&log), views.clone()),
            // Built only after the WeChat client was: its configuration is loaded.
            health: Health::new(
                Arc::clone(&store),
                views.clone(),
                projector.status(),
                true,
                args.ready_max_lag_events,
            )
            .with_jobs(vec![
                reconciler.status(),
                uploader.status(),
                settlement_check.status(),
            ]),
            admin_token: args.admin_token.clone().map(Arc::new),
            metrics,
            clock,
        };
        let handles = AppHandles {
            addr,
            store: log,
            views,
            reconciler,
            uploader,
            settlement_check,
            bill,
            sim_url: sim.as_ref().map(|s| s.base_url().to_owned()),
        };
        let edge = EdgeLimits {
            header_read_timeout: args.header_read_timeout,
            max_connections: args.max_connections.max(1),
            shutdown_deadline: args.shutdown_deadline,
        };
        Ok(Self {
            listener,
            router: with_request_timeout(
                http::app(state).layer(axum::middleware::from_fn_with_state(
                    RateLimits::new(&RateLimitSettings {
                        login_per_minute: NonZeroU32::new(args.rate_limit_login_per_minute),
                        register_per_minute: NonZeroU32::new(args.rate_limit_register_per_minute),
                        orders_per_minute: NonZeroU32::new(args.rate_limit_orders_per_minute),
                        trusted_proxies: args.trusted_proxies.clone(),
                    }),
                    rate_limit::limit,
                )),
                args.request_timeout,
            ),
            store,
            projector,
            handles,
            sim,
            edge,
            certificates,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.handles.addr
    }

    /// The router with all its layers, to drive without a socket (`oneshot` tests of
    /// HTTP shapes).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    pub fn handles(&self) -> AppHandles {
        self.handles.clone()
    }

    /// Serves until `shutdown` resolves, then drains requests (for at most the
    /// shutdown deadline, after which remaining connections are dropped) and stops
    /// everything.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = watch::channel(false);
        let daily_bill = self.handles.bill.clone().spawn_daily(stop_rx.clone());
        let certificates = self
            .certificates
            .clone()
            .map(|c| spawn_certificate_refresh(c, stop_rx.clone()));
        let uploader = self.handles.uploader.clone().spawn(stop_rx.clone());
        let settlement_check = self.handles.settlement_check.clone().spawn(stop_rx.clone());
        let reconciler = self.handles.reconciler.clone().spawn(stop_rx);
        tracing::info!(addr = %self.handles.addr, "paylog API listening");
        serve(self.listener, self.router, self.edge, shutdown).await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        let _ = reconciler.await;
        let _ = uploader.await;
        let _ = settlement_check.await;
        if let Some(daily_bill) = daily_bill {
            let _ = daily_bill.await;
        }
        if let Some(certificates) = certificates {
            let _ = certificates.await;
        }
        self.projector.shutdown().await;
        self.store.close().await;
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
        Ok(())
    }
}

/// Answers a request that takes longer than `timeout` with 503 `timeout` (the JSON
/// error); the handler's future is dropped.
fn with_request_timeout(router: Router, timeout: Duration) -> Router {
    router.layer(
        tower::ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    "the request took too long; it may be retried",
                )
            }))
            .layer(tower::timeout::TimeoutLayer::new(timeout)),
    )
}

/// The accept loop: HTTP/1 connections with a header-read timeout, at most
/// `max_connections` at once (one more is closed at once), each request seeing the
/// peer address as `ConnectInfo`. When `shutdown` resolves it stops accepting, lets
/// open connections finish for the shutdown deadline, then drops the rest.
async fn serve<F>(listener: TcpListener, router: Router, edge: EdgeLimits, shutdown: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout);
    let permits = Arc::new(Semaphore::new(edge.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    tracing::warn!(%peer, limit = edge.max_connections, "connection limit reached; closing a new connection");
                    drop(stream);
                    continue;
                };
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request)
                });
                let connection = http.serve_connection(TokioIo::new(stream), service);
                let watched = graceful.watch(connection);
                connections.spawn(async move {
                    let _ = watched.await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(edge.shutdown_deadline) => {
            tracing::warn!(
                remaining = connections.len(),
                "shutdown deadline passed; dropping the remaining connections"
            );
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// How long the accept loop pauses after a failed `accept`.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Views whose checkpoint is past the log's head were built from a log that is not
/// this one (a restored backup, a truncated or replaced log): serving them would be
/// silently wrong, so they are rebuilt from this log before anything is served.
async fn rebuild_views_ahead_of_the_log(log: &dyn EventStore, views: &Views) -> Result<(), Error> {
    let (views_position, log_head) = (views.position(), log.head());
    if views_position <= log_head {
        return Ok(());
    }
    tracing::warn!(
        views_position,
        log_head,
        "the views are ahead of the event log (a restored or truncated log): rebuilding them"
    );
    let stats = paylog_projections::rebuild(log, views, |_| {})
        .await
        .map_err(|e| Error::Startup(format!("rebuilding views ahead of the log: {e}")))?;
    tracing::info!(events = stats.events, "views rebuilt from the log");
    Ok(())
}

/// `PAYLOG_WECHAT_SIGN_TYPE`: the sign type of requests, and whether notifies may be
/// signed with either algorithm. `either` (the migration between MD5 and HMAC-SHA256)
/// signs requests with MD5, WeChat's default, and accepts notifies signed either way.
pub(crate) fn sign_policy(w: &WechatArgs) -> Result<(SignType, bool), Error> {
    if w.sign_type.eq_ignore_ascii_case("either") {
        return Ok((SignType::Md5, true));
    }
    let sign_type = w.sign_type.parse().map_err(|e| {
        Error::Startup(format!(
            "PAYLOG_WECHAT_SIGN_TYPE: {e} (use MD5, HMAC-SHA256 or either)"
        ))
    })?;
    Ok((sign_type, false))
}

/// Simulator mode signs with a public, fixed key: anyone who reaches the notify
/// endpoint can mark orders paid. Right on a developer's laptop, wrong anywhere else,
/// so a non-loopback address needs `--allow-simulator-on-public-address`; a loud
/// warning is logged either way.
fn check_simulator_address(args: &ServeArgs, addr: SocketAddr) -> Result<(), Error> {
    if !args.wechat.is_unconfigured() {
        return Ok(());
    }
    tracing::warn!(
        %addr,
        "SIMULATOR MODE: no WeChat settings, payments go to the built-in simulator whose key \
         is public; anyone who can reach this server's notify endpoint can mark orders paid"
    );
    if addr.ip().is_loopback() || args.allow_simulator_on_public_address {
        return Ok(());
    }
    Err(Error::Startup(format!(
        "simulator mode (no WeChat settings) refuses to listen on non-loopback address {addr}: \
         the simulator's key is public; listen on 127.0.0.1, configure WeChat, or pass \
         --allow-simulator-on-public-address"
    )))
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A client configuration that talks to `sim` as a merchant talks to WeChat.
pub fn sim_client_config(sim: &SimHandle, notify_url: &str) -> WechatConfig {
    let c = sim.config();
    WechatConfig::new(
        &c.appid,
        &c.mch_id,
        c.api_key.clone(),
        c.app_secret.clone(),
        notify_url,
    )
    .with_base_url(sim.base_url())
}

/// The merchant's client certificate from `PAYLOG_WECHAT_CLIENT_P12` or the pair
/// `PAYLOG_WECHAT_CLIENT_CERT` + `PAYLOG_WECHAT_CLIENT_KEY`; `None` when none is set.
/// The P12's password is the merchant id, as WeChat issues it. Errors name the
/// setting and the file, never anything read from it.
fn client_identity(w: &WechatArgs) -> Result<Option<ClientIdentity>, Error> {
    const P12: &str = "PAYLOG_WECHAT_CLIENT_P12";
    const CERT: &str = "PAYLOG_WECHAT_CLIENT_CERT";
    const KEY: &str = "PAYLOG_WECHAT_CLIENT_KEY";
    let read = |name: &str, path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| Error::Startup(format!("{name}: cannot read {}: {e}", path.display())))
    };
    let text = |name: &str, path: &std::path::Path| {
        String::from_utf8(read(name, path)?).map_err(|_| {
            Error::Startup(format!("{name}: {} is not a PEM text file", path.display()))
        })
    };
    match (&w.client_p12, &w.client_cert, &w.client_key) {
        (None, None, None) => Ok(None),
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::Startup(format!(
            "{P12} and {CERT}/{KEY} are both set; set one form of the client certificate"
        ))),
        (Some(path), None, None) => {
            let Some(mch_id) = &w.mch_id else {
                return Err(Error::Startup(format!(
                    "{P12} needs PAYLOG_WECHAT_MCH_ID: it is the file's password"
                )));
            };
            let der = read(P12, path)?;
            let identity = ClientIdentity::from_pkcs12(&der, &SecretString::from(mch_id.clone()))
                .map_err(|e| Error::Startup(format!("{P12} {}: {e}", path.display())))?;
            Ok(Some(identity))
        }
        (None, Some(_), None) => Err(Error::Startup(format!("{CERT} is set without {KEY}"))),
        (None, None, Some(_)) => Err(Error::Startup(format!("{KEY} is set without {CERT}"))),
        (None, Some(cert), Some(key)) => {
            let cert_pem = text(CERT, cert)?;
            let key_pem = SecretString::from(text(KEY, key)?);
            let identity = ClientIdentity::from_pem_pair(&cert_pem, &key_pem).map_err(|e| {
                Error::Startup(format!(
                    "{CERT} {} / {KEY} {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            Ok(Some(identity))
        }
    }
}

/// WeChat Pay itself refuses refunds without the client certificate, so a server
/// pointed at it without one refuses to start; anywhere else (the simulator, a test
/// double) the certificate is optional and its absence is said once.
fn require_client_identity(w: &WechatArgs, has_identity: bool) -> Result<(), Error> {
    // A v3-only shop (no v2 API key) never calls secapi/pay/refund: v3 refunds are
    // authenticated by the request signature, not by a client certificate.
    let refunds_on_v2 = w.v3.pay_version == PayVersionArg::V2 || w.api_key.is_some();
    if has_identity || !refunds_on_v2 {
        return Ok(());
    }
    // Simulator mode talks to the in-process simulator; configured, the default is
    // WeChat Pay itself.
    let pay_url = match (&w.pay_url, w.is_unconfigured()) {
        (_, true) => "the built-in simulator",
        (Some(url), false) => url.as_str(),
        (None, false) => paylog_wechat::DEFAULT_PAY_URL,
    };
    if !w.is_unconfigured() && paylog_wechat::is_wechat_pay_endpoint(pay_url) {
        return Err(Error::Startup(format!(
            "WeChat Pay at {pay_url} needs the merchant's client certificate for refunds: set \
             PAYLOG_WECHAT_CLIENT_P12, or PAYLOG_WECHAT_CLIENT_CERT and PAYLOG_WECHAT_CLIENT_KEY"
        )));
    }
    tracing::info!(
        pay_url,
        "no client certificate: refunds go out without one (only WeChat Pay itself asks for it)"
    );
    Ok(())
}

/// `PAYLOG_REFUND_NOTIFY_URL` when set (checked), else one derived from
/// `PAYLOG_NOTIFY_URL` when that is set ([`derive_refund_notify_url`]); `None` leaves
/// it to [`wechat_config`] (simulator mode derives it from its own notify URL).
fn refund_notify_url(args: &ServeArgs) -> Result<Option<String>, Error> {
    if let Some(url) = &args.refund_notify_url {
        absolute_http_url(url)
            .map_err(|e| Error::Startup(format!("PAYLOG_REFUND_NOTIFY_URL: {e}")))?;
        return Ok(Some(url.trim().to_owned()));
    }
    let Some(notify_url) = &args.wechat.notify_url else {
        return Ok(None);
    };
    let derived = derive_refund_notify_url(notify_url)
        .map_err(|e| Error::Startup(format!("PAYLOG_NOTIFY_URL: {e}")))?;
    tracing::info!(refund_notify_url = %derived, "refund notify URL derived from PAYLOG_NOTIFY_URL");
    Ok(Some(derived))
}

/// The WeChat client's configuration; without any WeChat settings, a simulator
/// started in-process (on 127.0.0.1, port 0) and this server's own notify URLs.
async fn wechat_config(
    args: &ServeArgs,
    addr: SocketAddr,
) -> Result<(WechatConfig, Option<SimHandle>), Error> {
    let w = &args.wechat;
    let (sign_type, accept_either_sign_type) = sign_policy(w)?;
    let (mut config, sim) = if w.is_unconfigured() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Error::Startup(format!("binding the simulator: {e}")))?;
        let sim = paylog_sim::start(listener, SimConfig::demo())
            .await
            .map_err(|e| Error::Startup(format!("starting the simulator: {e}")))?;
        let host = if addr.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        } else {
            addr
        };
        let notify_url = w
            .notify_url
            .clone()
            .unwrap_or_else(|| format!("http://{host}/v1/wechat/pay/notify"));
        tracing::warn!(
            simulator = sim.base_url(),
            "no WeChat configuration: using the built-in WeChat Pay simulator (no real money moves)"
        );
        (sim_client_config(&sim, &notify_url), Some(sim))
    } else {
        // On v3 the v2 key is optional: without it only orders prepaid on v2
        // (which need it for queries and refunds) cannot be served.
        let v3_only = w.v3.pay_version == PayVersionArg::V3;
        let api_key = w.api_key.clone().or_else(|| {
            v3_only.then(|| {
                tracing::info!("no PAYLOG_WECHAT_API_KEY: WeChat Pay v2 calls are disabled");
                // Known to nobody: a v2 call fails at WeChat with a sign error.
                SecretString::from(random_string(32))
            })
        });
        let missing: Vec<&str> = [
            ("PAYLOG_WECHAT_APPID", w.appid.is_none()),
            ("PAYLOG_WECHAT_MCH_ID", w.mch_id.is_none()),
            ("PAYLOG_WECHAT_API_KEY", api_key.is_none()),
            ("PAYLOG_WECHAT_SECRET", w.secret.is_none()),
            ("PAYLOG_NOTIFY_URL", w.notify_url.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        let (Some(appid), Some(mch_id), Some(key), Some(secret), Some(notify_url)) =
            (&w.appid, &w.mch_id, &api_key, &w.secret, &w.notify_url)
        else {
            return Err(Error::Startup(format!(
                "incomplete WeChat configuration, missing {}",
                missing.join(", ")
            )));
        };
        let mut config = WechatConfig::new(
            appid.clone(),
            mch_id.clone(),
            key.clone(),
            secret.clone(),
            notify_url.clone(),
        );
        if let Some(url) = &w.pay_url {
            config.pay_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(url) = &w.api_url {
            config.api_url = url.trim_end_matches('/').to_owned();
        }
        (config, None)
    };
    config.sign_type = sign_type;
    config.accept_either_sign_type = accept_either_sign_type;
    config.refund_notify_url = derive_refund_notify_url(&config.notify_url).ok();
    Ok((config, sim))
}

/// The v3 client, when v3 is selected or configured (`merchant`, checked at
/// the start of start-up); in simulator mode, always, with the simulator's demo
/// merchant. It shares the v2 client's base URL and notify URLs (`…/v3`).
fn wechat_v3_client(
    args: &ServeArgs,
    merchant: Option<paylog_core::wxpay_v3::MerchantV3>,
    v2: &WechatConfig,
    sim: Option<&SimHandle>,
    clock: Arc<dyn Clock>,
) -> Result<Option<WechatV3Client>, Error> {
    let w = &args.wechat;
    let merchant = match sim {
        Some(sim) => Some(
            paylog_sim::v3::demo_merchant(sim.config())
                .map_err(|e| Error::Startup(format!("the simulator's v3 merchant: {e}")))?,
        ),
        None => merchant,
    };
    let Some(merchant) = merchant else {
        return Ok(None);
    };
    let notify_url =
        w.v3.v3_notify_url
            .clone()
            .unwrap_or_else(|| format!("{}/v3", v2.notify_url));
    let mut config = WechatV3Config::new(merchant, notify_url);
    config.pay_url = v2.pay_url.clone();
    config.refund_notify_url = v2.refund_notify_url.as_ref().map(|u| format!("{u}/v3"));
    let client = WechatV3Client::with_clock(config, Arc::new(move || clock.now()))
        .map_err(|e| Error::Startup(format!("WeChat Pay v3 client: {e}")))?;
    Ok(Some(client))
}
