//! No secret in any log line, error message or `Debug` output: every failure path of
//! the WeChat client (unreachable, timeout, a wrong sign, a garbage answer, an HTTP
//! error status; the access token's fallback `GET /cgi-bin/token` and jscode2session
//! carry the app secret in their URL) is triggered with known secret values, and everything captured — all
//! tracing output at TRACE and every error's `Display`, `Debug` and source chain — is
//! searched for them.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use paylog_sim::SimConfig;
use paylog_wechat::{RefundRequest, WechatClient, WechatConfig, WechatError};
use secrecy::SecretString;

use crate::support::*;

/// Distinctive, so a hit cannot be a coincidence.
const APP_SECRET: &str = "AppSecretMustNotLeak0123456789ab";
const API_KEY: &str = "ApiKeyMustNotLeak0123456789abcde";

/// A `MakeWriter` for the tracing subscriber: every line into one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// Records an error as a person or a log would see it: `Display`, `Debug`, and
    /// every `source()` down the chain.
    fn error(&self, what: &str, e: &WechatError) {
        let mut line = format!("{what}: {e} | {e:?}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            line.push_str(&format!(" | caused by: {s} | {s:?}"));
            source = s.source();
        }
        line.push('\n');
        self.clone().write_all(line.as_bytes()).expect("write");
    }
}

fn config(base_url: &str) -> WechatConfig {
    let mut c = WechatConfig::new(
        APPID,
        MCH_ID,
        SecretString::from(API_KEY),
        SecretString::from(APP_SECRET),
        "http://127.0.0.1:9/v1/wechat/pay/notify",
    )
    .with_base_url(base_url);
    c.timeout = Duration::from_millis(300);
    c.max_retries = 1;
    c
}

/// Every call of the client, each expected to fail; the errors are recorded.
async fn every_call_fails(c: &WechatClient, out: &Captured, path: &str) {
    match c.jscode2session("alice.1").await {
        Err(e) => out.error(&format!("{path} jscode2session"), &e),
        Ok(_) => panic!("{path}: jscode2session succeeded"),
    }
    // The access token: stable_token, then (unless the credentials were refused) the
    // fallback `GET /cgi-bin/token`, whose URL carries the app secret.
    let request = paylog_core::wxa::GetOrderRequest {
        transaction_id: Some("4200000000000000000000000001".into()),
        merchant_id: None,
        merchant_trade_no: None,
    };
    match c.get_shipping_order(&request).await {
        Err(e) => out.error(&format!("{path} get_order"), &e),
        Ok(_) => panic!("{path}: get_order succeeded"),
    }
    pay_calls_fail(c, out, path).await;
}

async fn pay_calls_fail(c: &WechatClient, out: &Captured, path: &str) {
    let refund = RefundRequest {
        out_trade_no: "R1".into(),
        transaction_id: None,
        out_refund_no: "R1-1".into(),
        total_fee: 100,
        refund_fee: 100,
        refund_desc: None,
    };
    let errors = [
        c.unified_order(&order("R1", 100)).await.err(),
        c.order_query("R1").await.err(),
        c.close_order("R1").await.err(),
        c.refund(&refund).await.err(),
        c.refund_query("R1-1").await.err(),
    ];
    for (i, e) in errors.into_iter().enumerate() {
        let e = e.unwrap_or_else(|| panic!("{path}: pay call {i} succeeded"));
        out.error(&format!("{path} pay call {i}"), &e);
    }
}

/// A server that accepts connections and never answers.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

/// A server answering every request with `status` and a body that is neither XML nor
/// JSON.
async fn garbage_server(status: StatusCode) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().fallback(move || async move { (status, "<<not xml {not json") });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn no_failure_path_of_the_wechat_client_shows_a_secret() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Unreachable: nothing listens on the port once the listener is dropped.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    every_call_fails(
        &WechatClient::new(config(&closed)).expect("client"),
        &out,
        "unreachable",
    )
    .await;

    // Timeout: connections accepted, never answered.
    let silent = silent_server().await;
    every_call_fails(
        &WechatClient::new(config(&silent)).expect("client"),
        &out,
        "timeout",
    )
    .await;

    // Garbage answers, with a 200 and with an error status.
    for status in [StatusCode::OK, StatusCode::BAD_GATEWAY] {
        let garbage = garbage_server(status).await;
        every_call_fails(
            &WechatClient::new(config(&garbage)).expect("client"),
            &out,
            "garbage",
        )
        .await;
    }

    // A wrong sign: a WeChat that signs its answers with another key.
    let mut sim_config = SimConfig::new(
        APPID,
        MCH_ID,
        SecretString::from(API_KEY),
        SecretString::from(APP_SECRET),
    );
    sim_config.response_key = Some(SecretString::from("another-key-0123456789abcdefghij"));
    let sim = spawn_sim(sim_config).await;
    pay_calls_fail(
        &WechatClient::new(config(sim.base_url())).expect("client"),
        &out,
        "bad sign",
    )
    .await;
    // And a client with the wrong app secret and key, which WeChat refuses.
    let mut wrong = config(sim.base_url());
    wrong.app_secret = SecretString::from("WrongAppSecretMustNotLeak0123456");
    wrong.api_key = SecretString::from("WrongApiKeyMustNotLeak0123456789");
    every_call_fails(&WechatClient::new(wrong).expect("client"), &out, "refused").await;
    sim.shutdown().await;

    let text = out.text();
    // Not vacuous: the failures were logged and recorded.
    assert!(text.contains("retrying"), "{text}");
    assert!(text.contains("unreachable jscode2session"), "{text}");
    assert!(text.contains("unreachable get_order"), "{text}");
    assert!(
        text.contains("falling back to GET /cgi-bin/token"),
        "{text}"
    );
    assert!(text.contains("timeout pay call 4"), "{text}");
    for secret in [
        APP_SECRET,
        API_KEY,
        "WrongAppSecretMustNotLeak0123456",
        "WrongApiKeyMustNotLeak0123456789",
    ] {
        assert!(
            !text.contains(secret),
            "a secret leaked into the output:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
