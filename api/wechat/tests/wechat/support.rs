//! Helpers of the WeChat tests: a simulator and a notify receiver on port 0.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use chrono::Utc;
use paylog_sim::{SimConfig, SimHandle};
use paylog_wechat::{UnifiedOrderRequest, WechatClient, WechatConfig};
use secrecy::SecretString;
use serde_json::Value;

pub const APPID: &str = "wx1234567890abcdef";
pub const MCH_ID: &str = "1900000109";
pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const SECRET: &str = "app-secret-for-tests";

pub fn sim_config() -> SimConfig {
    let mut c = SimConfig::new(
        APPID,
        MCH_ID,
        SecretString::from(KEY),
        SecretString::from(SECRET),
    );
    c.time_scale = 0.0005;
    c
}

pub async fn spawn_sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    paylog_sim::start(listener, config)
        .await
        .expect("start simulator")
}

/// A client configuration that talks to `sim` as a merchant talks to WeChat.
pub fn client_config(sim: &SimHandle, notify_url: &str) -> WechatConfig {
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

pub fn client(config: WechatConfig) -> WechatClient {
    WechatClient::new(config).expect("client")
}

pub fn order(no: &str, fee: u64) -> UnifiedOrderRequest {
    UnifiedOrderRequest {
        body: "小店-测试商品".into(),
        out_trade_no: no.into(),
        total_fee: fee,
        spbill_create_ip: "127.0.0.1".into(),
        openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
        time_expire: Utc::now() + chrono::Duration::minutes(30),
        attach: None,
    }
}

/// A merchant notify endpoint that records every body and answers FAIL to the
/// first `fail_first` deliveries, SUCCESS after.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }
}

pub async fn spawn_receiver(fail_first: usize) -> Receiver {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/notify",
            post(|State((bodies, fail_first)): State<(Arc<Mutex<Vec<String>>>, usize)>, body: String| async move {
                let n = {
                    let mut b = bodies.lock().expect("lock");
                    b.push(body);
                    b.len()
                };
                let code = if n <= fail_first { "FAIL" } else { "SUCCESS" };
                format!("<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
            }),
        )
        .with_state((bodies.clone(), fail_first));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/notify"),
        bodies,
    }
}

/// POSTs JSON to the simulator's control API.
pub async fn control(sim: &SimHandle, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("control call");
    let status = resp.status().as_u16();
    let value = resp.json().await.unwrap_or(Value::Null);
    (status, value)
}

/// Waits (bounded) until delivery `id` has finished, and returns it.
pub async fn finished_delivery(sim: &SimHandle, id: u64) -> Value {
    for _ in 0..1000 {
        let st = sim.state_json();
        let d = &st["deliveries"][id as usize];
        if d["finished"] == Value::Bool(true) {
            return d.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("delivery {id} did not finish: {}", sim.state_json());
}
