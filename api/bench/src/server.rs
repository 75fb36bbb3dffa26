//! The servers under load: the real paylog server in-process on a temp dir, and a
//! bare axum JSON echo beside it as the ceiling of what HTTP alone allows.
//!
//! Both run on their own tokio runtime (two workers, as `paylog serve` has on this
//! machine), apart from the load generator's runtime, so that the two sides are
//! scheduled like two processes sharing the cores, not like tasks of one pool.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use paylog_core::wxpay::{ApiKey, SignType, time};
use paylog_core::{ProductId, UserId};
use paylog_sim::SimConfig;
use paylog_sim::notify::PayNotice;
use paylog_store::{EventStore, RocksStore, StoreOptions};
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::fill::{Generator, Shop, append_all};
use crate::{NatsLog, Target};

/// The secret the bench's servers sign tokens with (temp data, never production).
pub const TOKEN_SECRET: &str = "paylog-bench-token-secret-not-for-production-use";

/// A running paylog server and echo server, with the shop they serve.
pub struct Servers {
    runtime: Runtime,
    pub paylog: SocketAddr,
    pub echo: SocketAddr,
    stop: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    pub shop: Shop,
    pub tokens: Vec<String>,
}

impl Servers {
    /// Creates a shop of `users` users and `products` products in a fresh log under
    /// `dir`, then starts the real server on it (durable appends, the built-in WeChat
    /// simulator) and the echo server, both on 127.0.0.1 port 0.
    pub fn start(
        dir: &Path,
        users: usize,
        products: usize,
        target: &dyn Target,
    ) -> anyhow::Result<Self> {
        Self::start_on(dir, None, users, products, target)
    }

    /// [`Servers::start`] with the log on `nats` when given (the views stay in `dir`).
    pub fn start_on(
        dir: &Path,
        nats: Option<NatsLog>,
        users: usize,
        products: usize,
        target: &dyn Target,
    ) -> anyhow::Result<Self> {
        let runtime = super::runtime()?;
        let (generator, creation) = Generator::new(users, products)?;
        let shop = generator.shop();
        let log = dir.join("log");
        runtime.block_on(async {
            let store: Arc<dyn EventStore> = match &nats {
                None => Arc::new(RocksStore::open(&log, StoreOptions::default())?),
                Some(nats) => super::nats::open(nats).await?,
            };
            append_all(&store, creation).await?;
            store.close().await;
            anyhow::Ok(())
        })?;
        let tokens = shop
            .users
            .iter()
            .map(|u| target.token(TOKEN_SECRET, *u))
            .collect::<Result<Vec<_>, _>>()?;

        let (paylog, echo, stop, tasks) = runtime.block_on(async {
            let (stop_app, stopped_app) = oneshot::channel::<()>();
            let (paylog, serving) = target
                .start(
                    dir.to_path_buf(),
                    nats,
                    TOKEN_SECRET.to_owned(),
                    stopped_app,
                )
                .await?;
            let app_task = tokio::spawn(serving);
            let echo_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let echo = echo_listener.local_addr()?;
            let (stop_echo, stopped_echo) = oneshot::channel::<()>();
            let echo_task = tokio::spawn(async move {
                let _ = axum::serve(echo_listener, echo_router())
                    .with_graceful_shutdown(async {
                        let _ = stopped_echo.await;
                    })
                    .await;
            });
            Ok::<_, anyhow::Error>((
                paylog,
                echo,
                vec![stop_app, stop_echo],
                vec![app_task, echo_task],
            ))
        })?;
        Ok(Self {
            runtime,
            paylog,
            echo,
            stop,
            tasks,
            shop,
            tokens,
        })
    }

    /// Stops both servers (draining requests, closing the log).
    pub fn stop(mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
        let tasks = std::mem::take(&mut self.tasks);
        self.runtime.block_on(async {
            for task in tasks {
                let _ = task.await;
            }
        });
    }
}

/// The bare axum JSON echo: `POST /echo` answers its JSON body, parsed and
/// re-serialised. What HTTP alone allows on this machine.
pub fn echo_router() -> Router {
    Router::new().route(
        "/echo",
        post(|Json(v): Json<serde_json::Value>| async move { Json(v) }),
    )
}

/// The PlaceOrder body: one unit of one product.
pub fn order_body(product: ProductId) -> Bytes {
    Bytes::from(format!(
        r#"{{"items":[{{"product_id":"{}","quantity":1}}]}}"#,
        product.as_uuid()
    ))
}

/// `POST /v1/orders` as client `task` sends it.
pub fn place_order(addr: SocketAddr, token: &str, body: Bytes) -> Option<Request<Full<Bytes>>> {
    Request::post("/v1/orders")
        .header(HOST, addr.to_string())
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .ok()
}

/// `POST /echo` with the same body.
pub fn echo(addr: SocketAddr, body: Bytes) -> Option<Request<Full<Bytes>>> {
    Request::post("/echo")
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .ok()
}

/// The user a client task acts as, and the product it orders: one each, so that
/// clients do not queue behind each other on one product's stream.
pub fn client_identity(shop: &Shop, task: usize) -> (UserId, ProductId) {
    (
        shop.users[task % shop.users.len()],
        shop.products[task % shop.products.len()],
    )
}

/// A `SUCCESS` payment notify for the order `out_trade_no` of `total_fen`, the `n`th
/// of its run (its transaction id), signed (MD5) with the built-in simulator's
/// merchant key as WeChat signs it.
pub fn signed_notify(out_trade_no: &str, total_fen: u64, n: u64) -> anyhow::Result<Bytes> {
    let sim = SimConfig::demo();
    let notice = PayNotice {
        appid: sim.appid.clone(),
        mch_id: sim.mch_id.clone(),
        nonce_str: format!("bench{n:016}"),
        openid: "oBenchNotifyPayer0000000000000".to_owned(),
        out_trade_no: out_trade_no.to_owned(),
        transaction_id: format!("4200{n:024}"),
        total_fee: total_fen,
        time_end: time::format_compact(Utc::now()),
        attach: String::new(),
    };
    Ok(Bytes::from(notice.signed(
        &ApiKey::new(sim.api_key.expose_secret()),
        SignType::Md5,
    )?))
}
