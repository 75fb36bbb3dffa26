//! The simulated message push (消息推送): WeChat's server pushing
//! `trade_manage_order_settlement` to the mini-program's server, signed (plain
//! mode) or sealed with the EncodingAESKey (safe mode), JSON or XML, delivered
//! like notifies (retried on WeChat's schedule, scaled, until `success`).
//!
//! Control:
//! - `POST /sim/push/config` `{"url", "token", "encoding_aes_key"?, "format"?}`: what
//!   the mini-program console holds (the server's URL, token, key, data format);
//! - `POST /sim/push/settlement` `{"transaction_id", "mode"?, "forge"?,
//!   "estimated_only"?}`: the shopper confirmed receipt and WeChat settled: a
//!   shipped payment moves to `order_state` 4 (交易完成) and the event is pushed.
//!   `estimated_only` pushes the announcement sent at shipment (an estimated
//!   settlement time, nothing settled). `forge` sends what an impostor would
//!   (`bad_signature`, `wrong_appid`, `tampered`, or `hint_only`: a plain-mode body
//!   claiming a settlement WeChat never made); a forged push changes nothing here.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use paylog_core::wxa::WxaOrderState;
use paylog_core::wxa::push::{
    ConfirmReceiveMethod, EncodingAesKey, OrderSettlement, PushFormat, PushMessage, render_body,
    seal, sealed_body, signature,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sim;
use super::deliver::{self, Outgoing};
use super::state::{DeliveryPlan, NotifyKind};
use super::wire::nonce;

/// WeChat settles this long after shipment when nobody confirms (the estimate of
/// the announcement).
const AUTO_SETTLEMENT_DAYS: i64 = 10;
/// The mini-program's original id, as `ToUserName` carries it.
const ORIGINAL_ID: &str = "gh_000000000sim";

/// The console's message push settings.
#[derive(Clone, Serialize)]
pub struct PushConfig {
    pub url: String,
    #[serde(skip)]
    pub token: String,
    #[serde(skip)]
    pub key: Option<EncodingAesKey>,
    pub format: PushFormat,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field("url", &self.url)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The push side of the simulator.
#[derive(Debug, Default, Serialize)]
pub struct PushState {
    pub config: Option<PushConfig>,
    /// Pushes made, forged ones included.
    pub pushed: u32,
}

#[derive(Deserialize)]
pub(crate) struct ConfigAsk {
    url: String,
    token: String,
    #[serde(default)]
    encoding_aes_key: Option<String>,
    #[serde(default)]
    format: Option<PushFormat>,
}

fn refused(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

pub(crate) async fn configure(State(sim): State<Arc<Sim>>, Json(a): Json<ConfigAsk>) -> Response {
    let key = match a.encoding_aes_key.as_deref().map(EncodingAesKey::parse) {
        Some(Ok(k)) => Some(k),
        Some(Err(_)) => return refused(StatusCode::BAD_REQUEST, "bad encoding_aes_key"),
        None => None,
    };
    sim.push().config = Some(PushConfig {
        url: a.url,
        token: a.token,
        key,
        format: a.format.unwrap_or(PushFormat::Json),
    });
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    Plain,
    Safe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Forge {
    BadSignature,
    WrongAppid,
    Tampered,
    HintOnly,
}

#[derive(Deserialize)]
pub(crate) struct SettlementAsk {
    transaction_id: String,
    #[serde(default = "safe")]
    mode: Mode,
    #[serde(default)]
    forge: Option<Forge>,
    #[serde(default)]
    estimated_only: bool,
    #[serde(default)]
    format: Option<PushFormat>,
}

fn safe() -> Mode {
    Mode::Safe
}

pub(crate) async fn settlement(
    State(sim): State<Arc<Sim>>,
    Json(a): Json<SettlementAsk>,
) -> Response {
    let Some(config) = sim.push().config.clone() else {
        return refused(
            StatusCode::CONFLICT,
            "no push configured (POST /sim/push/config)",
        );
    };
    let order = sim
        .state()
        .orders
        .values()
        .find(|o| o.transaction_id.as_deref() == Some(a.transaction_id.as_str()))
        .cloned();
    let Some(order) = order else {
        return refused(StatusCode::NOT_FOUND, "no such payment");
    };
    let now = sim.now();
    let genuine = a.forge.is_none();
    {
        let mut st = sim.shipping();
        let Some(shipment) = st.shipments.get_mut(&a.transaction_id) else {
            return refused(StatusCode::CONFLICT, "not shipped");
        };
        // WeChat settles a shipped payment once its receipt is confirmed; an
        // impostor's push moves nothing.
        if genuine && !a.estimated_only {
            shipment.order_state = WxaOrderState::Completed.code();
        }
    }
    let settlement = if a.estimated_only {
        OrderSettlement {
            estimated_settlement_time: Some(now + Duration::days(AUTO_SETTLEMENT_DAYS)),
            ..base(&sim, &order, now)
        }
    } else {
        OrderSettlement {
            confirm_receive_method: Some(ConfirmReceiveMethod::Manual),
            confirm_receive_time: Some(now),
            settlement_time: Some(now),
            ..base(&sim, &order, now)
        }
    };
    let format = a.format.unwrap_or(config.format);
    let message = render_body(
        &PushMessage::settlement_fields(ORIGINAL_ID, now, &settlement),
        format,
    );
    let timestamp = now.timestamp().to_string();
    let nonce = nonce();
    let token = match a.forge {
        Some(Forge::BadSignature) => "not-the-token".to_owned(),
        _ => config.token.clone(),
    };
    let mut query = vec![
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("signature", signature(&[&token, &timestamp, &nonce])),
    ];
    let body = match a.mode {
        Mode::Plain => message,
        Mode::Safe => {
            let Some(key) = &config.key else {
                return refused(StatusCode::CONFLICT, "safe mode needs an encoding_aes_key");
            };
            let appid = match a.forge {
                Some(Forge::WrongAppid) => "wx_another_mini_program".to_owned(),
                _ => sim.config.appid.clone(),
            };
            let mut random = [0u8; 16];
            random.copy_from_slice(&uuid::Uuid::new_v4().into_bytes());
            let mut encrypt = seal(key, random, &message, &appid);
            if a.forge == Some(Forge::Tampered) {
                encrypt = tamper(&encrypt);
            }
            query.push(("encrypt_type", "aes".to_owned()));
            // Signed after tampering: only the envelope can catch it.
            query.push((
                "msg_signature",
                signature(&[&token, &timestamp, &nonce, &encrypt]),
            ));
            sealed_body(ORIGINAL_ID, &encrypt, format)
        }
    };
    let url = match reqwest::Url::parse_with_params(&config.url, &query) {
        Ok(url) => url.to_string(),
        Err(_) => return refused(StatusCode::BAD_REQUEST, "bad push url"),
    };
    let plan = DeliveryPlan::default();
    let id = {
        let mut st = sim.state();
        deliver::register(&mut st, NotifyKind::Push, &order.out_trade_no, &url, &plan)
    };
    sim.push().pushed += 1;
    let content_type = match format {
        PushFormat::Json => "application/json",
        PushFormat::Xml => "text/xml",
    };
    deliver::spawn_outgoing(
        sim.clone(),
        id,
        url,
        Outgoing::Push { body, content_type },
        plan,
    );
    (StatusCode::ACCEPTED, Json(json!({ "delivery": id }))).into_response()
}

fn base(sim: &Sim, order: &crate::SimOrder, now: chrono::DateTime<chrono::Utc>) -> OrderSettlement {
    OrderSettlement {
        transaction_id: order.transaction_id.clone().unwrap_or_default(),
        merchant_id: sim.config.mch_id.clone(),
        merchant_trade_no: order.out_trade_no.clone(),
        pay_time: order.time_end,
        shipped_time: Some(now),
        ..OrderSettlement::default()
    }
}

/// One bit of the ciphertext's second-to-last block flipped: the last block's
/// plaintext changes (its padding), the envelope stays valid base64.
fn tamper(encrypt: &str) -> String {
    let Ok(mut bytes) = STANDARD.decode(encrypt) else {
        return encrypt.to_owned();
    };
    if let Some(i) = bytes.len().checked_sub(17) {
        bytes[i] ^= 1;
    }
    STANDARD.encode(bytes)
}
