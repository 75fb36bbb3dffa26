//! The simulated mini-program server API: `POST /cgi-bin/stable_token`, `GET
//! /cgi-bin/token` and the order-shipping service
//! (`/wxa/sec/order/upload_shipping_info`, `get_order`), with WeChat's limits and
//! per-payment state, and its control calls.
//!
//! - stable_token hands out one token per appid until it expires or `force_refresh`
//!   replaces it; a replaced token is answered 40001, an expired one 42001.
//! - An upload is checked like WeChat does (errcodes in `paylog_core::wxa`): the
//!   payment must exist and be paid (10060001) and not refunded (10060004), 1 to 15
//!   parcels, `item_desc` 1 to 120 characters, split only for express, an express
//!   parcel needs its tracking number and company, `upload_time` RFC 3339, the payer
//!   the one who paid. After the first accepted upload, one change is allowed
//!   (10060003 after), none once receipt is confirmed (10060004).
//!
//! `GET /cgi-bin/token` (secret in the query) hands out a new token at every call,
//! replacing the current one. `is_trade_managed` answers true; `get_delivery_list`
//! lists [`DELIVERY_COMPANIES`]; subscribe messages are recorded.
//!
//! Control: `POST /sim/expire-token` (the current token answers 42001 from now on),
//! `POST /sim/stable-token-fault` `{"times"}` (the next stable_token calls fail),
//! `POST /sim/subscribe-fault` `{"errcode", "times"}` (the next messages are refused),
//! `POST /sim/shipping-fault` `{"errcode", "times"}` (the next uploads are refused
//! with it), `POST /sim/shipping-lost-answer` `{"times"}` (the next accepted uploads
//! are answered 502: recorded, the answer lost), `POST /sim/confirm-receipt` and `POST /sim/settle` `{"transaction_id"}`
//! (the shopper confirms, WeChat settles).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use paylog_core::order::{
    DeliveryMode, LogisticsType, MAX_EXPRESS_COMPANY_BYTES, MAX_ITEM_DESC_CHARS, MAX_PARCELS,
    MAX_TRACKING_NO_BYTES,
};
use paylog_core::wxa::{
    self, GetOrderRequest, IsTradeManagedRequest, OrderKey, SubscribeMessage, UploadShippingInfo,
    WxaOrder, WxaOrderState,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Sim;
use super::state::{SimOrder, TradeState};

/// Lifetime of a simulated token, as WeChat's.
const TOKEN_LIFETIME_SECS: u64 = 7200;

/// One payment at the shipping service.
#[derive(Debug, Clone, Serialize)]
pub struct SimShipment {
    /// Accepted uploads (the first, and at most one change).
    pub uploads: u32,
    /// `get_order`'s order_state code (2 shipped … 4 completed).
    pub order_state: u8,
    /// The last accepted body.
    pub last: UploadShippingInfo,
}

/// The shipping side of the simulator.
#[derive(Debug, Default, Serialize)]
pub struct ShippingState {
    /// The current token, if one was handed out (never serialised).
    #[serde(skip)]
    pub token: Option<String>,
    /// Tokens replaced by a forced refresh: answered 40001.
    #[serde(skip)]
    pub replaced: Vec<String>,
    /// Whether the current token is expired (`/sim/expire-token`): answered 42001.
    pub token_expired: bool,
    pub tokens_issued: u32,
    /// Every accepted stable_token request, new token or not.
    pub token_requests: u32,
    /// By transaction_id.
    pub shipments: BTreeMap<String, SimShipment>,
    /// The next `times` uploads are refused with `errcode`.
    pub fault: Option<(i64, u32)>,
    pub uploads_refused: u32,
    /// The next this many accepted uploads are answered 502: WeChat has them, the
    /// merchant does not know (a timeout between the two).
    pub lost_answers: u32,
    /// The next this many stable_token requests answer -1 (system error).
    pub stable_token_faults: u32,
    /// Tokens handed out by `GET /cgi-bin/token` (each one replaces the last).
    pub plain_token_requests: u32,
    /// `is_trade_managed` calls answered.
    pub trade_managed_checks: u32,
    /// `get_delivery_list` calls answered.
    pub delivery_list_requests: u32,
    /// Subscribe messages accepted, in order.
    pub messages: Vec<SubscribeMessage>,
    /// The next `times` subscribe messages are refused with `errcode`.
    pub message_fault: Option<(i64, u32)>,
    pub messages_refused: u32,
}

/// The express companies the simulated `get_delivery_list` knows (a few of WeChat's).
pub const DELIVERY_COMPANIES: &[(&str, &str)] = &[
    ("SF", "顺丰速运"),
    ("YTO", "圆通速递"),
    ("ZTO", "中通快递"),
    ("STO", "申通快递"),
    ("YD", "韵达快递"),
    ("EMS", "中国邮政速递物流"),
    ("JD", "京东物流"),
    ("JTSD", "极兔速递"),
];

fn err(errcode: i64, errmsg: &str) -> Json<Value> {
    Json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

fn ok() -> Json<Value> {
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}

#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    appid: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    force_refresh: bool,
}

pub(crate) async fn stable_token(
    State(sim): State<Arc<Sim>>,
    Json(req): Json<TokenRequest>,
) -> Json<Value> {
    if req.grant_type != "client_credential" {
        return err(40002, "invalid grant_type");
    }
    if req.appid != sim.config.appid {
        return err(40013, "invalid appid");
    }
    if req.secret != sim.config.app_secret.expose_secret() {
        return err(40125, "invalid appsecret");
    }
    let mut st = sim.shipping();
    if st.stable_token_faults > 0 {
        st.stable_token_faults -= 1;
        return err(wxa::ERR_BUSY, "system error (simulated)");
    }
    st.token_requests += 1;
    let stale = st.token.is_none() || st.token_expired || req.force_refresh;
    if stale {
        return new_token(&mut st);
    }
    Json(json!({
        "access_token": st.token.clone().unwrap_or_default(),
        "expires_in": TOKEN_LIFETIME_SECS,
    }))
}

/// Hands out a new token (the one before is invalid from now on: answered 40001).
fn new_token(st: &mut ShippingState) -> Json<Value> {
    if let Some(old) = st.token.take() {
        st.replaced.push(old);
    }
    st.tokens_issued += 1;
    st.token = Some(format!(
        "simtoken{}x{}",
        st.tokens_issued,
        uuid::Uuid::new_v4().simple()
    ));
    st.token_expired = false;
    Json(json!({
        "access_token": st.token.clone().unwrap_or_default(),
        "expires_in": TOKEN_LIFETIME_SECS,
    }))
}

/// `GET /cgi-bin/token`: the older way to a token, with the secret in the query. Each
/// call issues a new token and so invalidates the previous one, as WeChat's does.
pub(crate) async fn token(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let field = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credential" {
        return err(40002, "invalid grant_type");
    }
    if field("appid") != sim.config.appid {
        return err(40013, "invalid appid");
    }
    if field("secret") != sim.config.app_secret.expose_secret() {
        return err(40125, "invalid appsecret");
    }
    let mut st = sim.shipping();
    st.plain_token_requests += 1;
    new_token(&mut st)
}

/// 0 if the token is good, else WeChat's errcode for it.
fn token_errcode(st: &ShippingState, q: &HashMap<String, String>) -> i64 {
    let given = q
        .get("access_token")
        .map(String::as_str)
        .unwrap_or_default();
    match &st.token {
        Some(t) if t == given && st.token_expired => wxa::ERR_TOKEN_EXPIRED,
        Some(t) if t == given => 0,
        _ => wxa::ERR_INVALID_TOKEN,
    }
}

/// A mini-program server API call that carried the current access token; any
/// other is answered as WeChat does (40001 invalid, 42001 expired), so the
/// handlers take this instead of each repeating the check.
pub(crate) struct WithToken;

impl FromRequestParts<Arc<Sim>> for WithToken {
    type Rejection = Json<Value>;

    async fn from_request_parts(parts: &mut Parts, sim: &Arc<Sim>) -> Result<Self, Json<Value>> {
        // An unparsable query carries no token: the same answer as a wrong one.
        let q = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        match token_errcode(&sim.shipping(), &q) {
            0 => Ok(WithToken),
            code => Err(err(code, "access_token invalid or expired")),
        }
    }
}

fn find<'a>(
    orders: &'a BTreeMap<String, SimOrder>,
    mch_id: &str,
    key: &OrderKey,
) -> Option<&'a SimOrder> {
    match key.order_number_type {
        2 => {
            let id = key.transaction_id.as_deref()?;
            orders
                .values()
                .find(|o| o.transaction_id.as_deref() == Some(id))
        }
        1 if key.mchid.as_deref() == Some(mch_id) => orders.get(key.out_trade_no.as_deref()?),
        _ => None,
    }
}

/// WeChat's checks of the body itself: 0 when acceptable.
fn check_body(body: &UploadShippingInfo) -> (i64, &'static str) {
    let Some(logistics) = body.logistics() else {
        return (wxa::ERR_BAD_LOGISTICS_TYPE, "物流类型有误");
    };
    let Some(mode) = body.mode() else {
        return (wxa::ERR_PARAM, "参数错误: delivery_mode");
    };
    if mode == DeliveryMode::Split && logistics != LogisticsType::Express {
        return (wxa::ERR_SPLIT_NEEDS_EXPRESS, "非快递发货时不允许分拆发货");
    }
    if mode == DeliveryMode::Split && body.is_all_delivered.is_none() {
        return (
            wxa::ERR_IS_ALL_DELIVERED_MISSING,
            "分拆发货模式下必须填写 is_all_delivered",
        );
    }
    if !(1..=MAX_PARCELS).contains(&body.shipping_list.len()) {
        return (wxa::ERR_PARAM, "参数错误: shipping_list");
    }
    for item in &body.shipping_list {
        if item.item_desc.trim().is_empty() {
            return (wxa::ERR_ITEM_DESC_EMPTY, "商品描述 item_desc 字段不能为空");
        }
        if item.item_desc.chars().count() > MAX_ITEM_DESC_CHARS {
            return (wxa::ERR_ITEM_DESC_TOO_LONG, "商品描述 item_desc 字段太长");
        }
        let fits = |s: &Option<String>, max: usize| {
            s.as_ref().is_some_and(|s| !s.is_empty() && s.len() <= max)
        };
        if logistics == LogisticsType::Express
            && !(fits(&item.tracking_no, MAX_TRACKING_NO_BYTES)
                && fits(&item.express_company, MAX_EXPRESS_COMPANY_BYTES))
        {
            return (wxa::ERR_PARAM, "参数错误: tracking_no / express_company");
        }
    }
    if DateTime::parse_from_rfc3339(&body.upload_time).is_err() {
        return (wxa::ERR_PARAM, "参数错误: upload_time");
    }
    (0, "ok")
}

pub(crate) async fn upload_shipping_info(
    State(sim): State<Arc<Sim>>,
    _: WithToken,
    body: String,
) -> Response {
    let answer = upload(&sim, &body);
    let mut st = sim.shipping();
    if answer.0["errcode"] == 0 && st.lost_answers > 0 {
        st.lost_answers -= 1;
        return StatusCode::BAD_GATEWAY.into_response();
    }
    answer.into_response()
}

/// An upload checked and, if accepted, recorded as WeChat does.
fn upload(sim: &Sim, body: &str) -> Json<Value> {
    let orders = sim.state().orders.clone();
    let mut st = sim.shipping();
    let Ok(body) = serde_json::from_str::<UploadShippingInfo>(body) else {
        return err(wxa::ERR_DATA_FORMAT, "data format error");
    };
    if let Some((errcode, times)) = st.fault.take() {
        if times > 1 {
            st.fault = Some((errcode, times - 1));
        }
        st.uploads_refused += 1;
        return err(errcode, "refused (simulated)");
    }
    let Some(order) = find(&orders, &sim.config.mch_id, &body.order_key) else {
        return err(wxa::ERR_PAYMENT_NOT_FOUND, "支付单不存在");
    };
    let Some(transaction_id) = order.transaction_id.clone() else {
        return err(wxa::ERR_PAYMENT_NOT_FOUND, "支付单不存在");
    };
    if order.state == TradeState::Refund && order.refunded(None) >= order.total_fee {
        return err(wxa::ERR_NOT_SHIPPABLE, "支付单处于不可发货的状态");
    }
    if body.payer.openid != order.openid {
        return err(wxa::ERR_PARAM, "参数错误: payer");
    }
    let (code, msg) = check_body(&body);
    if code != 0 {
        return err(code, msg);
    }
    match st.shipments.get_mut(&transaction_id) {
        None => {
            st.shipments.insert(
                transaction_id,
                SimShipment {
                    uploads: 1,
                    order_state: WxaOrderState::Shipped.code(),
                    last: body,
                },
            );
        }
        Some(s) if s.order_state != WxaOrderState::Shipped.code() => {
            return err(wxa::ERR_NOT_SHIPPABLE, "支付单处于不可发货的状态");
        }
        Some(s) => {
            // A split delivery not yet complete may add parcels; anything else is
            // the payment's one change.
            let adding = s.last.delivery_mode == DeliveryMode::Split.code()
                && s.last.is_all_delivered == Some(false);
            if !adding {
                if s.uploads >= 2 {
                    return err(wxa::ERR_REUPLOAD_USED, "支付单已使用重新发货机会");
                }
                s.uploads += 1;
            }
            s.last = body;
        }
    }
    ok()
}

pub(crate) async fn get_order(
    State(sim): State<Arc<Sim>>,
    _: WithToken,
    body: String,
) -> Json<Value> {
    let orders = sim.state().orders.clone();
    let st = sim.shipping();
    let Ok(req) = serde_json::from_str::<GetOrderRequest>(&body) else {
        return err(wxa::ERR_DATA_FORMAT, "data format error");
    };
    let key = match (
        &req.transaction_id,
        &req.merchant_id,
        &req.merchant_trade_no,
    ) {
        (Some(t), _, _) => OrderKey::by_transaction(t),
        (None, Some(m), Some(n)) => OrderKey::by_out_trade_no(m, n),
        _ => return err(wxa::ERR_PARAM, "参数错误"),
    };
    let Some(order) = find(&orders, &sim.config.mch_id, &key) else {
        return err(wxa::ERR_PAYMENT_NOT_FOUND, "支付单不存在");
    };
    let Some(transaction_id) = order.transaction_id.clone() else {
        return err(wxa::ERR_PAYMENT_NOT_FOUND, "支付单不存在");
    };
    let state = if order.state == TradeState::Refund && order.refunded(None) >= order.total_fee {
        WxaOrderState::Refunded.code()
    } else {
        st.shipments
            .get(&transaction_id)
            .map_or(WxaOrderState::AwaitingShipment.code(), |s| s.order_state)
    };
    let order = WxaOrder {
        transaction_id,
        merchant_id: sim.config.mch_id.clone(),
        merchant_trade_no: order.out_trade_no.clone(),
        order_state: state,
        in_complaint: false,
    };
    Json(json!({ "errcode": 0, "errmsg": "ok", "order": order }))
}

pub(crate) async fn is_trade_managed(
    State(sim): State<Arc<Sim>>,
    _: WithToken,
    body: String,
) -> Json<Value> {
    let mut st = sim.shipping();
    let Ok(req) = serde_json::from_str::<IsTradeManagedRequest>(&body) else {
        return err(40097, "invalid args");
    };
    if req.appid != sim.config.appid {
        return err(40013, "invalid appid");
    }
    st.trade_managed_checks += 1;
    Json(json!({ "errcode": 0, "errmsg": "ok", "is_trade_managed": true }))
}

pub(crate) async fn get_delivery_list(State(sim): State<Arc<Sim>>, _: WithToken) -> Json<Value> {
    let mut st = sim.shipping();
    st.delivery_list_requests += 1;
    let list: Vec<Value> = DELIVERY_COMPANIES
        .iter()
        .map(|(id, name)| json!({ "delivery_id": id, "delivery_name": name }))
        .collect();
    Json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "count": list.len(),
        "delivery_list": list,
    }))
}

/// `POST /cgi-bin/message/subscribe/send`: recorded when accepted.
pub(crate) async fn send_subscribe_message(
    State(sim): State<Arc<Sim>>,
    _: WithToken,
    body: String,
) -> Json<Value> {
    let mut st = sim.shipping();
    let Ok(message) = serde_json::from_str::<SubscribeMessage>(&body) else {
        return err(wxa::ERR_DATA_FORMAT, "data format error");
    };
    if message.touser.is_empty() || message.template_id.is_empty() {
        return err(40003, "invalid openid or template id");
    }
    if let Some((errcode, times)) = st.message_fault.take() {
        if times > 1 {
            st.message_fault = Some((errcode, times - 1));
        }
        st.messages_refused += 1;
        return err(errcode, "user refuse to accept the msg (simulated)");
    }
    st.messages.push(message);
    ok()
}

// --- control -------------------------------------------------------------------

pub(crate) async fn expire_token(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.shipping().token_expired = true;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub(crate) struct Times {
    times: u32,
}

/// The next `times` stable_token requests fail (the client falls back to
/// `GET /cgi-bin/token`).
pub(crate) async fn stable_token_fault(
    State(sim): State<Arc<Sim>>,
    Json(t): Json<Times>,
) -> StatusCode {
    sim.shipping().stable_token_faults = t.times;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub(crate) struct Fault {
    errcode: i64,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

pub(crate) async fn shipping_fault(
    State(sim): State<Arc<Sim>>,
    Json(f): Json<Fault>,
) -> StatusCode {
    sim.shipping().fault = (f.times > 0).then_some((f.errcode, f.times));
    StatusCode::NO_CONTENT
}

/// `POST /sim/shipping-lost-answer` `{"times"}`: the next `times` accepted uploads
/// are answered 502 after WeChat recorded them.
pub(crate) async fn shipping_lost_answer(
    State(sim): State<Arc<Sim>>,
    Json(f): Json<Times>,
) -> StatusCode {
    sim.shipping().lost_answers = f.times;
    StatusCode::NO_CONTENT
}

/// The next `times` subscribe messages are refused with `errcode` (43101: the user
/// did not subscribe).
pub(crate) async fn subscribe_fault(
    State(sim): State<Arc<Sim>>,
    Json(f): Json<Fault>,
) -> StatusCode {
    sim.shipping().message_fault = (f.times > 0).then_some((f.errcode, f.times));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub(crate) struct Transaction {
    transaction_id: String,
}

fn advance(sim: &Sim, transaction_id: &str, from: WxaOrderState, to: WxaOrderState) -> Response {
    let mut st = sim.shipping();
    match st.shipments.get_mut(transaction_id) {
        Some(s) if s.order_state == from.code() => {
            s.order_state = to.code();
            StatusCode::NO_CONTENT.into_response()
        }
        Some(_) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "not in that state"})),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "not shipped"}))).into_response(),
    }
}

pub(crate) async fn confirm_receipt(
    State(sim): State<Arc<Sim>>,
    Json(t): Json<Transaction>,
) -> Response {
    advance(
        &sim,
        &t.transaction_id,
        WxaOrderState::Shipped,
        WxaOrderState::ReceiptConfirmed,
    )
}

pub(crate) async fn settle(State(sim): State<Arc<Sim>>, Json(t): Json<Transaction>) -> Response {
    advance(
        &sim,
        &t.transaction_id,
        WxaOrderState::ReceiptConfirmed,
        WxaOrderState::Completed,
    )
}
